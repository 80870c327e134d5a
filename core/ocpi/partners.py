"""Partners as the transport sees them: an immutable snapshot of an ``ocpi_partner`` row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.db.models import OcpiPartner
from core.fieldcrypt import FieldCipher
from core.ocpi.wire import Party

HUB = "HUB"


@dataclass(frozen=True, slots=True)
class Endpoint:
    identifier: str
    role: str
    url: str


@dataclass(frozen=True)
class Partner:
    id: int
    platform: str
    name: str
    status: str
    versions_url: str
    version_url: str | None
    endpoints: tuple[Endpoint, ...]
    roles: tuple[dict[str, Any], ...]
    raw_tokens: bool
    token: str | None  # what we call it with

    @classmethod
    def from_row(cls, row: OcpiPartner, cipher: FieldCipher) -> Partner:
        endpoints = tuple(Endpoint(str(e.get("identifier", "")), str(e.get("role", "")),
                                   str(e.get("url", "")))
                          for e in row.endpoints or () if isinstance(e, dict))
        token = cipher.decrypt(row.token_out) if row.token_out else None
        return cls(row.id, row.platform, row.name, row.status, row.versions_url,
                   row.version_url, endpoints, tuple(r for r in row.roles or ()
                                                     if isinstance(r, dict)),
                   row.raw_tokens, token)

    @property
    def parties(self) -> frozenset[Party]:
        """Every party the partner registered (upper case, as compared)."""
        found = set()
        for role in self.roles:
            cc, pid = role.get("country_code"), role.get("party_id")
            if isinstance(cc, str) and isinstance(pid, str):
                found.add(Party(cc.upper(), pid.upper()))
        return frozenset(found)

    def parties_in_role(self, role: str) -> frozenset[Party]:
        return frozenset(Party(str(r["country_code"]).upper(), str(r["party_id"]).upper())
                         for r in self.roles if r.get("role") == role
                         and isinstance(r.get("country_code"), str)
                         and isinstance(r.get("party_id"), str))

    @property
    def is_hub(self) -> bool:
        return any(role.get("role") == HUB for role in self.roles)

    def endpoint(self, identifier: str, role: str) -> str | None:
        """The partner's URL for a module interface; a partner listing an identifier without
        role information (older details) is taken at its word for either role."""
        for endpoint in self.endpoints:
            if endpoint.identifier == identifier and endpoint.role == role:
                return endpoint.url
        for endpoint in self.endpoints:
            if endpoint.identifier == identifier and not endpoint.role:
                return endpoint.url
        return None
