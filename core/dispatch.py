"""Command dispatch: reach a station wherever its connection is held.

Protocol plugins attach a :class:`StationLink` for every connected station. Callers use
``await dispatcher.call(station_id, action, payload)`` and never hold a socket. On a single node
the link is in this process; with a message broker, a remote dispatcher forwards to the node that
holds the station and this interface does not change.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger(__name__)


class CommandError(Exception):
    """A command did not produce the station's answer; ``code`` is stable for API clients."""

    code = "command_failed"


class InvalidCommand(CommandError):
    """The command's own fields are wrong; nothing was sent to the station."""

    code = "invalid_command"


class StationNotConnected(CommandError):
    code = "station_not_connected"


class CommandTimeout(CommandError):
    code = "station_timeout"


class CommandRejected(CommandError):
    """The station answered with a CALLERROR (``error_code`` is the protocol's code)."""

    code = "station_error"

    def __init__(self, error_code: str, description: str, details: Any = None) -> None:
        super().__init__(f"{error_code}: {description}")
        self.error_code = error_code
        self.description = description
        self.details = details


class StationLink(Protocol):
    """What a protocol plugin provides for one live connection."""

    protocol: str

    async def call(self, action: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send ``action`` with ``payload`` and return the station's response payload.

        Raises :class:`CommandTimeout` or :class:`CommandRejected`.
        """


class Dispatcher:
    def __init__(self, default_timeout: float = 30.0) -> None:
        self.default_timeout = default_timeout
        self._links: dict[str, StationLink] = {}

    def attach(self, station_id: str, link: StationLink) -> StationLink | None:
        """Make ``link`` the route to ``station_id``; returns the link it replaced, if any."""
        previous = self._links.get(station_id)
        self._links[station_id] = link
        return previous

    def detach(self, station_id: str, link: StationLink) -> bool:
        """Forget ``link`` unless a newer connection has already replaced it."""
        if self._links.get(station_id) is link:
            del self._links[station_id]
            return True
        return False

    def link(self, station_id: str) -> StationLink | None:
        return self._links.get(station_id)

    def connected(self) -> list[str]:
        return sorted(self._links)

    async def call(
        self,
        station_id: str,
        action: str,
        payload: dict[str, Any],
        timeout: float | None = None,
    ) -> dict[str, Any]:
        link = self._links.get(station_id)
        if link is None:
            raise StationNotConnected(f"station {station_id!r} is not connected")
        wait = self.default_timeout if timeout is None else timeout
        log.info("-> %s %s", station_id, action)
        return await link.call(action, payload, wait)
