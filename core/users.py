"""User accounts: creation, lookup by email or username, and their public representation.

All reading and writing of personal fields goes through here so the encryption at rest cannot be
bypassed by accident.
"""

from __future__ import annotations

import functools
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import User
from core.db.types import utcnow
from core.fieldcrypt import FieldCipher, normalise_email
from core.passwords import hash_password, needs_rehash, password_problem, verify_password
from core.rbac import ROLES

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")


@functools.cache
def _dummy_hash() -> str:
    """A real hash to verify against when the user does not exist, so both take as long."""
    return hash_password(secrets.token_urlsafe(16))


class UserError(ValueError):
    """Invalid account data; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class NewUser:
    email: str
    password: str
    role: str = "driver"
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    tariff_preference: Decimal | None = None
    socket_type: str | None = None
    battery_capacity_wh: int | None = None


def check_email(email: str) -> str:
    email = normalise_email(email)
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise UserError("email", "is not a valid email address")
    return email


async def find_by_login(session: AsyncSession, cipher: FieldCipher, login: str) -> User | None:
    """A user by email (through its digest) or by username."""
    stmt = select(User).where(
        or_(User.email_digest == cipher.email_digest(login), User.username == login.strip())
    )
    return (await session.execute(stmt)).scalars().first()


async def create_user(session: AsyncSession, cipher: FieldCipher, new: NewUser) -> User:
    """Validate and add a user (flushed, not committed)."""
    email = check_email(new.email)
    if (problem := password_problem(new.password)) is not None:
        raise UserError("password", problem)
    if new.role not in ROLES:
        raise UserError("role", f"must be one of {', '.join(ROLES)}")
    username = new.username or f"u-{secrets.token_hex(4)}"
    if not USERNAME_RE.match(username):
        raise UserError("username", "must be 3-64 letters, digits, '_', '.' or '-'")
    digest = cipher.email_digest(email)
    clash = await session.execute(
        select(User.username, User.email_digest).where(
            or_(User.email_digest == digest, User.username == username)
        )
    )
    for row in clash:
        if row.email_digest == digest:
            raise UserError("email", "is already registered")
        raise UserError("username", "is already taken")
    user = User(
        username=username,
        email_digest=digest,
        email_enc=cipher.encrypt(email),
        first_name_enc=cipher.encrypt(new.first_name),
        last_name_enc=cipher.encrypt(new.last_name),
        password_hash=hash_password(new.password),
        role=new.role,
        tariff_preference=new.tariff_preference,
        socket_type=new.socket_type,
        battery_capacity_wh=new.battery_capacity_wh,
    )
    session.add(user)
    await session.flush()
    return user


async def authenticate(
    session: AsyncSession, cipher: FieldCipher, login: str, password: str
) -> User | None:
    """The active user these credentials belong to, or ``None``; upgrades old hashes."""
    user = await find_by_login(session, cipher, login)
    if user is None:
        verify_password(_dummy_hash(), password)
        return None
    if not user.is_active or not verify_password(user.password_hash, password):
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login = utcnow()
    return user


def set_password(user: User, password: str) -> None:
    """Replace the password and revoke every token issued before."""
    if (problem := password_problem(password)) is not None:
        raise UserError("password", problem)
    user.password_hash = hash_password(password)
    user.token_epoch += 1


def public_view(user: User, cipher: FieldCipher) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "email": cipher.decrypt(user.email_enc),
        "first_name": cipher.decrypt(user.first_name_enc),
        "last_name": cipher.decrypt(user.last_name_enc),
        "role": user.role,
        "is_active": user.is_active,
        "tariff_preference": user.tariff_preference,
        "socket_type": user.socket_type,
        "battery_capacity_wh": user.battery_capacity_wh,
        "created_at": user.created_at,
        "last_login": user.last_login,
        "last_updated": user.last_updated,
    }
