"""Who is calling: a bearer JWT (API clients) or the portal's session cookie (browsers).

The principal is resolved once per request by :func:`auth_middleware`; routes then check the
permission they declared (see :mod:`core.rest.routes`). A token whose user is gone, deactivated
or whose epoch was bumped is treated as no token at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from core import appkeys
from core.db.models import User
from core.tokens import Kind, TokenInvalid

SESSION_COOKIE = "openv2x_session"


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: str
    via: str  # "bearer" or "session"


PRINCIPAL: web.RequestKey[Principal | None] = web.RequestKey("principal")


def principal_of(request: web.Request) -> Principal | None:
    value = request.get(PRINCIPAL)
    return value if isinstance(value, Principal) else None


async def principal_from_token(
    app: web.Application, token: str, kind: Kind, via: str
) -> Principal | None:
    try:
        claims = app[appkeys.TOKENS].decode(token, kind)
    except TokenInvalid:
        return None
    async with app[appkeys.DB].session() as session:
        user = await session.get(User, claims.user_id)
    if user is None or not user.is_active or user.token_epoch != claims.epoch:
        return None
    if user.role != claims.role:
        return None
    return Principal(user.id, user.username, user.role, via)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    token = bearer_token(request)
    if token is not None:
        request[PRINCIPAL] = await principal_from_token(request.app, token, "access", "bearer")
    elif cookie := request.cookies.get(SESSION_COOKIE):
        request[PRINCIPAL] = await principal_from_token(request.app, cookie, "session", "session")
    return await handler(request)
