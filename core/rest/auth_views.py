"""Token endpoints (``/api/token/…``) and driver self sign-up (``/api/user/create/``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from marshmallow import Schema, ValidationError

from core import appkeys
from core.auth import principal_from_token
from core.db.models import User
from core.events import Event
from core.rbac import PUBLIC
from core.rest import schemas
from core.rest.body import json_object
from core.rest.errors import ApiError
from core.rest.resource import json_response, validation_error
from core.rest.routes import Route
from core.users import NewUser, UserError, authenticate, create_user, public_view


async def _load(request: web.Request, schema: type[Schema]) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = schema().load(await json_object(request))
    except ValidationError as exc:
        raise validation_error(exc) from None
    return loaded


def _bad_token() -> ApiError:
    return ApiError(401, "token_not_valid", "the token is invalid, expired or revoked")


async def obtain_token(request: web.Request) -> web.Response:
    """Exchange credentials (email or username + password) for an access and a refresh token."""
    data = await _load(request, schemas.LoginSchema)
    app = request.app
    async with app[appkeys.DB].transaction() as work:
        user = await authenticate(
            work.session, app[appkeys.CIPHER], data["username"], data["password"]
        )
        if user is None:
            raise ApiError(401, "invalid_credentials", "no active account with these credentials")
        tokens = app[appkeys.TOKENS]
        pair = {
            "access": tokens.issue("access", user.id, user.role, user.token_epoch),
            "refresh": tokens.issue("refresh", user.id, user.role, user.token_epoch),
        }
    return json_response(pair)


async def refresh_token(request: web.Request) -> web.Response:
    """Exchange a valid refresh token for a new access token."""
    data = await _load(request, schemas.RefreshSchema)
    principal = await principal_from_token(request.app, data["refresh"], "refresh", "bearer")
    if principal is None:
        raise _bad_token()
    async with request.app[appkeys.DB].session() as session:
        user = await session.get(User, principal.user_id)
    assert user is not None
    access = request.app[appkeys.TOKENS].issue("access", user.id, user.role, user.token_epoch)
    return json_response({"access": access})


async def verify_token(request: web.Request) -> web.Response:
    """200 with an empty object when the access token is valid, 401 otherwise."""
    data = await _load(request, schemas.VerifySchema)
    if await principal_from_token(request.app, data["token"], "access", "bearer") is None:
        raise _bad_token()
    return json_response({})


async def sign_up(request: web.Request) -> web.Response:
    """Open registration for drivers (seed 000 §5.1); other roles are created with the CLI."""
    data = await _load(request, schemas.SignUpSchema)
    cipher = request.app[appkeys.CIPHER]
    try:
        async with request.app[appkeys.DB].transaction() as work:
            user = await create_user(work.session, cipher, NewUser(role="driver", **data))
            body = schemas.UserSchema().dump(public_view(user, cipher))
            work.emit(Event("user.created", {"id": user.id, "role": user.role}))
    except UserError as exc:
        status = 409 if "already" in exc.message else 400
        code = "conflict" if status == 409 else "validation_error"
        raise ApiError(status, code, str(exc), {exc.field: [exc.message]}) from None
    return json_response(body, status=201)


def auth_routes() -> list[Route]:
    tags = ("token",)
    return [
        Route("POST", "/api/token/", obtain_token, PUBLIC, "token-obtain",
              "Obtain an access and a refresh token", tags,
              request_schema=schemas.LoginSchema, response_schema=schemas.TokenPairSchema),
        Route("POST", "/api/token/refresh/", refresh_token, PUBLIC, "token-refresh",
              "Refresh an access token", tags,
              request_schema=schemas.RefreshSchema, response_schema=schemas.TokenPairSchema),
        Route("POST", "/api/token/verify/", verify_token, PUBLIC, "token-verify",
              "Verify an access token", tags, request_schema=schemas.VerifySchema),
        Route("POST", "/api/user/create/", sign_up, PUBLIC, "user-signup",
              "Sign up as a driver", ("user",),
              request_schema=schemas.SignUpSchema, response_schema=schemas.UserSchema),
    ]
