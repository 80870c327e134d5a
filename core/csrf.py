"""CSRF protection for portal forms (double submit, bound to a signed per-browser secret).

The browser gets a random ``csrf`` cookie (HttpOnly, SameSite=Strict); forms carry an HMAC of that
cookie under the server's signing key. A cross-site page can neither read the cookie nor forge the
HMAC, so a POST without a matching pair is refused before anything changes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from aiohttp import web

CSRF_COOKIE = "openv2x_csrf"
CSRF_FIELD = "csrf_token"
_PENDING: web.RequestKey[str] = web.RequestKey("csrf_pending")


class CsrfSigner:
    def __init__(self, signing_key: bytes) -> None:
        self._key = hashlib.sha256(b"openv2x-csrf:" + signing_key).digest()

    def token_for(self, cookie_value: str) -> str:
        return hmac.new(self._key, cookie_value.encode(), "sha256").hexdigest()

    def valid(self, cookie_value: str | None, token: str | None) -> bool:
        if not cookie_value or not token:
            return False
        return hmac.compare_digest(self.token_for(cookie_value), token)


def form_token(request: web.Request, signer: CsrfSigner) -> str:
    """The token to embed in a form; creates the browser secret if it has none yet."""
    value = request.cookies.get(CSRF_COOKIE) or request.get(_PENDING)
    if not value:
        value = secrets.token_urlsafe(32)
        request[_PENDING] = value
    return signer.token_for(value)


def set_cookie_if_new(request: web.Request, response: web.StreamResponse) -> None:
    """Attach the browser secret created while rendering, if any."""
    value = request.get(_PENDING)
    if value:
        response.set_cookie(
            CSRF_COOKIE, value, httponly=True, samesite="Strict", secure=request.secure, path="/"
        )


async def check(request: web.Request, signer: CsrfSigner) -> dict[str, str]:
    """Read the posted form and verify its token; raises 403 when it does not match."""
    form = await request.post()
    token = form.get(CSRF_FIELD)
    posted = token if isinstance(token, str) else None
    if not signer.valid(request.cookies.get(CSRF_COOKIE), posted):
        raise web.HTTPForbidden(text="CSRF check failed: reload the page and try again")
    return {key: value for key, value in form.items() if isinstance(value, str)}
