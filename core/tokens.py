"""JWT access, refresh and portal-session tokens (HS256, signed with authlib's joserfc).

Every token names its kind (``typ``) so a refresh token can never be used as an access token,
and carries the user's ``epoch``: bumping a user's ``token_epoch`` (password change,
deactivation, "log out everywhere") revokes every token issued before.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from joserfc.jwt import JWTClaimsRegistry

ALGORITHM = "HS256"
ISSUER = "openv2x"
Kind = Literal["access", "refresh", "session"]


class TokenInvalid(Exception):
    """The token is malformed, forged, expired, of the wrong kind or signed another way."""


@dataclass(frozen=True)
class Claims:
    user_id: int
    role: str
    kind: str
    epoch: int
    expires_at: int


class TokenService:
    def __init__(self, signing_key: bytes, ttl: dict[str, int]) -> None:
        self._key = OctKey.import_key(signing_key)
        self._ttl = ttl

    def issue(self, kind: Kind, user_id: int, role: str, epoch: int) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": str(user_id),
            "role": role,
            "typ": kind,
            "epoch": epoch,
            "iat": now,
            "exp": now + self._ttl[kind],
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode({"alg": ALGORITHM, "typ": "JWT"}, claims, self._key)

    def decode(self, token: str, kind: Kind) -> Claims:
        """Check signature, algorithm, expiry, issuer and kind; return the claims."""
        if not isinstance(token, str) or token.count(".") != 2 or len(token) > 4096:
            raise TokenInvalid("not a JWT")
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
            registry = JWTClaimsRegistry(
                iss={"essential": True, "value": ISSUER},
                exp={"essential": True},
                sub={"essential": True},
                typ={"essential": True, "value": kind},
            )
            registry.validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise TokenInvalid(str(exc)) from None
        claims: dict[str, Any] = decoded.claims
        try:
            return Claims(
                user_id=int(claims["sub"]),
                role=str(claims["role"]),
                kind=kind,
                epoch=int(claims.get("epoch", 0)),
                expires_at=int(claims["exp"]),
            )
        except (KeyError, TypeError, ValueError):
            raise TokenInvalid("missing claims") from None
