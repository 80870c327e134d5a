"""Database access: one async engine per app, SQLite (default) or PostgreSQL.

Writes go through :meth:`Database.transaction`, which commits and only then hands the events the
work produced to the event bus, so no subscriber ever sees data that could still roll back; the
events durable subscribers want are journaled inside that same commit (:mod:`core.journal`).
High-rate writers (station messages) use :meth:`Database.write`, which shares one commit among
every job queued meanwhile (:mod:`core.db.group_commit`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Table, event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core.db.group_commit import GroupCommit

if TYPE_CHECKING:
    from core.events import Event

T = TypeVar("T")


class DatabaseError(Exception):
    """The database URL is unusable or the database cannot be reached."""


@dataclass
class Work:
    """One unit of work: a session inside a transaction plus the events to publish on commit."""

    session: AsyncSession
    events: list[Event] = field(default_factory=list)
    rows: dict[Table, list[dict[str, Any]]] = field(default_factory=dict)

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def append_rows(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows`` at commit, in one statement per table for the whole unit of work.

        For append-only rows nothing reads back before the commit (meter samples): a batch of
        hundreds of messages then costs one INSERT instead of one per message.
        """
        if rows:
            self.rows.setdefault(table, []).extend(rows)

    async def flush_rows(self) -> None:
        for table, rows in self.rows.items():
            await self.session.execute(insert(table), rows)
        self.rows.clear()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_writer(dbapi_connection: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_connection, record)
    # We issue BEGIN ourselves (below) instead of the driver's deferred implicit BEGIN.
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: Any) -> None:
    # A deferred transaction that reads first and writes later cannot wait for the write lock
    # (SQLite answers "database is locked" at once); taking it at BEGIN lets busy_timeout queue
    # concurrent writers instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def validate_url(url: str) -> str:
    """Return the driver-qualified URL or raise :class:`DatabaseError` with one clear line."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"[database] url: {url!r} is not a database URL") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise DatabaseError(
        f"[database] url: backend {backend!r} is not supported (sqlite, postgresql)"
    )


class Database:
    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = validate_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        # Reads go through their own engine: on SQLite they must not take the write lock.
        self.read_engine: AsyncEngine = self.engine
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_writer)
            event.listen(self.engine.sync_engine, "begin", _begin_immediate)
            self.read_engine = create_async_engine(self.url, **kwargs)
            event.listen(self.read_engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessionmaker = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self.on_commit: Callable[[Sequence[Event]], Awaitable[None]] | None = None
        # Called inside every unit of work that emitted events, just before its commit
        # (the event journal writes there, see core.journal).
        self.before_commit: Callable[[Work], None] | None = None
        self.group_commit = GroupCommit(self)

    def session(self) -> AsyncSession:
        """A plain session for reads (no events); writes belong in :meth:`transaction`."""
        return self.read_sessionmaker()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Work]:
        """Run a unit of work; commit, then publish its events. Rolls back on any exception."""
        async with self.sessionmaker() as session:
            work = Work(session)
            async with session.begin():
                yield work
                if work.events and self.before_commit is not None:
                    self.before_commit(work)
                await work.flush_rows()
        if work.events and self.on_commit is not None:
            await self.on_commit(work.events)

    async def write(self, job: Callable[[Work], Awaitable[T]],
                    preload: Iterable[tuple[type, Any]] = ()) -> T:
        """Run ``job`` in a transaction shared with concurrent jobs; returns after the commit.

        ``job`` may run twice (see :mod:`core.db.group_commit`): keep it to database work.
        ``preload`` names the ``(Model, primary key)`` rows it will ``session.get``.
        """
        return await self.group_commit.run(job, preload)

    async def ping(self) -> None:
        async with self.read_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.group_commit.close()
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
