"""The same small service in Flask and in FastAPI, each behind the SDK, served over real
loopback HTTP (werkzeug's and uvicorn's servers in a thread) for the middleware suites."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import uvicorn
from fastapi import Depends, FastAPI, Request, Response
from flask import Flask, g
from flask import request as flask_request
from werkzeug.serving import make_server

from keyplane import AsyncKeyVerifier, KeyplaneContext, KeyVerifier, UsageReporter
from keyplane.fastapi import KeyplaneFastAPI, KeyplaneKey
from keyplane.flask import KeyplaneFlask, require_key

from .keyplane_server import free_port, wait_for


def context_json(ctx: KeyplaneContext) -> dict[str, Any]:
    out = asdict(ctx)
    out["key"]["scopes"] = list(ctx.key.scopes)
    if out["reservation_id"] is None:
        del out["reservation_id"]
    return out


def flask_app(verifier: KeyVerifier, reporter: UsageReporter | None) -> Flask:
    app = Flask("things")
    KeyplaneFlask(app, verifier=verifier, reporter=reporter, meter=reporter is not None)

    @app.get("/things/<thing_id>")
    @require_key()
    def thing(thing_id: str) -> Any:
        # ?status=503: the call fails (its reservation on a budget is refunded).
        return {"id": thing_id, "keyplane": context_json(g.keyplane)}, int(flask_request.args.get("status", 200))

    @app.get("/admin-only")
    @require_key(scopes=["reports:admin"])
    def admin_only() -> Any:
        return {"keyplane": context_json(g.keyplane)}

    @app.get("/open")
    def open_route() -> Any:
        return {"id": "open"}

    return app


def fastapi_app(verifier: AsyncKeyVerifier, reporter: UsageReporter | None) -> FastAPI:
    app = FastAPI(title="things")
    KeyplaneFastAPI(app, verifier=verifier, reporter=reporter, meter=reporter is not None)

    @app.get("/things/{thing_id}")
    async def thing(
        thing_id: str, request: Request, response: Response, kp: KeyplaneContext = Depends(KeyplaneKey())
    ) -> Any:
        # ?status=503: the call fails (its reservation on a budget is refunded).
        response.status_code = int(request.query_params.get("status", 200))
        return {"id": thing_id, "keyplane": context_json(kp)}

    @app.get("/admin-only")
    async def admin_only(kp: KeyplaneContext = Depends(KeyplaneKey(scopes=["reports:admin"]))) -> Any:
        return {"keyplane": context_json(kp)}

    @app.get("/open")
    async def open_route() -> Any:
        return {"id": "open"}

    return app


@contextmanager
def serve_wsgi(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="flask-app", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join(10)


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # signals belong to the main thread (pytest)
        pass


@contextmanager
def serve_asgi(app: FastAPI) -> Iterator[str]:
    port = free_port()
    server = _ThreadServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), name="fastapi-app", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=30, what="uvicorn to start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
