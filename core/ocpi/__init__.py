"""OCPI 2.2.1 transport shared by every OCPI role we play (CPO, SCSP).

- :mod:`core.ocpi.platform`: what a plugin declares (our parties, module routes).
- :mod:`core.ocpi.server`: the endpoints we serve and the request/response rules.
- :mod:`core.ocpi.client`: calling partners, with pagination.
- :mod:`core.ocpi.registration` and :mod:`core.ocpi.credentials`: the credentials handshake
  in both directions, updates and unregistration; the partner registry.
- :mod:`core.ocpi.outbox`: persisted pushes, retried while a partner is down.
- :mod:`core.ocpi.status`, :mod:`core.ocpi.wire`: status codes, DateTime, parties, tokens.
- :mod:`core.ocpi.fields`: validation of the OCPI objects partners send.
- :mod:`core.ocpi.hubclientinfo`: the HubClientInfo RECEIVER, which every platform may list.
"""

from core.ocpi.client import OcpiClient, OcpiClientError, OcpiResult
from core.ocpi.outbox import OUTBOX, Outbox, enqueue
from core.ocpi.partners import Endpoint, Partner
from core.ocpi.platform import (
    RECEIVER,
    SENDER,
    VERSION,
    BusinessDetails,
    OcpiModule,
    OcpiPlatform,
    OcpiRoute,
    OwnRole,
)
from core.ocpi.registration import CLIENT, RegistrationError
from core.ocpi.server import PLATFORMS, OcpiReply, OcpiRequest, Page
from core.ocpi.status import OcpiError
from core.ocpi.wire import Party, format_datetime, parse_datetime

__all__ = [
    "CLIENT", "OUTBOX", "PLATFORMS", "RECEIVER", "SENDER", "VERSION", "BusinessDetails",
    "Endpoint", "OcpiClient", "OcpiClientError", "OcpiError", "OcpiModule", "OcpiPlatform",
    "OcpiReply", "OcpiRequest", "OcpiResult", "OcpiRoute", "Outbox", "OwnRole", "Page", "Partner",
    "Party", "RegistrationError", "enqueue", "format_datetime", "parse_datetime",
]
