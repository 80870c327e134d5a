"""One error shape for the REST API: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.json import dumps


class ApiError(Exception):
    """A client-facing error; raised anywhere below a REST handler, rendered at the edge."""

    def __init__(
        self, status: int, code: str, message: str, details: Any = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message, self.details)


def error_response(status: int, code: str, message: str, details: Any = None) -> web.Response:
    body = {"error": {"code": code, "message": message, "details": details}}
    return web.Response(status=status, text=dumps(body), content_type="application/json")


def bad_request(message: str, details: Any = None, code: str = "invalid") -> ApiError:
    return ApiError(400, code, message, details)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


UNAUTHENTICATED = (
    "not_authenticated",
    "authentication credentials were not provided or are invalid",
)
