"""Usage events land exactly once: batched, retried through an outage and a lost answer."""

import pytest

from keyplane import Keyplane, UsageReporter
from keyplane.models import UsageEvent
from testsupport.faults import Fault, fault_proxy
from testsupport.keyplane_server import usage_by_endpoint, wait_for


def calls_of(admin: Keyplane, client_id: str) -> int:
    return int(admin.usage(client_id=client_id)["totals"]["calls"])


def test_events_are_batched_priced_and_counted_once(keyplane_server, admin, new_client):
    c = new_client("batched")
    reporter = UsageReporter(keyplane_server.url, keyplane_server.token_with("usage:write"), flush_interval=60, max_batch=4)
    for _ in range(10):
        reporter.record(c["id"], c["key_id"], "POST /api/video/buffer", "post", 200, duration_ms=3.5)
    reporter.record(c["id"], c["key_id"], "POST /api/video/analyze", "POST", 200)
    # Full batches go at once, without waiting for the (60 s) interval.
    wait_for(lambda: reporter.stats.sent >= 8, what="the full batches")
    assert reporter.close()
    assert (reporter.stats.sent, reporter.pending) == (11, 0)
    wait_for(lambda: calls_of(admin, c["id"]) == 11, what="11 calls in usage")
    assert usage_by_endpoint(admin, c["id"]) == {
        "POST /api/video/buffer": (10, "0.10"),
        "POST /api/video/analyze": (1, "0.05"),
    }


def test_a_resent_batch_counts_once(keyplane_server, admin, new_client):
    c = new_client("resent")
    events = [UsageEvent(f"resend-{c['id']}-{i}", c["id"], c["key_id"], "POST /api/alert", "POST", 200) for i in range(3)]
    assert admin.record_usage(events)["recorded"] == 3
    admin.record_usage(events)
    admin.record_usage(events[:1])
    wait_for(lambda: calls_of(admin, c["id"]) >= 3, what="the events in usage")
    assert usage_by_endpoint(admin, c["id"]) == {"POST /api/alert": (3, "0.30")}


def test_a_lost_answer_is_retried_and_still_counted_once(keyplane_server, admin, new_client):
    c = new_client("lost answer")
    # Keyplane records the batch, then the proxy loses its answer: the transport resends it.
    fault = Fault("POST", "/admin/v1/usage/events", "forward_then_502", times=1)
    with fault_proxy(keyplane_server.url, fault) as proxy:
        reporter = UsageReporter(proxy.url, keyplane_server.admin_token, flush_interval=60)
        for _ in range(5):
            reporter.record(c["id"], c["key_id"], "POST /api/video/analyze", "POST", 200)
        assert reporter.flush()
        assert proxy.count("POST", "/admin/v1/usage/events") == 2
        reporter.close()
    wait_for(lambda: calls_of(admin, c["id"]) >= 5, what="the events in usage")
    assert usage_by_endpoint(admin, c["id"]) == {"POST /api/video/analyze": (5, "0.25")}


def test_events_survive_keyplane_being_down_and_land_once_after_restart(keyplane_server, admin, new_client):
    c = new_client("outage")
    errors: list[str] = []
    reporter = UsageReporter(
        keyplane=Keyplane(keyplane_server.url, keyplane_server.admin_token, timeout=2.0, retries=1, retry_delay=0.01),
        flush_interval=0.05,
        max_backoff=0.2,
        on_error=lambda err, dropped: errors.append(f"{getattr(err, 'code', err)}/{dropped}"),
    )
    for _ in range(3):
        reporter.record(c["id"], c["key_id"], "POST /api/alert", "POST", 200)
    assert reporter.flush()
    keyplane_server.stop()  # graceful: Keyplane flushes what it holds
    try:
        for _ in range(4):
            reporter.record(c["id"], c["key_id"], "POST /api/alert", "POST", 200)
        assert not reporter.flush() and reporter.pending == 4
        wait_for(lambda: reporter.stats.failures >= 3, what="the background thread to keep retrying")
        assert errors and all(e.endswith("/0") for e in errors)  # failed, nothing dropped
    finally:
        keyplane_server.start()  # same data dir, same port
    wait_for(lambda: reporter.pending == 0, timeout=30, what="the reporter to catch up")
    reporter.close()
    wait_for(lambda: calls_of(admin, c["id"]) >= 7, what="7 calls in usage")
    assert usage_by_endpoint(admin, c["id"]) == {"POST /api/alert": (7, "0.70")}
    assert reporter.stats.sent == 7 and reporter.stats.dropped == 0


def test_a_refused_batch_is_dropped_and_the_queue_is_bounded(keyplane_server, new_client):
    c = new_client("refused batch")
    dropped: list[int] = []
    reporter = UsageReporter(
        keyplane_server.url, keyplane_server.token_with("verify"), flush_interval=60, max_queue=5,
        on_error=lambda err, n: dropped.append(n),
    )
    for _ in range(8):
        reporter.record(c["id"], c["key_id"], "GET /x", "GET", 200)
    assert reporter.stats.dropped == 3 and reporter.pending == 5  # the oldest went first
    assert reporter.flush()  # 403: retrying cannot help, the batch is dropped
    assert dropped == [5] and reporter.stats.dropped == 8 and reporter.pending == 0
    reporter.close()


def test_an_event_naming_another_clients_key_is_rejected(keyplane_server, admin, new_client):
    a, b = new_client("a"), new_client("b")
    rejected: list[int] = []
    reporter = UsageReporter(keyplane_server.url, keyplane_server.admin_token, on_error=lambda e, n: rejected.append(n))
    reporter.record(a["id"], b["key_id"], "POST /api/alert", "POST", 200)
    reporter.record(a["id"], a["key_id"], "POST /api/alert", "POST", 200)
    assert reporter.close()
    assert (reporter.stats.sent, reporter.stats.rejected, rejected) == (1, 1, [1])
    wait_for(lambda: calls_of(admin, a["id"]) == 1, what="a's one call")
    assert calls_of(admin, b["id"]) == 0
