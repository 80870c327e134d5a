"""OCPI 2.2.1 wire values: DateTime text, CiString party codes, credentials tokens.

Partners differ in small ways the specification allows or that the field produces anyway:
DateTime with or without ``Z`` and fractions, lowercase country codes and party ids, tokens sent
raw instead of Base64. What is read is normalised here; what is written is always the strict
form.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from core.ocpi.status import invalid

_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_PARTY = re.compile(r"^[A-Za-z0-9]{3}$")


def format_datetime(value: dt.datetime) -> str:
    """The strict OCPI form: UTC, whole seconds, ``Z``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(text: object, name: str) -> dt.datetime:
    """A DateTime as partners send it; without a zone it is UTC (OCPI's rule)."""
    if not isinstance(text, str) or not _DATETIME.match(text.strip()):
        raise invalid(f"{name} must be an RFC 3339 date-time")
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1]
    match = re.search(r"\.(\d+)", value)
    if match and len(match.group(1)) > 6:
        value = value.replace(match.group(0), "." + match.group(1)[:6])
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise invalid(f"{name} is not a valid date-time") from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


@dataclass(frozen=True, slots=True, order=True)
class Party:
    """An OCPI party: ISO 3166 alpha-2 country code and a 3-character party id, upper case."""

    country_code: str
    party_id: str

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id}"

    @classmethod
    def parse(cls, country_code: object, party_id: object) -> Party:
        if not isinstance(country_code, str) or not _COUNTRY.match(country_code):
            raise invalid("country_code must be 2 letters (ISO 3166-1 alpha-2)")
        if not isinstance(party_id, str) or not _PARTY.match(party_id):
            raise invalid("party_id must be 3 letters or digits")
        return cls(country_code.upper(), party_id.upper())


def new_token() -> str:
    """A fresh credentials token: 256 random bits, URL-safe, printable ASCII as OCPI wants."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored of a token partners use on us: enough to recognise it, not to reuse it."""
    return hashlib.sha256(token.encode()).hexdigest()


def encode_token(token: str, raw: bool = False) -> str:
    """The ``Authorization`` header value; OCPI 2.2.1 sends the token Base64-encoded."""
    if raw:
        return f"Token {token}"
    return "Token " + base64.b64encode(token.encode()).decode()


def header_tokens(header: str | None) -> tuple[str | None, str | None]:
    """(Base64-decoded token, token as sent) of an ``Authorization: Token …`` header.

    The decoded form is None when the value is not valid Base64 of printable text; the raw form
    is what a partner that skips the encoding sends.
    """
    if not header:
        return None, None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "token" or not value:
        return None, None
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None, value
    if not decoded or not decoded.isprintable():
        return None, value
    return decoded, value
