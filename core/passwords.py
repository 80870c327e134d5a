"""Password hashing with Argon2id (memory-hard), via argon2-cffi."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# 19 MiB, 2 passes: the OWASP minimum for Argon2id, fast enough for an interactive login.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

MIN_LENGTH = 8


def hash_password(password: str) -> str:
    return str(_hasher.hash(password))


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(stored_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return bool(_hasher.check_needs_rehash(stored_hash))


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or ``None`` if it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > 1024:
        return "must be at most 1024 characters"
    return None
