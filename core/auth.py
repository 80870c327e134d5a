"""Who is calling: a bearer JWT (API clients) or the portal's session cookie (browsers).

The principal is resolved by :func:`resolve_principal` when a route's permission check needs it
(see :mod:`core.rest.routes`), then read with :func:`principal_of`. A token whose user is gone,
deactivated or whose epoch was bumped is treated as no token at all.
"""

from __future__ import annotations

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


async def resolve_principal(request: web.Request) -> Principal | None:
    """The caller, from the bearer token or else the session cookie; looked up once per request.

    Resolved only for routes that need it (public routes never touch the database for it).
    """
    if PRINCIPAL in request:
        return request[PRINCIPAL]
    principal = None
    token = bearer_token(request)
    if token is not None:
        principal = await principal_from_token(request.app, token, "access", "bearer")
    elif cookie := request.cookies.get(SESSION_COOKIE):
        principal = await principal_from_token(request.app, cookie, "session", "session")
    request[PRINCIPAL] = principal
    return principal
