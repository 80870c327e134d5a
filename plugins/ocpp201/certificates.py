"""ISO 15118 / Plug & Charge certificate management (block M, A): station certificates signed by
our CA, EV contract certificates and OCSP status through a provider.
"""

from __future__ import annotations

from plugins.ocpp201.base import Effect, HandlerBase


class CertificateHandlers(HandlerBase):
    OWN_EFFECTS: dict[str, Effect] = {}
