"""Portal navigation entries contributed by the core and by plugins."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NavItem:
    """One link in the portal's navigation.

    ``permission`` hides the entry from users who lack it (``None``: any signed-in user).
    ``order`` sorts entries (lower first).
    """

    label: str
    href: str
    permission: str | None = None
    order: int = 100
