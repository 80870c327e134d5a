"""An OCPI 2.2.1 roaming hub test peer with eMSP parties behind it.

A hub connects to the CPO once (credentials role ``HUB``) and carries the traffic of many
parties. What matters for the CPO under test is message routing (OCPI 2.2.1, "Message
Routing"): every functional-module request through a hub names its real addressee in
``OCPI-to-country-code``/``OCPI-to-party-id`` and its real sender in the ``OCPI-from-*``
headers, while the configuration modules (versions, credentials, hubclientinfo) carry no
routing headers at all. The hub learns nothing else about who is meant, so it:

* stores what the CPO pushes in the store of the eMSP party named by ``OCPI-to-*`` (a push
  addressed to the hub itself is a Broadcast Push and lands in every party's store), and
  answers 4001 "Unknown receiver" when the addressee is missing or not behind it;
* answers real-time authorization for the token of the addressed party (or, for an open
  routing request, of whichever party owns the token);
* sends requests on behalf of its parties with ``OCPI-from-*`` = that eMSP party and
  ``OCPI-to-*`` = the CPO party;
* pushes ``ClientInfo`` objects to the CPO's hubclientinfo Receiver, which is how a CPO
  learns which parties it can reach through the hub.

Every received request is kept in ``received`` with its headers, so tests can check the
CPO's addressing with :meth:`HubPeer.requests_to`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from aiohttp import web

from .common import UNKNOWN_RECEIVER, OcpiResponse, Party, ocpi_timestamp
from .emsp import (
    EmspPeer,
    Partner,
    PartyStore,
    ReceivedRequest,
    _Context,
    _Refuse,
)

CLIENT_INFO_ROLES = ("CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP")
CONNECTION_STATUSES = ("CONNECTED", "OFFLINE", "PLANNED", "SUSPENDED")


class HubPeer(EmspPeer):
    """A hub platform (role HUB) forwarding for the eMSP ``parties`` behind it.

    Same life cycle, switches, records and client methods as :class:`EmspPeer`; methods
    that send on behalf of a party take ``from_party`` (default: the first party), and
    tokens belong to a party (``add_token(..., party=(cc, pid))``).
    """

    ROLE: ClassVar[str] = "HUB"

    def __init__(self, parties: Iterable[tuple[str, str]] = (("NL", "EMA"), ("DE", "EMB")),
                 country_code: str = "NL", party_id: str = "HUB", **kwargs: Any) -> None:
        super().__init__(country_code, party_id, **kwargs)
        self.parties = [Party(*party) for party in parties]
        if not self.parties:
            raise ValueError("a hub needs at least one party behind it")
        self.stores = {party.key(): PartyStore(party) for party in self.parties}

    @property
    def store(self) -> PartyStore:
        """Not meaningful on a hub: every party behind it has its own store."""
        raise AttributeError("a hub keeps one store per party: use store_for(cc, pid)")

    def _default_from(self) -> Party:
        return self.parties[0]

    def requests_to(self, country_code: str, party_id: str,
                    module: str | None = None) -> list[ReceivedRequest]:
        """Requests the CPO addressed (``OCPI-to-*``) to one party behind the hub."""
        wanted = Party(country_code, party_id)
        return [r for r in self.received
                if wanted.same_as(r.to_party) and (module is None or r.module == module)]

    # -- routing of what the CPO sends ------------------------------------------------------

    def _check_transport(self, request: web.Request, record: ReceivedRequest) -> None:
        super()._check_transport(request, record)
        if record.module not in ("versions", "credentials", "hubclientinfo"):
            if record.from_party is None:
                self._violation(record, "missing OCPI-from-* headers on a request to a hub")
            if record.to_party is None:
                self._violation(record, "missing OCPI-to-* headers on a request to a hub")

    def _unknown_receiver(self, message: str) -> _Refuse:
        return _Refuse(self._error(UNKNOWN_RECEIVER, message))

    def _target_stores(self, ctx: _Context) -> list[PartyStore]:
        to_party = ctx.record.to_party
        if to_party is None:
            raise self._unknown_receiver("no OCPI-to-* headers: the hub cannot route this")
        if to_party.same_as(self.party):
            return list(self.stores.values())  # Broadcast Push
        store = self.stores.get(to_party.key())
        if store is None:
            raise self._unknown_receiver(f"{to_party} is not connected to this hub")
        return [store]

    def _token_stores(self, ctx: _Context) -> list[PartyStore]:
        to_party = ctx.record.to_party
        if to_party is None or to_party.same_as(self.party):
            return list(self.stores.values())  # GET All via hub / open routing
        return self._target_stores(ctx)

    # -- hubclientinfo ----------------------------------------------------------------------

    async def push_client_info(self, country_code: str, party_id: str, role: str = "EMSP",
                               status: str = "CONNECTED", *, partner: Partner | None = None,
                               last_updated: str | None = None) -> OcpiResponse:
        """PUT a ClientInfo to the partner's hubclientinfo Receiver ``{url}/{cc}/{pid}``.

        No routing headers: hubclientinfo is a configuration module.
        """
        if role not in CLIENT_INFO_ROLES:
            raise ValueError(f"role must be one of {CLIENT_INFO_ROLES}")
        if status not in CONNECTION_STATUSES:
            raise ValueError(f"status must be one of {CONNECTION_STATUSES}")
        party = self._ids(Party(country_code, party_id))
        info = {"party_id": party.party_id, "country_code": party.country_code, "role": role,
                "status": status, "last_updated": last_updated or ocpi_timestamp()}
        return await self.call("PUT", "hubclientinfo", party.country_code, party.party_id,
                               json=info, role="RECEIVER", partner=partner)

    async def announce_parties(self, status: str = "CONNECTED", *,
                               partner: Partner | None = None) -> list[OcpiResponse]:
        """Push a ClientInfo (role EMSP) for every party behind the hub."""
        return [await self.push_client_info(p.country_code, p.party_id, "EMSP", status,
                                            partner=partner)
                for p in self.parties]
