"""The admin client against a real Keyplane: calls, the error envelope, retries and timeouts."""

import asyncio

import pytest

from keyplane import AsyncKeyplane, Keyplane, KeyplaneError
from keyplane.models import UsageEvent
from testsupport.faults import Fault, fault_proxy
from testsupport.keyplane_server import wait_for


def test_clients_keys_usage_and_invoices_round_trip(admin, keyplane_server):
    created = admin.create_client("Acme Corporation", "security@acme.example", tier="gold")
    cid = created["client"]["id"]
    assert created["apiKey"].startswith("kp_live_") and created["client"]["tier"] == "gold"
    assert admin.get_client(cid)["client"]["name"] == "Acme Corporation"
    assert any(c["id"] == cid for c in admin.list_clients(q="Acme Corporation")["data"])
    assert admin.update_client(cid, email="ops@acme.example")["client"]["email"] == "ops@acme.example"

    extra = admin.create_key(cid, name="ci", environment="test", scopes=["things:read"])
    kid = extra["key"]["id"]
    assert extra["key"]["environment"] == "test" and "apiKey" in extra
    assert {k["id"] for k in admin.list_keys(cid)["data"]} == {created["key"]["id"], kid}
    assert admin.revoke_key(cid, kid, reason="rotated")["status"] == "revoked"
    assert admin.verify(extra["apiKey"]).code == "REVOKED"
    assert admin.reactivate_key(cid, kid)["status"] == "active"
    assert admin.verify(extra["apiKey"], scopes=["things:read"]).valid
    rolled = admin.roll_key(cid, kid, grace_period_seconds=0)
    assert rolled["apiKey"] != extra["apiKey"]
    admin.delete_key(cid, rolled["key"]["id"])
    assert admin.verify(rolled["apiKey"]).code == "NOT_FOUND"

    answer = admin.record_usage([UsageEvent("rt-" + cid, cid, created["key"]["id"], "POST /api/alert", "POST", 200)])
    assert answer == {"recorded": 1, "rejected": []}
    wait_for(lambda: admin.usage(client_id=cid)["totals"]["calls"] == 1, what="the event in usage")
    assert admin.usage(client_id=cid, group_by="endpoint")["groups"][0]["cost"] == "0.10"
    assert admin.list_invoices(client_id=cid) == {"data": [], "nextCursor": None}

    assert admin.suspend_client(cid)["client"]["status"] == "suspended"
    assert admin.verify(created["apiKey"]).code == "CLIENT_SUSPENDED"
    assert admin.reactivate_client(cid)["client"]["status"] == "active"
    assert admin.delete_client(cid)["client"]["status"] == "deleted"
    assert admin.healthz()


def test_errors_arrive_as_keyplane_error_with_the_envelope(admin, keyplane_server):
    with pytest.raises(KeyplaneError) as missing:
        admin.get_client("client_nope")
    err = missing.value
    assert (err.status, err.code) == (404, "not_found")
    assert err.request_id and err.request_id.startswith("req_")
    assert "404 not_found" in str(err) and err.request_id in str(err)

    with Keyplane(keyplane_server.url, "kpadm_live_wrong") as bad:
        with pytest.raises(KeyplaneError) as refused:
            bad.list_clients()
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")

    narrow = Keyplane(keyplane_server.url, keyplane_server.token_with("verify"))
    with pytest.raises(KeyplaneError) as forbidden:
        narrow.create_client("x", "x@example.test")
    assert forbidden.value.status == 403
    with pytest.raises(KeyplaneError) as invalid:
        admin.create_client("", "not-an-email")
    assert (invalid.value.status, invalid.value.code) == (400, "validation_failed")

    with pytest.raises(KeyplaneError) as unconfigured:
        Keyplane(keyplane_server.url, None).list_clients()
    assert unconfigured.value.code == "not_configured"


def test_unreachable_keyplane_is_a_network_error_after_the_retries():
    kp = Keyplane("http://127.0.0.1:1", "kpadm_live_x", retries=2, retry_delay=0.001)
    with pytest.raises(KeyplaneError) as caught:
        kp.list_clients()
    assert (caught.value.status, caught.value.code) == (0, "network_error")
    assert "127.0.0.1:1" in str(caught.value) and "kpadm_live_x" not in str(caught.value)


