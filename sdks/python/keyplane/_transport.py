"""The one place the SDK talks HTTP: auth header, timeouts, retries, the error envelope."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import httpx

from .errors import KeyplaneError, error_from_response

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]

#: Answers a retry can fix: a proxy or Keyplane itself briefly unavailable.
RETRY_STATUSES = frozenset({502, 503, 504})
#: Methods safe to repeat. A POST is retried only when the call says it is (usage events).
IDEMPOTENT = frozenset({"GET", "PUT", "DELETE"})
MAX_RETRY_AFTER_S = 5.0
USER_AGENT = "keyplane-python/0.1.0"


def seg(value: str) -> str:
    """One path segment, escaped."""
    return quote(value, safe="")


@dataclass(frozen=True)
class Request:
    method: Method
    path: str
    query: Mapping[str, Any] | None = None
    body: Any = None
    #: ``none``: no body expected (204); ``text``: the body as a string.
    expect: Literal["json", "text", "none"] = "json"
    #: Retry a POST/PATCH too: only for calls that are safe to repeat.
    retry: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TransportOptions:
    base_url: str
    admin_token: str | None
    #: Per-attempt timeout, seconds.
    timeout: float = 10.0
    #: Extra attempts after a network error or a 502/503/504 (idempotent calls only).
    retries: int = 2
    #: First backoff delay in seconds; doubles per attempt, with jitter.
    retry_delay: float = 0.1

    def __post_init__(self) -> None:
        if not self.base_url:
            raise ValueError("Keyplane: base_url is required")

    def headers(self) -> dict[str, str]:
        h = {"accept": "application/json", "user-agent": USER_AGENT}
        if self.admin_token:
            h["authorization"] = f"Bearer {self.admin_token}"
        return h

    def retriable(self, req: Request) -> bool:
        return req.retry or req.method in IDEMPOTENT

    def backoff(self, attempt: int, error: KeyplaneError | None) -> float:
        base = self.retry_delay * float(2**attempt)
        delay = base / 2 + random.random() * base / 2
        if error is not None and error.retry_after is not None:
            delay = max(delay, error.retry_after)
        return min(MAX_RETRY_AFTER_S, delay)


def _params(query: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in (query or {}).items():
        if v is None:
            continue
        out[k] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return out


def _not_configured() -> KeyplaneError:
    return KeyplaneError(0, "not_configured", "Keyplane: this call needs an admin_token")


def _network_error(opts: TransportOptions, req: Request, err: httpx.TransportError) -> KeyplaneError:
    # httpx's own text may quote the URL (never a header): keep only its class name.
    if isinstance(err, httpx.TimeoutException):
        return KeyplaneError(
            0, "timeout", f"Keyplane did not answer within {opts.timeout} s ({req.method} {req.path})"
        )
    return KeyplaneError(
        0,
        "network_error",
        f"cannot reach Keyplane at {opts.base_url} ({type(err).__name__}, {req.method} {req.path})",
    )


def _answer(req: Request, res: httpx.Response) -> Any:
    if res.is_success:
        if req.expect == "none" or res.status_code == 204:
            return None
        return res.text if req.expect == "text" else res.json()
    try:
        body: object = res.json() if res.content else None
    except ValueError:
        body = None  # not JSON: a proxy's error page; the status speaks for it
    raise error_from_response(res.status_code, res.headers, body)


def _build(client: httpx.Client | httpx.AsyncClient, req: Request) -> httpx.Request:
    return client.build_request(
        req.method,
        req.path,
        params=_params(req.query),
        json=req.body,
        headers=dict(req.headers),
    )


class SyncTransport:
    def __init__(self, opts: TransportOptions, client: httpx.Client | None = None) -> None:
        self.opts = opts
        self._client = client or httpx.Client(
            base_url=opts.base_url.rstrip("/"), headers=opts.headers(), timeout=opts.timeout
        )

    def request(self, req: Request) -> Any:
        if not self.opts.admin_token:
            raise _not_configured()
        retriable = self.opts.retriable(req)
        attempt = 0
        while True:
            last = not retriable or attempt >= self.opts.retries
            try:
                res = self._client.send(_build(self._client, req))
            except httpx.TransportError as err:
                if last:
                    raise _network_error(self.opts, req, err) from None
                time.sleep(self.opts.backoff(attempt, None))
                attempt += 1
                continue
            try:
                return _answer(req, res)
            except KeyplaneError as err:
                if last or err.status not in RETRY_STATUSES:
                    raise
                time.sleep(self.opts.backoff(attempt, err))
                attempt += 1

    def close(self) -> None:
        self._client.close()


class AsyncTransport:
    def __init__(self, opts: TransportOptions, client: httpx.AsyncClient | None = None) -> None:
        self.opts = opts
        self._client = client or httpx.AsyncClient(
            base_url=opts.base_url.rstrip("/"), headers=opts.headers(), timeout=opts.timeout
        )

    async def request(self, req: Request) -> Any:
        if not self.opts.admin_token:
            raise _not_configured()
        retriable = self.opts.retriable(req)
        attempt = 0
        while True:
            last = not retriable or attempt >= self.opts.retries
            try:
                res = await self._client.send(_build(self._client, req))
            except httpx.TransportError as err:
                if last:
                    raise _network_error(self.opts, req, err) from None
                await asyncio.sleep(self.opts.backoff(attempt, None))
                attempt += 1
                continue
            try:
                return _answer(req, res)
            except KeyplaneError as err:
                if last or err.status not in RETRY_STATUSES:
                    raise
                await asyncio.sleep(self.opts.backoff(attempt, err))
                attempt += 1

    async def aclose(self) -> None:
        await self._client.aclose()
