"""Role-based access control: roles of seed 001 §3.2 plus ``driver``; deny by default.

A permission is ``"<resource>:<action>"`` (``location:read``, ``chargepoint:write``,
``command:send``). A grant gives it to a role with a scope: ``all`` rows, or only the rows the
user ``own``s (drivers see their own account, id tags and sessions and nothing else).
``platform_manager`` holds every permission. Plugins grant their own permissions through the
``openv2x_permissions`` hook.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Scope = Literal["all", "own"]

ROLES: tuple[str, ...] = (
    "platform_manager",
    "cpo_manager",
    "billing_manager",
    "emsp_manager",
    "support_l1",
    "support_l2",
    "vendor",
    "cdr_manager",
    "cms_manager",
    "driver",
)
ADMIN_ROLE = "platform_manager"
PUBLIC = "public"
AUTHENTICATED = "authenticated"


@dataclass(frozen=True)
class Grant:
    role: str
    permission: str
    scope: Scope = "all"


def _grants(role: str, *perms: str, scope: Scope = "all") -> list[Grant]:
    return [Grant(role, perm, scope) for perm in perms]


READ_SITES = ("location:read", "chargepoint:read", "connector:read", "evse:read")

CORE_GRANTS: list[Grant] = [
    *_grants("cpo_manager", *READ_SITES, "location:write", "location:delete"),
    *_grants("cpo_manager", "chargepoint:write", "chargepoint:delete", "connector:write",
             "evse:write"),
    *_grants("cpo_manager", "idtag:read", "task:read", "task:delete", "command:send"),
    *_grants("cpo_manager", "transaction:read", "transaction:delete", "transaction:stop",
             "reservation:read"),
    *_grants("cpo_manager", "chargingprofile:read", "chargingprofile:write",
             "chargingprofile:delete"),
    *_grants("cpo_manager", "protocoldeviation:read", "vehicle:read", "vehicle:write",
             "vehicle:delete"),
    *_grants("emsp_manager", "vehicle:read", "vehicle:write", "vehicle:delete"),
    *_grants("emsp_manager", "ocpipartner:read", "ocpipartner:write"),
    *_grants("cpo_manager", "ocpipartner:read"),
    *_grants("support_l2", "ocpipartner:read"),
    *_grants("support_l2", "vehicle:read", "vehicle:write"),
    *_grants("support_l1", "vehicle:read"),
    *_grants("driver", "vehicle:read", "vehicle:write", "vehicle:delete", scope="own"),
    *_grants("support_l1", "reservation:read", "chargingprofile:read", "protocoldeviation:read"),
    *_grants("support_l2", "reservation:read", "chargingprofile:read", "protocoldeviation:read"),
    *_grants("billing_manager", "transaction:read"),
    *_grants("emsp_manager", "transaction:read"),
    *_grants("support_l1", "transaction:read"),
    *_grants("support_l2", "transaction:read"),
    *_grants("cdr_manager", "transaction:read"),
    *_grants("billing_manager", *READ_SITES, "connector:write"),
    *_grants("emsp_manager", *READ_SITES, "idtag:read", "idtag:write", "idtag:delete"),
    *_grants("emsp_manager", "user:read"),
    *_grants("support_l1", *READ_SITES, "idtag:read", "task:read", "user:read"),
    *_grants("support_l2", *READ_SITES, "idtag:read", "idtag:write", "task:read"),
    *_grants("support_l2", "task:delete", "user:read", "command:send", "transaction:stop"),
    *_grants("vendor", "chargepoint:read", "connector:read", "task:read"),
    *_grants("cdr_manager", *READ_SITES, "user:read"),
    *_grants("cms_manager", "location:read", "user:read", "user:write"),
    *_grants("driver", *READ_SITES),
    *_grants("driver", "idtag:read", "user:read", "user:write", "transaction:read",
             "reservation:read", scope="own"),
]


class Policy:
    """Answers "may this role do that, and on which rows?"."""

    def __init__(self, grants: Iterable[Grant]) -> None:
        self._table: dict[tuple[str, str], Scope] = {}
        self._known: set[str] = set()
        for grant in grants:
            if grant.role not in ROLES:
                raise ValueError(f"grant names unknown role {grant.role!r}")
            self._known.add(grant.permission)
            current = self._table.get((grant.role, grant.permission))
            if current != "all":
                self._table[(grant.role, grant.permission)] = grant.scope

    def scope(self, role: str, permission: str) -> Scope | None:
        """The scope the role holds the permission with, or ``None`` when denied."""
        if role == ADMIN_ROLE and role in ROLES:
            return "all"
        return self._table.get((role, permission))

    def allows(self, role: str, permission: str) -> bool:
        return self.scope(role, permission) is not None

    def permissions(self) -> set[str]:
        return set(self._known)
