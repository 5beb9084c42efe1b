"""The one error type of the service: an HTTP status, a stable code and a teacher-readable text.

Every error response body is ``{"error": code, "message": message}`` (protocol v1).
"""

from __future__ import annotations


class ApiError(Exception):
    """Raised anywhere in a request; the app turns it into the JSON error response."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def bad_request(message: str, code: str = "bad_request") -> ApiError:
    return ApiError(400, code, message)


def unauthorized(message: str = "Please sign in again.", code: str = "unauthorized") -> ApiError:
    return ApiError(401, code, message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)
