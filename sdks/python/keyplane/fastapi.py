"""FastAPI integration: the ``KeyplaneKey(scopes=[...])`` dependency and a metering middleware.

Example::

    from fastapi import Depends, FastAPI
    from keyplane.fastapi import KeyplaneFastAPI, KeyplaneKey, KeyplaneContext

    app = FastAPI()
    KeyplaneFastAPI(app, base_url=os.environ["KEYPLANE_URL"], admin_token=os.environ["KEYPLANE_ADMIN_TOKEN"])

    @app.get("/reports/{report_id}")
    async def report(report_id: str, kp: KeyplaneContext = Depends(KeyplaneKey(scopes=["reports:read"]))):
        return {"client": kp.client.id}
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._routes import starlette_template
from .reporter import UsageReporter
from .verifier import AsyncKeyVerifier, Denial, KeyplaneContext, key_from_headers

__all__ = [
    "KeyplaneContext",
    "KeyplaneDenied",
    "KeyplaneFastAPI",
    "KeyplaneKey",
    "KeyplaneMeteringMiddleware",
]

# Declared so that FastAPI's OpenAPI (and /docs' Authorize button) shows how to send the key;
# the value itself is read by key_from_headers, the same rule as every Keyplane middleware.
API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key",
    scheme_name="KeyplaneApiKey",
    description="A client API key issued by Keyplane (kp_live_… or kp_test_…).",
    auto_error=False,
)
BEARER = HTTPBearer(
    scheme_name="KeyplaneBearer",
    description="The same client API key as `Authorization: Bearer kp_live_…`.",
    auto_error=False,
)

#: Where the metering middleware leaves its slot in the ASGI scope for the dependency to fill.
_METER_SLOT = "keyplane.meter"


@dataclass
class _Meter:
    started: float
    context: KeyplaneContext | None = None
    endpoint: str | None = None


class KeyplaneDenied(HTTPException):
    """A refusal (401/403/429/503). With :class:`KeyplaneFastAPI` it is answered as Keyplane's
    own envelope ``{"error": {code, message, requestId}}`` with its headers."""

    def __init__(self, denial: Denial, request_id: str) -> None:
        super().__init__(denial.status, detail=denial.body(request_id), headers=dict(denial.headers))
        self.denial = denial
        self.request_id = request_id


async def _denied_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KeyplaneDenied)
    headers = dict(exc.headers or {})
    headers.setdefault("x-request-id", exc.request_id)
    return JSONResponse(exc.detail, status_code=exc.status_code, headers=headers)


def _route_endpoint(request: Request) -> str:
    route = request.scope.get("route")
    path = getattr(route, "path", None) or request.url.path
    return f"{request.method} {starlette_template(path)}"


class KeyplaneKey:
    """A dependency verifying the request's client key; it returns the
    :class:`~keyplane.verifier.KeyplaneContext` (client and key) and puts it on
    ``request.state.keyplane``. Every one of ``scopes`` must be held by the key.

    The key is read from ``X-API-Key`` or ``Authorization: Bearer``; both are declared as
    security schemes, so they show in the app's OpenAPI. ``verifier`` defaults to the one of
    :class:`KeyplaneFastAPI` on the app.
    """

    def __init__(
        self,
        scopes: Iterable[str] = (),
        *,
        verifier: AsyncKeyVerifier | None = None,
        endpoint: str | None = None,
    ) -> None:
        self.scopes = tuple(scopes)
        self.verifier = verifier
        self.endpoint = endpoint

    async def __call__(
        self,
        request: Request,
        response: Response,
        _api_key: str | None = Security(API_KEY_HEADER),
        _bearer: HTTPAuthorizationCredentials | None = Security(BEARER),
    ) -> KeyplaneContext:
        verifier = self.verifier or _installed(request).verifier
        endpoint = self.endpoint or _route_endpoint(request)
        check = await verifier.check(
            key_from_headers(request.headers),
            scopes=self.scopes,
            ip=request.client.host if request.client else None,
            endpoint=endpoint,
        )
        if check.context is None:
            assert check.denial is not None
            rid = request.headers.get("x-request-id") or f"req_{uuid.uuid4().hex}"
            raise KeyplaneDenied(check.denial, rid)
        for k, v in check.headers.items():
            response.headers[k] = v
        request.state.keyplane = check.context
        slot = request.scope.get(_METER_SLOT)
        if isinstance(slot, _Meter):
            slot.context = check.context
            slot.endpoint = self.endpoint
        return check.context


class KeyplaneMeteringMiddleware:
    """Pure ASGI middleware: each call a :class:`KeyplaneKey` let through becomes one usage
    event, ``METHOD /route-template`` (``{id}`` written ``:id``, as in Keyplane's price book)
    with the answer's status and duration. Refused calls carry no client and are not metered.

    Example::

        app.add_middleware(KeyplaneMeteringMiddleware, reporter=UsageReporter(url, token))
    """

    def __init__(self, app: ASGIApp, reporter: UsageReporter) -> None:
        self.app = app
        self.reporter = reporter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        meter = _Meter(time.perf_counter())
        scope[_METER_SLOT] = meter
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if meter.context is not None:
                self._record(scope, meter, status)

    def _record(self, scope: Scope, meter: _Meter, status: int) -> None:
        assert meter.context is not None
        method = str(scope["method"])
        route = scope.get("route")
        path = getattr(route, "path", None) or str(scope["path"])
        self.reporter.record(
            meter.context.client.id,
            meter.context.key.id,
            meter.endpoint or f"{method} {starlette_template(path)}",
            method,
            status,
            duration_ms=(time.perf_counter() - meter.started) * 1000,
            reservation_id=meter.context.reservation_id,
        )


class KeyplaneFastAPI:
    """Keyplane on a FastAPI app: the shared verifier for :class:`KeyplaneKey`, refusals in
    Keyplane's envelope, and (with a reporter) the metering middleware. On shutdown the
    reporter sends what is left.
    """

    def __init__(
        self,
        app: FastAPI,
        *,
        verifier: AsyncKeyVerifier | None = None,
        reporter: UsageReporter | None = None,
        base_url: str | None = None,
        admin_token: str | None = None,
        meter: bool = True,
    ) -> None:
        self.verifier = verifier or AsyncKeyVerifier(base_url, admin_token)
        if reporter is None and meter and base_url:
            reporter = UsageReporter(base_url, admin_token)
        self.reporter = reporter if meter else None
        app.state.keyplane = self
        app.add_exception_handler(KeyplaneDenied, _denied_handler)
        if self.reporter is not None:
            app.add_middleware(KeyplaneMeteringMiddleware, reporter=self.reporter)
        app.add_event_handler("shutdown", self._shutdown)

    async def _shutdown(self) -> None:
        if self.reporter is not None:
            self.reporter.close()
        await self.verifier.keyplane.aclose()


def _installed(request: Request) -> Any:
    kp = getattr(request.app.state, "keyplane", None)
    if not isinstance(kp, KeyplaneFastAPI):
        raise RuntimeError("keyplane: KeyplaneFastAPI(app, ...) or KeyplaneKey(verifier=...) is needed")
    return kp
