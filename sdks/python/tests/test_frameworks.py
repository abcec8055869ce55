"""What is particular to each framework: FastAPI's OpenAPI and route templates, Flask's
app-wide protection, and that every answer (errors too) is metered once."""

import asyncio
from typing import Any

import httpx
from fastapi import Depends, FastAPI
from flask import Flask, abort, g

from keyplane import AsyncKeyVerifier, KeyplaneContext, KeyVerifier, UsageReporter
from keyplane.fastapi import KeyplaneFastAPI, KeyplaneKey
from keyplane.flask import KeyplaneFlask, exempt, require_key
from testsupport.apps import fastapi_app
from testsupport.keyplane_server import usage_by_endpoint, wait_for


def test_fastapi_openapi_declares_the_api_key_header(keyplane_server):
    app = fastapi_app(AsyncKeyVerifier(keyplane_server.url, "kpadm_live_x"), None)
    spec = app.openapi()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["KeyplaneApiKey"]["type"] == "apiKey"
    assert (schemes["KeyplaneApiKey"]["in"], schemes["KeyplaneApiKey"]["name"]) == ("header", "X-API-Key")
    assert (schemes["KeyplaneBearer"]["type"], schemes["KeyplaneBearer"]["scheme"]) == ("http", "bearer")
    protected = spec["paths"]["/things/{thing_id}"]["get"]["security"]
    assert {"KeyplaneApiKey": []} in protected and {"KeyplaneBearer": []} in protected
    assert "security" not in spec["paths"]["/open"]["get"]
    # The header is a security scheme, not a parameter the docs would ask for twice.
    names = [p["name"] for p in spec["paths"]["/things/{thing_id}"]["get"]["parameters"]]
    assert names == ["thing_id"]


def fastapi_service(verifier: AsyncKeyVerifier, reporter: UsageReporter) -> FastAPI:
    app = FastAPI()
    KeyplaneFastAPI(app, verifier=verifier, reporter=reporter)
    guard = Depends(KeyplaneKey())

    @app.get("/files/{bucket}/{name:path}")
    async def files(bucket: str, name: str, kp: KeyplaneContext = guard) -> Any:
        return {"bucket": bucket, "name": name}

    @app.post("/boom")
    async def boom(kp: KeyplaneContext = guard) -> Any:
        raise RuntimeError("exploded")

    @app.get("/named", dependencies=[Depends(KeyplaneKey(endpoint="GET /v2/named"))])
    async def named() -> Any:
        return {"ok": True}

    return app


def test_fastapi_metering_uses_the_route_template_and_the_real_status(keyplane_server, admin, new_client):
    c = new_client("fastapi meter")
    token = keyplane_server.token_with("verify", "usage:write")
    reporter = UsageReporter(keyplane_server.url, token, flush_interval=0.05)
    verifier = AsyncKeyVerifier(keyplane_server.url, token)
    app = fastapi_service(verifier, reporter)

    async def calls() -> None:
        # In-process ASGI, so the unhandled error's 500 is seen whole (uvicorn may reset it).
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://svc", headers={"x-api-key": c["api_key"]}) as http:
            assert (await http.get("/files/b1/a/b/c.txt")).json() == {"bucket": "b1", "name": "a/b/c.txt"}
            assert (await http.get("/files/b2/d.txt")).status_code == 200
            assert (await http.post("/boom")).status_code == 500
            assert (await http.get("/named")).status_code == 200
            assert (await http.get("/files/b1/x", headers={"x-api-key": ""})).status_code == 401
        await verifier.keyplane.aclose()

    asyncio.run(calls())
    assert reporter.close()
    wait_for(lambda: admin.usage(client_id=c["id"])["totals"]["calls"] == 4, what="four calls in usage")
    assert usage_by_endpoint(admin, c["id"]) == {
        "GET /files/:bucket/:name": (2, "0.00"),
        "POST /boom": (1, "0.00"),
        "GET /v2/named": (1, "0.00"),
    }


def test_the_async_verifier_shares_one_answer_between_concurrent_calls(keyplane_server, new_client):
    c = new_client("async verifier")

    async def scenario() -> tuple[int, int]:
        verifier = AsyncKeyVerifier(keyplane_server.url, keyplane_server.admin_token)
        first = await verifier.check(c["api_key"], ip="127.0.0.1")
        assert first.ok and first.context.client.id == c["id"]
        checks = await asyncio.gather(*(verifier.check(c["api_key"], ip="127.0.0.1") for _ in range(20)))
        assert all(ch.ok for ch in checks)
        await verifier.keyplane.aclose()
        return verifier.stats.remote, verifier.stats.cached

    assert asyncio.run(scenario()) == (1, 20)


def flask_service(verifier: KeyVerifier, reporter: UsageReporter) -> Flask:
    app = Flask("protected")
    KeyplaneFlask(app, verifier=verifier, reporter=reporter, protect_all=True)

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> Any:
        if item_id == 0:
            abort(404)
        if item_id == 13:
            raise RuntimeError("unlucky")
        return {"id": item_id, "client": g.keyplane.client.id}

    @app.get("/reports")
    @require_key(scopes=["reports:read"])
    def reports() -> Any:
        return {"scopes": list(g.keyplane.key.scopes)}

    @app.get("/status")
    @exempt
    def status() -> Any:
        return {"ok": True}

    return app


def test_flask_protect_all_meters_every_answer_once(keyplane_server, admin, new_client):
    c = new_client("flask app-wide")
    readers = admin.create_key(c["id"], scopes=["reports:read"])["apiKey"]
    others = admin.create_key(c["id"], scopes=["things:read"])["apiKey"]
    token = keyplane_server.token_with("verify", "usage:write")
    reporter = UsageReporter(keyplane_server.url, token, flush_interval=60)
    app = flask_service(KeyVerifier(keyplane_server.url, token), reporter)
    http = app.test_client()
    assert http.get("/status").status_code == 200  # exempt: no key needed
    assert http.get("/items/7").status_code == 401
    assert http.get("/items/7", headers={"x-api-key": others}).json == {"id": 7, "client": c["id"]}
    assert http.get("/items/0", headers={"x-api-key": others}).status_code == 404
    assert http.get("/items/13", headers={"x-api-key": others}).status_code == 500
    assert http.get("/reports", headers={"x-api-key": others}).status_code == 403
    assert http.get("/reports", headers={"x-api-key": readers}).json == {"scopes": ["reports:read"]}
    assert reporter.pending == 4  # 200, 404, 500, 200: each authenticated answer once
    assert reporter.close()
    wait_for(lambda: admin.usage(client_id=c["id"])["totals"]["calls"] == 4, what="four calls")
    assert usage_by_endpoint(admin, c["id"]) == {"GET /items/:item_id": (3, "0.00"), "GET /reports": (1, "0.00")}
