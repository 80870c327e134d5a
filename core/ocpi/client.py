"""Calling partners: one request with OCPI's headers and envelope, and paginated GETs.

Every request carries ``Authorization: Token …`` (Base64 unless the partner is flagged for raw
tokens), a fresh ``X-Request-ID``, an ``X-Correlation-ID`` (kept across the requests of one
exchange) and, for functional modules, the ``OCPI-to-*``/``OCPI-from-*`` routing headers.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from core.ocpi.wire import Party, encode_token

_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?', re.IGNORECASE)
MAX_PAGES = 10_000


class OcpiClientError(Exception):
    """The partner could not be reached or did not answer with an OCPI envelope.

    ``http_status`` is set when the partner did answer, without an envelope.
    """

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status

    @property
    def refused(self) -> bool:
        """The partner answered with a client error: sending the same again will not help."""
        return self.http_status is not None and 400 <= self.http_status < 500 \
            and self.http_status not in (408, 425, 429)


@dataclass(frozen=True)
class OcpiResult:
    http_status: int
    status_code: int
    status_message: str
    data: Any
    headers: dict[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.http_status < 300 and 1000 <= self.status_code < 2000

    def describe(self) -> str:
        return f"HTTP {self.http_status}, OCPI {self.status_code} {self.status_message}".strip()


def routing_headers(to_party: Party | None, from_party: Party | None) -> dict[str, str]:
    headers = {}
    if to_party is not None:
        headers["OCPI-to-country-code"] = to_party.country_code
        headers["OCPI-to-party-id"] = to_party.party_id
    if from_party is not None:
        headers["OCPI-from-country-code"] = from_party.country_code
        headers["OCPI-from-party-id"] = from_party.party_id
    return headers


class OcpiClient:
    """A shared HTTP client; ``timeout`` bounds each request (seconds)."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, url: str, token: str, *, raw: bool = False,
                      body: Any = None, params: dict[str, str] | None = None,
                      to_party: Party | None = None, from_party: Party | None = None,
                      correlation_id: str | None = None) -> OcpiResult:
        headers = {"Authorization": encode_token(token, raw),
                   "X-Request-ID": str(uuid.uuid4()),
                   "X-Correlation-ID": correlation_id or str(uuid.uuid4()),
                   **routing_headers(to_party, from_party)}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = orjson.dumps(body)
        try:
            async with self._http().request(method, url, data=data, params=params,
                                            headers=headers) as response:
                text = await response.read()
                status, response_headers = response.status, dict(response.headers)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise OcpiClientError(f"{method} {url}: {exc.__class__.__name__} {exc}") from None
        try:
            envelope = orjson.loads(text) if text else None
        except orjson.JSONDecodeError:
            envelope = None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("status_code"), int):
            raise OcpiClientError(f"{method} {url}: HTTP {status} without an OCPI envelope",
                                  status)
        return OcpiResult(status, envelope["status_code"],
                          str(envelope.get("status_message") or ""), envelope.get("data"),
                          response_headers)

    async def get_all(self, url: str, token: str, *, raw: bool = False,
                      params: dict[str, str] | None = None, to_party: Party | None = None,
                      from_party: Party | None = None) -> list[Any]:
        """Every object of a paginated list, following ``Link: <…>; rel="next"``."""
        items: list[Any] = []
        next_url: str | None = url
        query = params
        correlation = str(uuid.uuid4())
        for _ in range(MAX_PAGES):
            if next_url is None:
                return items
            result = await self.request("GET", next_url, token, raw=raw, params=query,
                                        to_party=to_party, from_party=from_party,
                                        correlation_id=correlation)
            if not result.ok:
                raise OcpiClientError(f"GET {next_url}: {result.describe()}")
            if not isinstance(result.data, list):
                raise OcpiClientError(f"GET {next_url}: data is not a list")
            items.extend(result.data)
            link = result.headers.get("Link") or result.headers.get("link") or ""
            match = _LINK_NEXT.search(link)
            next_url, query = (match.group(1), None) if match and result.data else (None, None)
        raise OcpiClientError(f"GET {url}: more than {MAX_PAGES} pages")
