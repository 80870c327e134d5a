"""OCPI 2.2.1 status codes and the error that carries one to the response envelope.

OCPI reports most problems inside an HTTP 200 answer, with a four-digit ``status_code``; only a
few situations use HTTP errors (401 for a missing or unknown token, 404 for an unknown URL or
object, 405 for credentials misuse). :class:`OcpiError` holds both, so a handler raises one and
the transport builds the right answer.
"""

from __future__ import annotations

from collections.abc import Iterable

SUCCESS = 1000
CLIENT_ERROR = 2000
INVALID_PARAMETERS = 2001
NOT_ENOUGH_INFORMATION = 2002
UNKNOWN_LOCATION = 2003
UNKNOWN_TOKEN = 2004
SERVER_ERROR = 3000
UNABLE_TO_USE_CLIENT_API = 3001
UNSUPPORTED_VERSION = 3002
NO_MATCHING_ENDPOINTS = 3003
HUB_ERROR = 4000
UNKNOWN_RECEIVER = 4001
HUB_TIMEOUT = 4002
HUB_CONNECTION_PROBLEM = 4003

MESSAGES = {
    SUCCESS: "Success",
    CLIENT_ERROR: "Generic client error",
    INVALID_PARAMETERS: "Invalid or missing parameters",
    NOT_ENOUGH_INFORMATION: "Not enough information",
    UNKNOWN_LOCATION: "Unknown Location",
    UNKNOWN_TOKEN: "Unknown Token",
    SERVER_ERROR: "Generic server error",
    UNABLE_TO_USE_CLIENT_API: "Unable to use the client's API",
    UNSUPPORTED_VERSION: "Unsupported version",
    NO_MATCHING_ENDPOINTS: "No matching endpoints or expected endpoints missing between parties",
    HUB_ERROR: "Generic hub error",
    UNKNOWN_RECEIVER: "Unknown receiver",
    HUB_TIMEOUT: "Timeout on forwarded request",
    HUB_CONNECTION_PROBLEM: "Connection problem",
}


class OcpiError(Exception):
    """A failure to answer with an OCPI envelope: ``status_code`` plus the HTTP status."""

    def __init__(self, status_code: int, message: str | None = None, *,
                 http_status: int = 200, data: object = None,
                 headers: dict[str, str] | None = None) -> None:
        self.status_code = status_code
        self.message = message or MESSAGES.get(status_code, "Error")
        self.http_status = http_status
        self.data = data
        self.headers = headers or {}
        super().__init__(f"{status_code}: {self.message}")


def invalid(message: str) -> OcpiError:
    """2001, the answer to a request whose parameters or body break the specification."""
    return OcpiError(INVALID_PARAMETERS, message)


def not_found(message: str, status_code: int = CLIENT_ERROR) -> OcpiError:
    """HTTP 404: an object the caller may not see or that does not exist."""
    return OcpiError(status_code, message, http_status=404)


def unauthorized(message: str = "missing or unknown credentials token") -> OcpiError:
    return OcpiError(CLIENT_ERROR, message, http_status=401)


def method_not_allowed(message: str, allow: Iterable[str] = ()) -> OcpiError:
    """HTTP 405; ``allow`` lists the URL's methods for the ``Allow`` header RFC 9110 requires."""
    methods = ", ".join(sorted(set(allow)))
    return OcpiError(CLIENT_ERROR, message, http_status=405,
                     headers={"Allow": methods} if methods else None)
