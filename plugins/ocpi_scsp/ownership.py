"""Client-owned objects: only the party that owns an object may read or change it.

The owner is named in the URL (``/{country_code}/{party_id}/…``); it must be the request's
sending party, one the partner registered, unless the partner is a hub (which forwards for
parties it did not register with us). Anything else is answered HTTP 404, as for an object the
caller cannot see.
"""

from __future__ import annotations

from core.ocpi import OcpiRequest, Party
from core.ocpi.status import OcpiError, not_found


def owner(request: OcpiRequest) -> Party:
    """The URL's party, when the caller may act for it; HTTP 404 otherwise."""
    try:
        party = Party.parse(request.params.get("country_code"), request.params.get("party_id"))
    except OcpiError:
        raise not_found("no such object") from None
    if request.partner.is_hub:
        return party
    if request.sender is not None and request.sender != party:
        raise not_found("no such object for this party")
    if party not in request.partner.parties:
        raise not_found("no such object for this party")
    return party


def sender(request: OcpiRequest) -> Party:
    """The sending party of a request whose URL names no owner (HTTP 404 when unknown)."""
    if request.sender is None:
        raise not_found("the sending party is unknown (OCPI-from headers are required)")
    return request.sender
