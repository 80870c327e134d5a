"""The credentials module we serve: GET, POST (register), PUT (update), DELETE (unregister).

Misuse is answered as the specification says: POST from a registered partner, or PUT/DELETE
(and GET) with a token A, get HTTP 405.
"""

from __future__ import annotations

from aiohttp import web

from core.ocpi import registration, status
from core.ocpi.platform import OcpiPlatform
from core.ocpi.server import (
    OcpiReply,
    authenticate,
    base_url,
    read_json,
    require_ids,
    respond,
    versions_url,
)


async def handle(request: web.Request, platform: OcpiPlatform) -> web.Response:
    caller = await authenticate(request, platform.name)
    require_ids(request, caller)
    own = versions_url(base_url(request.app, request), platform.name)
    method = request.method
    if method not in ("GET", "POST", "PUT", "DELETE"):
        raise status.method_not_allowed(f"{method} is not a credentials method",
                                        registration.CREDENTIALS_METHODS)
    if caller.partner is None:
        if method != "POST":
            raise status.method_not_allowed("not registered: register with POST first",
                                            registration.CREDENTIALS_METHODS)
        assert caller.token_a_id is not None
        body = await read_json(request)
        data = await registration.accept(request.app, platform, caller.token_a_id, body, own)
        return respond(request, OcpiReply(data))
    partner = caller.partner
    if method == "POST":
        raise status.method_not_allowed("already registered: use PUT to update",
                                        registration.CREDENTIALS_METHODS)
    if method == "GET":
        return respond(request, OcpiReply(registration.our_credentials(
            platform, caller.token, own)))
    if method == "PUT":
        body = await read_json(request)
        data = await registration.update(request.app, platform, partner, body, own)
        return respond(request, OcpiReply(data))
    await registration.unregister(request.app, platform, partner.id, tell_partner=False)
    return respond(request, OcpiReply(None))
