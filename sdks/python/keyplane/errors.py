"""Keyplane's error envelope as an exception."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_FALLBACK_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "payload_too_large",
    429: "rate_limited",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "upstream_timeout",
}


class KeyplaneError(Exception):
    """An error answer from Keyplane (``{"error": {"code", "message", "requestId"}}``), or a
    failure to reach it (``status`` 0, code ``network_error`` / ``timeout``).

    Its text never holds a key or a token: Keyplane's messages never do, and the SDK's own
    name the URL and the method only.

    Example::

        try:
            kp.get_client("client_missing")
        except KeyplaneError as err:
            if err.code == "not_found":
                ...  # another client's id answers exactly like a missing one
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        request_id: str | None = None,
        *,
        details: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        #: HTTP status; 0 when no answer arrived.
        self.status = status
        #: snake_case code from Keyplane's error catalog (``not_found``, ``rate_limited``, …).
        self.code = code
        self.message = message
        #: Keyplane's request id (X-Request-Id): quote it when asking the operator.
        self.request_id = request_id
        #: Extra detail Keyplane sent (validation issues, …).
        self.details = details
        #: Seconds to wait before retrying, from a Retry-After header.
        self.retry_after = retry_after

    def __str__(self) -> str:
        rid = f", request {self.request_id}" if self.request_id else ""
        return f"{self.status} {self.code}: {self.message}{rid}"

    def __repr__(self) -> str:
        return (
            f"KeyplaneError(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


def error_from_response(status: int, headers: Mapping[str, str], body: object) -> KeyplaneError:
    """A KeyplaneError for a non-2xx answer, whether or not its body is the envelope."""
    env: Mapping[str, Any] = {}
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        env = body["error"]
    code = env.get("code")
    message = env.get("message")
    request_id = env.get("requestId")
    retry_after: float | None = None
    raw_retry = headers.get("retry-after")
    if raw_retry is not None:
        try:
            retry_after = float(raw_retry)
        except ValueError:
            retry_after = None
    return KeyplaneError(
        status,
        code if isinstance(code, str) else _FALLBACK_CODES.get(status, "http_error"),
        message if isinstance(message, str) else f"HTTP {status}",
        request_id if isinstance(request_id, str) else headers.get("x-request-id") or None,
        details=env.get("details"),
        retry_after=retry_after,
    )
