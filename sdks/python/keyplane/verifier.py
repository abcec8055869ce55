"""Key verification through ``POST /admin/v1/verify`` with a short local cache (sync and async)."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .cache import TtlCache
from .client import AsyncKeyplane, Keyplane
from .errors import KeyplaneError
from .keyformat import parse_key
from .models import Environment, VerifyResult


@dataclass(frozen=True)
class KeyInfo:
    id: str
    environment: Environment
    scopes: tuple[str, ...]
    meta: dict[str, Any]


@dataclass(frozen=True)
class ClientInfo:
    id: str


@dataclass(frozen=True)
class KeyplaneContext:
    """What the middleware puts on a request whose key passed (``flask.g.keyplane``, the
    FastAPI dependency's value)."""

    client: ClientInfo
    key: KeyInfo
    #: credits left after this call; None when the key has no credit limit
    remaining: int | None = None
    #: the price Keyplane reserved for this call on the client's budgets (None: none); the
    #: middleware's usage event names it, which settles it at the call's real price
    reservation_id: str | None = None


@dataclass(frozen=True)
class Denial:
    """A refused or failed check, as the middleware answers it (SPEC §2's mapping)."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def body(self, request_id: str) -> dict[str, Any]:
        """Keyplane's error envelope."""
        return {"error": {"code": self.code, "message": self.message, "requestId": request_id}}


@dataclass(frozen=True)
class Check:
    """The outcome of checking one request: ``context`` when it passed, else ``denial``."""

    context: KeyplaneContext | None
    denial: Denial | None
    #: ``RateLimit-*`` headers to add to a successful answer too
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.context is not None


_DENIALS: dict[str, tuple[int, str, str]] = {
    "MALFORMED": (401, "unauthorized", "malformed API key"),
    "NOT_FOUND": (401, "unauthorized", "unknown API key"),
    "REVOKED": (401, "unauthorized", "API key revoked"),
    "EXPIRED": (401, "unauthorized", "API key expired"),
    "CLIENT_SUSPENDED": (403, "client_suspended", "client suspended"),
    "IP_NOT_ALLOWED": (403, "ip_not_allowed", "request address not allowed for this key"),
    "INSUFFICIENT_SCOPE": (403, "insufficient_scope", "API key lacks the required scope"),
    "RATE_LIMITED": (429, "rate_limited", "rate limit exceeded"),
    "USAGE_EXCEEDED": (429, "usage_exceeded", "usage credits exhausted"),
}
NO_KEY = Denial(401, "unauthorized", "API key required (X-API-Key or Authorization: Bearer)")
UNAVAILABLE = Denial(
    503,
    "service_unavailable",
    "API key verification is unavailable; try again shortly",
    {"retry-after": "1"},
)
MALFORMED = VerifyResult(valid=False, code="MALFORMED")


def key_from_headers(headers: Mapping[str, str]) -> str | None:
    """The client key of a request: ``X-API-Key``, else ``Authorization: Bearer …``. Empty
    string when a header is present but unusable (``Bearer`` with nothing after it)."""
    x = headers.get("x-api-key")
    if x is not None:
        return x.strip()
    auth = headers.get("authorization")
    if auth is None:
        return None
    scheme, _, token = auth.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return ""
    return token


def rate_limit_headers(result: VerifyResult, now_ms: float) -> dict[str, str]:
    """``RateLimit-*`` (seconds until reset) and, for 429 refusals, ``Retry-After``."""
    headers: dict[str, str] = {}
    rl = result.ratelimit
    if rl is not None:
        headers["ratelimit-limit"] = str(rl.limit)
        headers["ratelimit-remaining"] = str(max(0, rl.remaining))
        headers["ratelimit-reset"] = str(max(0, math.ceil((rl.reset - now_ms) / 1000)))
    if result.code in ("RATE_LIMITED", "USAGE_EXCEEDED"):
        # Credits do not come back by waiting a window: an hour is an honest hint.
        wait = max(1, math.ceil((rl.reset - now_ms) / 1000)) if rl else 3600
        headers["retry-after"] = str(wait)
    return headers


def _cache_key(key: str, scopes: tuple[str, ...], ip: str | None, endpoint: str | None) -> str:
    """The raw key never sits in the cache: its SHA-256 does, with what else shapes the answer."""
    text = "\0".join((key, ip or "", endpoint or "", ",".join(sorted(scopes))))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _to_check(result: VerifyResult) -> Check:
    # Keyplane's reset times are wall-clock epochs: compare them with the real time.
    headers = rate_limit_headers(result, time.time() * 1000)
    if not result.valid or not result.client_id or not result.key_id or not result.environment:
        status, code, message = _DENIALS.get(result.code, _DENIALS["NOT_FOUND"])
        return Check(None, Denial(status, code, message, headers))
    key = KeyInfo(result.key_id, result.environment, result.scopes, result.meta)
    context = KeyplaneContext(ClientInfo(result.client_id), key, result.remaining, result.reservation_id)
    return Check(context, None, headers)


@dataclass
class VerifierStats:
    #: verifications asked of Keyplane
    remote: int = 0
    #: answers served from the local cache
    cached: int = 0
    #: keys refused offline (bad shape or checksum) without any network call
    offline: int = 0


class _VerifierBase:
    def __init__(
        self,
        *,
        cache_ttl: float,
        negative_cache_ttl: float,
        cache_size: int,
        clock: Callable[[], float],
    ) -> None:
        self.cache_ttl = cache_ttl
        self.negative_cache_ttl = negative_cache_ttl
        self._cache: TtlCache[VerifyResult] = TtlCache(cache_size)
        self._clock = clock
        self.stats = VerifierStats()

    def clear(self) -> None:
        """Forgets every cached answer (after revoking a key in the same process, say)."""
        self._cache.clear()

    def _lookup(self, key: str, scopes: tuple[str, ...], ip: str | None, endpoint: str | None) -> tuple[str, VerifyResult | None]:
        if parse_key(key) is None:
            self.stats.offline += 1
            return "", MALFORMED
        cache_id = _cache_key(key, scopes, ip, endpoint)
        hit = self._cache.get(cache_id, self._clock())
        if hit is not None:
            self.stats.cached += 1
        else:
            self.stats.remote += 1
        return cache_id, hit

    def _store(self, cache_id: str, result: VerifyResult) -> None:
        ttl = self._ttl_for(result)
        if ttl > 0:
            self._cache.set(cache_id, result, self._clock() + ttl)

    def _ttl_for(self, r: VerifyResult) -> float:
        # A key with credits or a rate limit is asked every time, so Keyplane counts each call;
        # so is a call Keyplane reserved a price for on a budget (a reservation is one call's).
        if r.valid:
            per_call = r.ratelimit is not None or r.remaining is not None or r.reservation_id is not None
            return 0.0 if per_call else self.cache_ttl
        return 0.0 if r.code == "RATE_LIMITED" else self.negative_cache_ttl


class KeyVerifier(_VerifierBase):
    """Verifies client keys through Keyplane, with a short local cache so a busy service does
    not ask Keyplane on every call. Share one verifier between every route of a service.

    - A valid answer is reused for ``cache_ttl`` seconds (default 5): **this is the revocation
      delay**, a revoked key or suspended client keeps working here for up to that long.
    - A refusal is reused for ``negative_cache_ttl`` (default 1 s); rate-limit refusals never.
    - A key with credits or a rate limit, or a call Keyplane reserved a price for on a budget
      (its answer has a ``reservation_id``), is never answered from the cache.
    - At most ``cache_size`` answers (default 10 000); least recently used go first.
    - A string that is not a well-formed key (shape, CRC-32 checksum) is refused offline.

    Example::

        verifier = KeyVerifier("http://127.0.0.1:8080", os.environ["KEYPLANE_ADMIN_TOKEN"])
        check = verifier.check(api_key, scopes=["video:write"], ip="203.0.113.7")
        if not check.ok:
            print(check.denial.status, check.denial.code)  # 401 unauthorized
    """

    def __init__(
        self,
        base_url: str | None = None,
        admin_token: str | None = None,
        *,
        keyplane: Keyplane | None = None,
        timeout: float = 5.0,
        cache_ttl: float = 5.0,
        negative_cache_ttl: float = 1.0,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            cache_ttl=cache_ttl, negative_cache_ttl=negative_cache_ttl, cache_size=cache_size, clock=clock
        )
        if keyplane is None:
            keyplane = Keyplane(base_url or "", admin_token, timeout=timeout, retries=0)
        self.keyplane = keyplane

    def verify(
        self, key: str, *, scopes: Iterable[str] = (), ip: str | None = None, endpoint: str | None = None
    ) -> VerifyResult:
        """Keyplane's answer (cached when allowed). Raises KeyplaneError when unreachable."""
        wanted = tuple(scopes)
        cache_id, hit = self._lookup(key, wanted, ip, endpoint)
        if hit is not None:
            return hit
        result = self.keyplane.verify(key, scopes=wanted, ip=ip, endpoint=endpoint)
        self._store(cache_id, result)
        return result

    def check(
        self, key: str | None, *, scopes: Iterable[str] = (), ip: str | None = None, endpoint: str | None = None
    ) -> Check:
        """One request's key mapped to what the middleware answers: 401 for no key / MALFORMED /
        NOT_FOUND / REVOKED / EXPIRED, 403 for CLIENT_SUSPENDED / IP_NOT_ALLOWED /
        INSUFFICIENT_SCOPE, 429 for RATE_LIMITED / USAGE_EXCEEDED, 503 when Keyplane cannot be
        reached (fails closed)."""
        if not key:
            return Check(None, NO_KEY)
        try:
            result = self.verify(key, scopes=scopes, ip=ip, endpoint=endpoint)
        except KeyplaneError:
            return Check(None, UNAVAILABLE)
        return _to_check(result)


class AsyncKeyVerifier(_VerifierBase):
    """:class:`KeyVerifier` for asyncio apps (FastAPI): the same cache and answers, awaited.

    Example::

        verifier = AsyncKeyVerifier(url, token, cache_ttl=5)
        check = await verifier.check(api_key, scopes=["reports:read"])
    """

    def __init__(
        self,
        base_url: str | None = None,
        admin_token: str | None = None,
        *,
        keyplane: AsyncKeyplane | None = None,
        timeout: float = 5.0,
        cache_ttl: float = 5.0,
        negative_cache_ttl: float = 1.0,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            cache_ttl=cache_ttl, negative_cache_ttl=negative_cache_ttl, cache_size=cache_size, clock=clock
        )
        if keyplane is None:
            keyplane = AsyncKeyplane(base_url or "", admin_token, timeout=timeout, retries=0)
        self.keyplane = keyplane

    async def verify(
        self, key: str, *, scopes: Iterable[str] = (), ip: str | None = None, endpoint: str | None = None
    ) -> VerifyResult:
        wanted = tuple(scopes)
        cache_id, hit = self._lookup(key, wanted, ip, endpoint)
        if hit is not None:
            return hit
        result = await self.keyplane.verify(key, scopes=wanted, ip=ip, endpoint=endpoint)
        self._store(cache_id, result)
        return result

    async def check(
        self, key: str | None, *, scopes: Iterable[str] = (), ip: str | None = None, endpoint: str | None = None
    ) -> Check:
        if not key:
            return Check(None, NO_KEY)
        try:
            result = await self.verify(key, scopes=scopes, ip=ip, endpoint=endpoint)
        except KeyplaneError:
            return Check(None, UNAVAILABLE)
        return _to_check(result)
