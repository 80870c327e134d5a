"""ISO 15118 / Plug & Charge certificate management (block M, A): station certificates signed by
our CA, EV contract certificates and OCSP status through a provider.
"""

from __future__ import annotations

from core.rest.routes import Route
from plugins.ocpp201.base import Effect, HandlerBase


class CertificateHandlers(HandlerBase):
    OWN_EFFECTS: dict[str, Effect] = {}


def routes() -> list[Route]:
    """REST routes of this block (read access to what it stores)."""
    return []
