"""Operator force-stop: ``POST /api/transaction/{id}/stop/ {"reason": "…"}``.

For a session its station will never stop (the station is gone, broken or forgot): the CSMS
closes it with the reason given, flagged for review, recorded as closed by the operator. If the
station's own stop arrives later, its meter figures replace the operator's close. A session the
station can still stop should be stopped with the station's remote-stop command instead.
"""

from __future__ import annotations

from aiohttp import web

from core import appkeys, stations
from core.auth import principal_of
from core.db import Work
from core.db.models import Transaction
from core.db.types import utcnow
from core.rest.body import json_object
from core.rest.errors import ApiError, bad_request, not_found
from core.rest.resource import json_response
from core.rest.routes import Route
from core.rest.schemas import TransactionSchema

MAX_REASON = 200


async def force_stop(request: web.Request) -> web.Response:
    body = await json_object(request)
    reason = body.get("reason")
    if set(body) != {"reason"} or not isinstance(reason, str) or not reason.strip() or len(
            reason) > MAX_REASON:
        raise bad_request(f"give only a reason: text of 1 to {MAX_REASON} characters",
                          {"reason": ["required text"]})
    try:
        tx_id = int(request.match_info["id"])
    except ValueError:
        raise not_found("transaction") from None
    principal = principal_of(request)
    who = principal.username if principal else "an operator"

    async def close(work: Work) -> tuple[Transaction | None, bool]:
        tx = await work.session.get(Transaction, tx_id)
        if tx is None or tx.status != "Active":
            return tx, False
        stations.close_unconfirmed(work, tx, at=utcnow(), closed_by="operator",
                                   reason=f"force-stopped by {who}: {reason.strip()}")
        return tx, True

    tx, closed = await request.app[appkeys.DB].write(close, preload=[(Transaction, tx_id)])
    if tx is None:
        raise not_found("transaction")
    if not closed:
        raise ApiError(409, "conflict", "the transaction is not active")
    return json_response(TransactionSchema().dump(tx))


def transaction_routes() -> list[Route]:
    return [Route("POST", "/api/transaction/{id}/stop/", force_stop, "transaction:stop",
                  "transaction-force-stop", "Close a session its station will not stop",
                  ("transaction",), request_schema={
                      "type": "object", "required": ["reason"], "additionalProperties": False,
                      "properties": {"reason": {"type": "string", "minLength": 1,
                                                "maxLength": MAX_REASON}}},
                  response_schema=TransactionSchema)]
