"""Encryption of personal fields at rest (Fernet: AES-128-CBC + HMAC-SHA256).

Emails must stay unique and findable without being stored in clear, so they are also stored as a
keyed digest (HMAC-SHA256 of the normalised address).
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken


class FieldCipher:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._digest_key = hashlib.sha256(b"openv2x-email-digest:" + key).digest()

    def encrypt(self, value: str | None) -> bytes | None:
        if value is None:
            return None
        return self._fernet.encrypt(value.encode())

    def decrypt(self, token: bytes | None) -> str | None:
        if token is None:
            return None
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken as exc:
            raise ValueError("stored field cannot be decrypted with the configured key") from exc

    def email_digest(self, email: str) -> str:
        return hmac.new(self._digest_key, normalise_email(email).encode(), "sha256").hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()