def test_retries_only_idempotent_calls_on_503_and_network_errors(keyplane_server):
    faults = [
        Fault("GET", "/admin/v1/clients", 503, times=2),
        Fault("POST", "/admin/v1/clients", 503, times=1),
        Fault("DELETE", "/admin/v1/clients/", "drop", times=1),
        Fault("POST", "/admin/v1/verify", "drop", times=1),
    ]
    with fault_proxy(keyplane_server.url, *faults) as proxy:
        kp = Keyplane(proxy.url, keyplane_server.admin_token, retries=2, retry_delay=0.001)
        assert "data" in kp.list_clients()  # two 503s, then Keyplane's answer
        assert proxy.count("GET", "/admin/v1/clients") == 3

        with pytest.raises(KeyplaneError) as post:
            kp.create_client("once", "once@example.test")  # a POST is never repeated
        assert post.value.status == 503 and proxy.count("POST", "/admin/v1/clients") == 1

        created = kp.create_client("twice", "twice@example.test")
        kp.delete_client(created["client"]["id"])  # dropped connection, then retried
        assert proxy.count("DELETE", "/admin/v1/clients/") == 2

        with pytest.raises(KeyplaneError) as verify:
            kp.verify(created["apiKey"])  # may spend a credit: never retried
        assert verify.value.code == "network_error" and proxy.count("POST", "/admin/v1/verify") == 1


def test_gives_up_after_the_retries_with_the_last_error(keyplane_server):
    with fault_proxy(keyplane_server.url, Fault("GET", "/admin/v1/clients", 503, times=5)) as proxy:
        kp = Keyplane(proxy.url, keyplane_server.admin_token, retries=1, retry_delay=0.001)
        with pytest.raises(KeyplaneError) as caught:
            kp.list_clients()
        assert (caught.value.status, caught.value.code, caught.value.request_id) == (503, "service_unavailable", "req_fault")
        assert proxy.count("GET", "/admin/v1/clients") == 2


def test_a_timeout_is_reported_as_timeout():
    import socket

    # A listener that accepts and never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        kp = Keyplane(f"http://127.0.0.1:{silent.getsockname()[1]}", "kpadm_live_x", timeout=0.2, retries=0)
        with pytest.raises(KeyplaneError) as caught:
            kp.list_clients()
    assert (caught.value.status, caught.value.code) == (0, "timeout")


def test_async_client_makes_the_same_calls(keyplane_server):
    async def scenario() -> None:
        async with AsyncKeyplane(keyplane_server.url, keyplane_server.admin_token) as kp:
            created = await kp.create_client("Async Co", "async@example.test")
            cid = created["client"]["id"]
            key = await kp.create_key(cid, scopes=["things:read"], credits=5)
            ok, missing = await asyncio.gather(
                kp.verify(key["apiKey"], scopes=["things:read"]), kp.verify(key["apiKey"] + "x")
            )
            assert ok.valid and ok.client_id == cid and ok.remaining == 4
            assert missing.code == "MALFORMED"
            assert (await kp.get_key(cid, key["key"]["id"]))["scopes"] == ["things:read"]
            assert (await kp.revoke_key(cid, key["key"]["id"]))["status"] == "revoked"
            with pytest.raises(KeyplaneError) as caught:
                await kp.get_client("client_nope")
            assert caught.value.code == "not_found"
            assert (await kp.list_invoices(client_id=cid))["data"] == []
            assert await kp.healthz()

    asyncio.run(scenario())


def test_async_client_retries_idempotent_calls_only(keyplane_server):
    async def scenario() -> None:
        faults = [Fault("GET", "/admin/v1/clients", 503, times=1), Fault("POST", "/admin/v1/clients", 502, times=1)]
        with fault_proxy(keyplane_server.url, *faults) as proxy:
            async with AsyncKeyplane(proxy.url, keyplane_server.admin_token, retry_delay=0.001) as kp:
                assert "data" in await kp.list_clients()
                with pytest.raises(KeyplaneError):
                    await kp.create_client("a", "a@example.test")
            assert proxy.count("GET", "/admin/v1/clients") == 2
            assert proxy.count("POST", "/admin/v1/clients") == 1

    asyncio.run(scenario())
