"""The errors optmod answers with, each rendered as OpenAI error JSON by one handler.

    OptmodError                       status  type
     +-- InvalidRequestError            400   invalid_request_error
     |    +-- RequestTooLargeError       413   invalid_request_error
     +-- AuthenticationError            401   authentication_error
     +-- ForbiddenError                 403   permission_error
     +-- NotFoundError                  404   not_found_error
     +-- MethodNotAllowedError          405   invalid_request_error
     +-- AllRateLimitedError            429   rate_limit_error      (every try was rate-limited)
     +-- UpstreamUnavailableError       502   upstream_error        (every candidate failed)
     +-- InternalError                  500   server_error

An upstream's own 4xx (the caller's fault) is not an OptmodError: it passes through unchanged.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson


class OptmodError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code

    def headers(self) -> dict[str, str]:
        return {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


class InvalidRequestError(OptmodError):
    status = 400
    type = "invalid_request_error"


class RequestTooLargeError(InvalidRequestError):
    status = 413


class AuthenticationError(OptmodError):
    status = 401
    type = "authentication_error"


class ForbiddenError(OptmodError):
    """A request that looks like another web site's (cross-origin, or a Host that is not the proxy's)."""

    status = 403
    type = "permission_error"


class NotFoundError(OptmodError):
    status = 404
    type = "not_found_error"


class MethodNotAllowedError(OptmodError):
    status = 405
    type = "invalid_request_error"


class _FinalUpstreamError(OptmodError):
    """Every candidate failed: tell the client's SDK not to retry, optmod already did."""

    def headers(self) -> dict[str, str]:
        return {"x-should-retry": "false"}


class AllRateLimitedError(_FinalUpstreamError):
    status = 429
    type = "rate_limit_error"


class UpstreamUnavailableError(_FinalUpstreamError):
    status = 502
    type = "upstream_error"


class InternalError(OptmodError):
    status = 500
    type = "server_error"


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_json(error: OptmodError) -> bytes:
    return orjson.dumps(error.body())
