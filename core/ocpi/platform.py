"""What a plugin declares to serve an OCPI platform: our parties and the modules we implement.

A platform (``cpo``, ``scsp``) is one OCPI endpoint set under ``/ocpi/{platform}/``: its own
versions list, version details, credentials and partners. Plugins return
:class:`OcpiPlatform` objects from the ``openv2x_ocpi_platforms`` hook; the core serves the
transport (authentication, envelope, headers, credentials) and hands each module request to
the declared handler.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.ocpi.wire import Party

if TYPE_CHECKING:
    from core.ocpi.server import OcpiReply, OcpiRequest

VERSION = "2.2.1"
SENDER, RECEIVER = "SENDER", "RECEIVER"
OcpiHandler = Callable[["OcpiRequest"], Awaitable["OcpiReply"]]
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class OcpiRoute:
    """``pattern`` is relative to the module's URL, e.g. ``/{country_code}/{party_id}/{id}``;
    each ``{name}`` matches one path segment."""

    method: str
    pattern: str
    handler: OcpiHandler

    def regex(self) -> re.Pattern[str]:
        body = _PARAM.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(self.pattern)
                          .replace(r"\{", "{").replace(r"\}", "}"))
        return re.compile(f"^{body}/?$")


@dataclass(frozen=True, slots=True)
class OcpiModule:
    """One module interface. ``path`` is where it is mounted under the version URL (defaults
    to the identifier); two interfaces of one module in one platform need distinct paths."""

    identifier: str
    role: str
    routes: tuple[OcpiRoute, ...]
    path: str = ""
    # Configuration modules (hubclientinfo) take no routing headers; functional ones do.
    routed: bool = True

    @property
    def mount(self) -> str:
        return self.path or self.identifier


@dataclass(frozen=True, slots=True)
class BusinessDetails:
    name: str
    website: str = ""

    def to_ocpi(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.website:
            out["website"] = self.website
        return out


@dataclass(frozen=True, slots=True)
class OwnRole:
    """A CredentialsRole of ours: the OCPI role (``CPO``, ``OTHER`` …) of one of our parties."""

    role: str
    party: Party
    business: BusinessDetails

    def to_ocpi(self) -> dict[str, Any]:
        return {"role": self.role, "business_details": self.business.to_ocpi(),
                "party_id": self.party.party_id, "country_code": self.party.country_code}


@dataclass(frozen=True)
class OcpiPlatform:
    """``name`` is the URL segment; ``roles`` our parties on it (first is the default sender)."""

    name: str
    roles: tuple[OwnRole, ...]
    modules: tuple[OcpiModule, ...] = ()
    # Called when a partner registered, updated its credentials or unregistered
    # (``event`` is ``registered``, ``updated`` or ``unregistered``).
    on_partner: Callable[[str, int], Awaitable[None]] | None = field(default=None)

    @property
    def parties(self) -> tuple[Party, ...]:
        return tuple(role.party for role in self.roles)
