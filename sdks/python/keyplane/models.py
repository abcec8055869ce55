"""The shapes of Keyplane's HTTP API (SPEC §3, §11) that the SDK reads and writes.

Field names are the API's (camelCase); times are ISO-8601 strings; money is integer
micro-units (``…Micros``) plus a decimal string. Answers are plain dicts typed as TypedDicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

Environment = Literal["live", "test"]

VerifyCode = Literal[
    "VALID",
    "MALFORMED",
    "NOT_FOUND",
    "REVOKED",
    "EXPIRED",
    "CLIENT_SUSPENDED",
    "IP_NOT_ALLOWED",
    "INSUFFICIENT_SCOPE",
    "RATE_LIMITED",
    "USAGE_EXCEEDED",
]


class RateLimit(TypedDict):
    limit: int
    windowSeconds: int


class Client(TypedDict):
    id: str
    name: str
    email: str | None
    tier: str
    status: Literal["active", "suspended", "deleted"]
    metadata: dict[str, Any]
    defaultRateLimit: RateLimit | None
    createdAt: str
    updatedAt: str
    suspendedAt: str | None
    deletedAt: str | None


class ApiKey(TypedDict):
    """Key metadata; never the key itself."""

    id: str
    clientId: str
    #: prefix, environment and the first 4 secret characters: safe to show
    start: str
    name: str | None
    description: str | None
    environment: Environment
    scopes: list[str]
    ipAllowlist: list[str]
    expiresAt: str | None
    rateLimit: RateLimit | None
    credits: dict[str, Any] | None
    meta: dict[str, Any]
    status: Literal["active", "revoked"]
    revokedAt: str | None
    revokedReason: str | None
    lastUsedAt: str | None
    createdAt: str
    updatedAt: str


class CreatedKey(TypedDict):
    """A creation answer: the key is in ``apiKey``, shown exactly once."""

    key: ApiKey
    apiKey: str


class CreatedClient(CreatedKey):
    client: Client


class ClientWithKeys(TypedDict):
    client: Client
    keys: list[ApiKey]


class Page(TypedDict):
    data: list[Any]
    nextCursor: str | None


class UsageGroup(TypedDict):
    group: str
    calls: int
    testCalls: int
    costMicros: int
    cost: str


UsageSummary = TypedDict(
    "UsageSummary",
    {"from": str, "to": str, "currency": str, "totals": dict[str, Any], "groups": list[UsageGroup]},
)


class UsageRecordAnswer(TypedDict):
    recorded: int
    rejected: list[dict[str, Any]]


class Invoice(TypedDict, total=False):
    id: str
    number: str
    clientId: str
    period: str
    periodStart: str
    periodEnd: str
    currency: str
    status: str
    totalMicros: int
    total: str
    lineItems: list[dict[str, Any]]
    createdAt: str


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    #: epoch milliseconds
    reset: int


@dataclass(frozen=True)
class VerifyResult:
    """``POST /admin/v1/verify``'s answer (always 200: an invalid key is an answer)."""

    valid: bool
    code: VerifyCode
    client_id: str | None = None
    key_id: str | None = None
    scopes: tuple[str, ...] = ()
    environment: Environment | None = None
    ratelimit: RateLimitState | None = None
    #: credits left; None when the key has no credit limit
    remaining: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    #: the price reserved for this call on the client's budgets (None: none); the call's usage
    #: event names it, which settles it at the call's real price
    reservation_id: str | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> VerifyResult:
        rl = body.get("ratelimit")
        return cls(
            valid=bool(body.get("valid")),
            code=body.get("code", "NOT_FOUND"),
            client_id=body.get("clientId"),
            key_id=body.get("keyId"),
            scopes=tuple(body.get("scopes") or ()),
            environment=body.get("environment"),
            ratelimit=(
                RateLimitState(int(rl["limit"]), int(rl["remaining"]), int(rl["reset"]))
                if isinstance(rl, dict)
                else None
            ),
            remaining=body.get("remaining"),
            meta=dict(body.get("meta") or {}),
            reservation_id=body.get("reservationId"),
        )


@dataclass(frozen=True)
class UsageEvent:
    """One call to a service's own endpoint, metered into Keyplane."""

    #: globally unique (the SDK uses a UUID): a repeated id is counted once
    request_id: str
    client_id: str
    key_id: str
    #: ``METHOD /route-template``, as the price book names it
    endpoint: str
    method: str
    status: int
    duration_ms: float = 0.0
    #: the verify answer's ``reservation_id`` for this call: settled by this event
    reservation_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "requestId": self.request_id,
            "clientId": self.client_id,
            "keyId": self.key_id,
            "endpoint": self.endpoint,
            "method": self.method,
            "status": self.status,
            "durationMs": round(max(0.0, self.duration_ms), 3),
        }
        if self.reservation_id:
            body["reservationId"] = self.reservation_id
        return body
