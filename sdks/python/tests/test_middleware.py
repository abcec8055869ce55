"""Flask and FastAPI middleware against a real Keyplane, over real loopback HTTP: every outcome
code answers the status, code and headers Keyplane itself uses (SPEC §2)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from keyplane import AsyncKeyVerifier, KeyVerifier, UsageReporter
from testsupport.apps import fastapi_app, flask_app, serve_asgi, serve_wsgi
from testsupport.keyplane_server import usage_by_endpoint, wait_for

FRAMEWORKS = ["flask", "fastapi"]


@dataclass
class Service:
    framework: str
    url: str
    http: httpx.Client
    verifier: KeyVerifier | AsyncKeyVerifier
    reporter: UsageReporter
    clock: list[float]

    def get(self, path: str, key: str | None = None, **headers: str) -> httpx.Response:
        if key is not None:
            headers["x-api-key"] = key
        return self.http.get(path, headers=headers)


def build(framework: str, keyplane_server: Any, *, cache_ttl: float = 60.0, clock: Any = None) -> tuple[Any, Any, Any]:
    token = keyplane_server.token_with("verify", "usage:write")
    kind = KeyVerifier if framework == "flask" else AsyncKeyVerifier
    verifier = kind(keyplane_server.url, token, cache_ttl=cache_ttl, negative_cache_ttl=1.0, **({"clock": clock} if clock else {}))
    reporter = UsageReporter(keyplane_server.url, token, flush_interval=0.05)
    app = flask_app(verifier, reporter) if framework == "flask" else fastapi_app(verifier, reporter)
    return app, verifier, reporter


@pytest.fixture(scope="module", params=FRAMEWORKS)
def service(request: Any, keyplane_server: Any) -> Iterator[Service]:
    clock = [1_000.0]
    app, verifier, reporter = build(request.param, keyplane_server, clock=lambda: clock[0])
    with ExitStack() as stack:
        url = stack.enter_context(serve_wsgi(app) if request.param == "flask" else serve_asgi(app))
        http = stack.enter_context(httpx.Client(base_url=url, timeout=30))
        yield Service(request.param, url, http, verifier, reporter, clock)
        reporter.close()


def error_of(res: httpx.Response) -> dict[str, str]:
    assert res.headers["content-type"].startswith("application/json")
    err = res.json()["error"]
    assert set(err) == {"code", "message", "requestId"} and err["requestId"]
    assert res.headers["x-request-id"] == err["requestId"]
    return err


def test_a_valid_key_passes_and_the_context_is_on_the_request(service, new_client, admin):
    c = new_client(service.framework)
    narrow = admin.create_key(c["id"], scopes=["things:read"], meta={"plan": "pro"})
    res = service.get("/things/42", narrow["apiKey"])
    assert res.status_code == 200
    assert res.json() == {
        "id": "42",
        "keyplane": {
            "client": {"id": c["id"]},
            "key": {"id": narrow["key"]["id"], "environment": "live", "scopes": ["things:read"], "meta": {"plan": "pro"}},
            "remaining": None,
        },
    }
    assert service.get("/things/1", authorization=f"Bearer {narrow['apiKey']}").status_code == 200
    assert service.get("/open").status_code == 200


def test_401_for_no_key_malformed_unknown_revoked_and_expired(service, new_client, admin, keyplane_server):
    c = new_client("refused")
    none = service.get("/things/1")
    assert none.status_code == 401 and error_of(none)["code"] == "unauthorized"
    assert error_of(service.get("/things/1", authorization="Bearer"))["code"] == "unauthorized"

    before = service.verifier.stats.offline
    malformed = service.get("/things/1", c["api_key"][:-1] + ("A" if c["api_key"][-1] != "A" else "B"))
    assert malformed.status_code == 401 and error_of(malformed)["message"] == "malformed API key"
    assert service.verifier.stats.offline == before + 1

    doomed = admin.create_key(c["id"], name="doomed")
    admin.delete_key(c["id"], doomed["key"]["id"])
    assert error_of(service.get("/things/1", doomed["apiKey"]))["message"] == "unknown API key"

    revoked = admin.create_key(c["id"], name="revoked")
    admin.revoke_key(c["id"], revoked["key"]["id"], reason="leaked")
    res = service.get("/things/1", revoked["apiKey"])
    assert res.status_code == 401 and error_of(res)["message"] == "API key revoked"

    expiring = admin.create_key(c["id"], name="expiring", expiresInSeconds=1)
    wait_for(lambda: admin.verify(expiring["apiKey"]).code == "EXPIRED", what="the key to expire")
    res = service.get("/things/1", expiring["apiKey"])
    assert res.status_code == 401 and error_of(res)["message"] == "API key expired"


def test_403_for_scope_ip_allowlist_and_suspended_client(service, new_client, admin):
    c = new_client("forbidden")
    narrow = admin.create_key(c["id"], scopes=["things:read"])["apiKey"]
    res = service.get("/admin-only", narrow)
    assert res.status_code == 403 and error_of(res)["code"] == "insufficient_scope"
    scoped = admin.create_key(c["id"], scopes=["reports:admin"])["apiKey"]
    assert service.get("/admin-only", scoped).json()["keyplane"]["key"]["scopes"] == ["reports:admin"]

    local = admin.create_key(c["id"], ipAllowlist=["127.0.0.1/32", "::1"])["apiKey"]
    assert service.get("/things/1", local).status_code == 200
    remote = admin.create_key(c["id"], ipAllowlist=["10.0.0.0/8"])["apiKey"]
    res = service.get("/things/1", remote)
    assert res.status_code == 403 and error_of(res)["code"] == "ip_not_allowed"

    other = new_client("suspended")
    admin.suspend_client(other["id"])
    res = service.get("/things/1", other["api_key"])
    assert res.status_code == 403 and error_of(res)["code"] == "client_suspended"


def test_429_with_retry_after_for_credits_and_ratelimit_headers(service, new_client, admin):
    c = new_client("limited")
    metered = admin.create_key(c["id"], credits=2)["apiKey"]
    first = service.get("/things/1", metered)
    assert first.status_code == 200 and first.json()["keyplane"]["remaining"] == 1
    assert service.get("/things/1", metered).status_code == 200
    out = service.get("/things/1", metered)  # every call reached Keyplane: none was cached
    assert out.status_code == 429 and error_of(out)["code"] == "usage_exceeded"
    assert int(out.headers["retry-after"]) > 0

    limited = admin.create_key(c["id"], rateLimit={"limit": 2, "windowSeconds": 60})["apiKey"]
    ok = service.get("/things/1", limited)
    assert ok.status_code == 200
    assert (ok.headers["ratelimit-limit"], ok.headers["ratelimit-remaining"]) == ("2", "1")
    assert 0 <= int(ok.headers["ratelimit-reset"]) <= 60
    assert service.get("/things/1", limited).status_code == 200
    res = service.get("/things/1", limited)
    assert res.status_code == 429 and error_of(res)["code"] == "rate_limited"
    assert res.headers["ratelimit-remaining"] == "0"
    assert 0 < int(res.headers["retry-after"]) <= 60


def test_a_repeated_key_costs_keyplane_one_verification(service, new_client, keyplane_server):
    c = new_client("cached")
    before = keyplane_server.verify_calls()
    cached = service.verifier.stats.cached
    for i in range(5):
        assert service.get(f"/things/{i}", c["api_key"]).status_code == 200
    assert service.verifier.stats.cached - cached == 4
    wait_for(lambda: keyplane_server.verify_calls() >= before + 1, what="the verification in /metrics")
    assert keyplane_server.verify_calls() == before + 1


def test_a_revocation_is_seen_once_the_cache_ttl_has_passed(service, new_client, admin):
    c = new_client("revoked soon")
    assert service.get("/things/1", c["api_key"]).status_code == 200
    admin.revoke_key(c["id"], c["key_id"], reason="rotated")
    # Within the TTL the cached answer stands (the trade the cache makes)…
    assert service.get("/things/1", c["api_key"]).status_code == 200
    # …and after it, Keyplane is asked again.
    service.clock[0] += 60.001
    res = service.get("/things/1", c["api_key"])
    assert res.status_code == 401 and error_of(res)["message"] == "API key revoked"


def test_refusals_are_cached_shorter_than_valid_answers(service, new_client, admin):
    c = new_client("negative")
    key = admin.create_key(c["id"], name="later")
    admin.revoke_key(c["id"], key["key"]["id"])
    assert service.get("/things/1", key["apiKey"]).status_code == 401
    admin.reactivate_key(c["id"], key["key"]["id"])
    assert service.get("/things/1", key["apiKey"]).status_code == 401  # the refusal, cached
    service.clock[0] += 1.001  # the negative TTL, not the 60 s of a valid answer
    assert service.get("/things/1", key["apiKey"]).status_code == 200


def test_each_authenticated_call_is_metered_as_the_route_template(service, new_client, admin, keyplane_server):
    c = new_client("metered")
    narrow = admin.create_key(c["id"], scopes=["things:read"])["apiKey"]
    for i in range(3):
        assert service.get(f"/things/{i}", narrow).status_code == 200
    assert service.get("/admin-only", narrow).status_code == 403  # refused: never metered
    assert service.get("/things/1").status_code == 401
    assert service.reporter.flush()
    wait_for(lambda: usage_by_endpoint(admin, c["id"]), what="usage")
    assert usage_by_endpoint(admin, c["id"]) == {"GET /things/:thing_id": (3, "0.06")}


def test_on_a_budget_each_call_is_verified_and_its_report_settles_its_reservation(service, new_client, admin, keyplane_server):
    c = new_client("budgeted")
    narrow = admin.create_key(c["id"], scopes=["things:read"])["apiKey"]
    api = httpx.Client(base_url=keyplane_server.url, headers={"authorization": f"Bearer {keyplane_server.admin_token}"})
    with api:
        # Room for three calls at 0.02 a day.
        made = api.post(f"/admin/v1/clients/{c['id']}/budgets", json={"amount": "0.06", "period": "day", "mode": "hard"})
        assert made.status_code == 201, made.text
        url = f"/admin/v1/clients/{c['id']}/budgets/{made.json()['budget']['id']}"

        def spent() -> int:
            return int(api.get(url).json()["budget"]["current"]["spentMicros"])

        remote, cached = service.verifier.stats.remote, service.verifier.stats.cached
        assert service.get("/things/1", narrow).status_code == 200
        assert service.get("/things/2?status=503", narrow).status_code == 503
        assert service.get("/things/3", narrow).status_code == 200
        # A reserved answer is one call's: each call asked Keyplane, none came from the cache.
        assert (service.verifier.stats.remote - remote, service.verifier.stats.cached - cached) == (3, 0)
        assert service.reporter.flush()
        # Each report named its call's reservation: the 503 was refunded, the others settled.
        wait_for(lambda: spent() == 40_000, what="the 503's reservation refunded")
        assert service.get("/things/4", narrow).status_code == 200
        assert service.get("/things/5", narrow).status_code == 429
        assert service.reporter.flush()
        wait_for(lambda: usage_by_endpoint(admin, c["id"]).get("GET /things/:thing_id") == (4, "0.06"), what="usage")
        assert spent() == 60_000


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_fails_closed_with_503_when_keyplane_is_unreachable(framework, keyplane_server, new_client):
    c = new_client("unreachable")
    kind = KeyVerifier if framework == "flask" else AsyncKeyVerifier
    verifier = kind("http://127.0.0.1:1", "kpadm_live_x")
    app = flask_app(verifier, None) if framework == "flask" else fastapi_app(verifier, None)
    with (serve_wsgi(app) if framework == "flask" else serve_asgi(app)) as url:
        res = httpx.get(f"{url}/things/1", headers={"x-api-key": c["api_key"]})
    assert res.status_code == 503 and error_of(res)["code"] == "service_unavailable"
    assert res.headers["retry-after"] == "1"
    assert c["api_key"] not in res.text


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_revocation_is_seen_within_the_real_cache_ttl(framework, keyplane_server, new_client, admin):
    ttl = 0.5
    app, verifier, reporter = build(framework, keyplane_server, cache_ttl=ttl)
    c = new_client("real clock")
    with (serve_wsgi(app) if framework == "flask" else serve_asgi(app)) as url:
        with httpx.Client(base_url=url, headers={"x-api-key": c["api_key"]}) as http:
            assert http.get("/things/1").status_code == 200
            admin.revoke_key(c["id"], c["key_id"])
            revoked_at = time.monotonic()
            wait_for(lambda: http.get("/things/1").status_code == 401, timeout=ttl + 10, what="the revocation")
            seen_after = time.monotonic() - revoked_at
    reporter.close()
    print(f"\n[{framework}] revocation seen after {seen_after:.3f} s (cache TTL {ttl} s)")
    assert verifier.stats.remote >= 2


def test_the_verifier_cache_is_bounded_least_recently_used_first(keyplane_server, new_client):
    c = new_client("lru")
    verifier = KeyVerifier(keyplane_server.url, keyplane_server.admin_token, cache_size=2)
    verifier.verify(c["api_key"], ip="10.0.0.1")
    verifier.verify(c["api_key"], ip="10.0.0.2")
    verifier.verify(c["api_key"], ip="10.0.0.1")  # refreshes .1
    verifier.verify(c["api_key"], ip="10.0.0.3")  # evicts .2
    assert (verifier.stats.remote, verifier.stats.cached) == (3, 1)
    verifier.verify(c["api_key"], ip="10.0.0.1")
    assert verifier.stats.cached == 2
    verifier.verify(c["api_key"], ip="10.0.0.2")
    assert verifier.stats.remote == 4
