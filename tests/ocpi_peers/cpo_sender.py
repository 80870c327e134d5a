"""A CPO test peer that serves its SmartChargingOptimisation objects on a SENDER interface.

SmartChargingOptimisation is the custom module of the USER-CHI smart grid services design
(seed 003 §5.1): the Sender's ``GET {url}?[date_from][&date_to][&offset][&limit]`` lists the
CPO's SCOptimisation objects whose ``last_updated`` is in ``[date_from, date_to)``, paginated as
every OCPI list is (``X-Total-Count``, ``X-Limit``, ``Link: <…>; rel="next"``). The peer keeps
its objects as given, so a test can serve a changed, a missing or a malformed one; like the
other peers it shares no code with the platform under test.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlencode

from aiohttp import web

from .common import CLIENT_ERROR, INVALID_PARAMETERS, X_LIMIT, X_TOTAL_COUNT, parse_ocpi_datetime
from .emsp import EmspPeer, ReceivedRequest, Reply, _ok

MODULE = "smartChargingOptimisation"


class CpoSenderPeer(EmspPeer):
    """A CPO platform whose SmartChargingOptimisation SENDER serves ``optimisations``.

    ``optimisations`` maps an object id to the object answered (any JSON, valid or not);
    ``page_limit`` (default 2 here) is the most objects per page.
    """

    ROLE: ClassVar[str] = "CPO"
    ENDPOINTS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("credentials", "RECEIVER"), (MODULE, "SENDER"))

    def __init__(self, country_code: str = "NL", party_id: str = "CPO", **kwargs: Any) -> None:
        super().__init__(country_code, party_id, **kwargs)
        self.page_limit = 2
        self.optimisations: dict[str, Any] = {}

    def pulls(self) -> list[ReceivedRequest]:
        """The first page of every list request received (a pull), in order."""
        return [r for r in self.requests(MODULE, "GET") if "offset" not in r.query]

    async def _route(self, request: web.Request, record: ReceivedRequest, module: str | None,
                     args: list[str], body: Any) -> Reply:
        if module != MODULE:
            return await super()._route(request, record, module, args, body)
        _, partner = self._authenticate(request, record)
        record.partner = partner
        if partner is None:
            return self._error(CLIENT_ERROR, "unknown token", 401)
        self._check_transport(request, record)
        if request.method != "GET" or args:
            return self._method_not_allowed()
        if record.to_party is not None and not record.to_party.same_as(self.party):
            return self._error(INVALID_PARAMETERS, f"{record.to_party} is not served here")
        return self._list(request)

    def _list(self, request: web.Request) -> Reply:
        query = request.query
        try:
            offset = int(query.get("offset", "0"))
            limit = min(int(query.get("limit", str(self.page_limit))), self.page_limit)
            date_from = parse_ocpi_datetime(query["date_from"]) if "date_from" in query else None
            date_to = parse_ocpi_datetime(query["date_to"]) if "date_to" in query else None
        except ValueError as exc:
            return self._error(INVALID_PARAMETERS, f"bad pagination parameter: {exc}")
        if offset < 0 or limit < 1:
            return self._error(INVALID_PARAMETERS, "offset must be >= 0 and limit >= 1")
        selected = [obj for obj in self.optimisations.values()
                    if _updated_within(obj, date_from, date_to)]
        headers = {X_TOTAL_COUNT: str(len(selected)), X_LIMIT: str(limit)}
        if offset + limit < len(selected):
            params: dict[str, str | int] = {"offset": offset + limit, "limit": limit}
            params.update({k: query[k] for k in ("date_from", "date_to") if k in query})
            headers["Link"] = f'<{self.endpoint_url(MODULE)}?{urlencode(params)}>; rel="next"'
        return _ok(selected[offset:offset + limit], headers=headers)


def _updated_within(obj: Any, date_from: Any, date_to: Any) -> bool:
    """Objects without a readable ``last_updated`` are always listed (a CPO's bad data)."""
    try:
        updated = parse_ocpi_datetime(obj["last_updated"])
    except (KeyError, TypeError, ValueError):
        return True
    return (date_from is None or updated >= date_from) and (date_to is None or updated < date_to)


__all__ = ["MODULE", "CpoSenderPeer"]
