"""Seed 01/02 end to end in Flask: a real Keyplane (seed 02's price book) and the video API on
the SDK over real loopback HTTP; clients hold nothing but their API key."""

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from testsupport.apps import serve_wsgi
from testsupport.keyplane_server import usage_by_endpoint, wait_for
from video_api_flask import FrameStore, VideoApi, create_app

MAX_FRAME = 4096
BUDGET = 96 * 1024


@pytest.fixture(scope="module")
def api(keyplane_server: Any) -> Iterator[tuple[VideoApi, httpx.Client]]:
    token = keyplane_server.token_with("verify", "usage:write")
    video = create_app(
        keyplane_server.url, token, frames=FrameStore(max_frame_bytes=MAX_FRAME, max_total_bytes=BUDGET), report_interval=0.05
    )
    with serve_wsgi(video.app) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield video, http
    video.reporter.close()


def call(http: httpx.Client, key: str | None, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    headers = {"x-api-key": key} if key else {}
    res = http.request(method, path, headers=headers, json=body)
    return res.status_code, res.json()


def frame(size: int, fill: int) -> str:
    return base64.b64encode(bytes([fill]) * size).decode()


def usage_of(video: VideoApi, admin: Any, client_id: str, calls: int) -> dict[str, tuple[int, str]]:
    assert video.reporter.flush()
    wait_for(lambda: admin.usage(client_id=client_id)["totals"]["calls"] >= calls, what=f"{calls} calls in usage")
    return usage_by_endpoint(admin, client_id)


def test_refuses_calls_without_a_valid_key_and_meters_none(api, admin, new_client):
    video, http = api
    assert call(http, None, "GET", "/api/health")[0] == 401
    status, body = call(http, "kp_live_nope", "POST", "/api/video/buffer", {"frame_data": frame(10, 1), "frame_count": 1})
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    assert video.reporter.pending == 0


def test_each_client_has_its_own_buffer_and_pays_seed_02s_prices(api, admin, new_client):
    video, http = api
    acme, techco = new_client("acme"), new_client("techco")
    for i in range(1, 4):
        assert call(http, acme["api_key"], "POST", "/api/video/buffer", {"frame_data": frame(256, 7), "frame_count": i}) == (
            200,
            {"status": "buffered", "frame_count": i, "buffer_size": i},
        )
    for i in range(1, 6):
        fill = 0 if i % 2 else 255
        status, body = call(http, techco["api_key"], "POST", "/api/video/buffer", {"frame_data": frame(256, fill), "frame_count": i})
        assert body["buffer_size"] == i
    status, health = call(http, acme["api_key"], "GET", "/api/health")
    assert status == 200 and health["client"] == {"id": acme["id"]} and health["buffer_size"] == 3
    assert call(http, techco["api_key"], "GET", "/api/health")[1]["buffer_size"] == 5

    a = call(http, acme["api_key"], "POST", "/api/video/analyze")[1]
    assert (a["status"], a["frames_analyzed"], a["risk_level"]) == ("analyzed", 3, "LOW")
    t = call(http, techco["api_key"], "POST", "/api/video/analyze")[1]
    assert (t["frames_analyzed"], t["risk_level"], t["incident_detected"]) == (5, "HIGH", True)
    alert = call(http, techco["api_key"], "POST", "/api/alert", {"analysis": t["analysis"], "risk_level": "HIGH"})[1]
    assert (alert["status"], alert["risk_level"]) == ("alert_sent", "HIGH")

    # Exactly the calls made, at the price book's prices (health is not priced).
    assert usage_of(video, admin, acme["id"], 5) == {
        "POST /api/video/buffer": (3, "0.03"),
        "GET /api/health": (1, "0.00"),
        "POST /api/video/analyze": (1, "0.05"),
    }
    assert usage_of(video, admin, techco["id"], 8) == {
        "POST /api/video/buffer": (5, "0.05"),
        "GET /api/health": (1, "0.00"),
        "POST /api/video/analyze": (1, "0.05"),
        "POST /api/alert": (1, "0.10"),
    }


def test_oversized_frames_413_and_bad_bodies_400_in_the_envelope(api, new_client):
    video, http = api
    c = new_client("sloppy")
    status, body = call(http, c["api_key"], "POST", "/api/video/buffer", {"frame_data": frame(MAX_FRAME + 1, 1), "frame_count": 1})
    assert (status, body["error"]["code"]) == (413, "payload_too_large")
    assert call(http, c["api_key"], "POST", "/api/video/buffer", {"frame_data": frame(MAX_FRAME * 4, 1)})[0] == 413
    status, body = call(http, c["api_key"], "POST", "/api/alert", {"analysis": "x", "risk_level": "MEH"})
    assert (status, body["error"]["code"]) == (400, "validation_failed")
    assert call(http, c["api_key"], "POST", "/api/video/buffer", {"frame_data": "not base64!"})[0] == 400
    status, body = call(http, c["api_key"], "POST", "/api/video/analyze")
    assert (status, body["error"]["code"]) == (409, "no_frames")
    assert call(http, c["api_key"], "GET", "/api/health")[1]["buffer_size"] == 0


def test_the_memory_budget_holds_and_an_evicted_client_loses_only_its_own_frames(api, admin, new_client):
    video, http = api
    clients = [new_client(f"crowd{i}") for i in range(12)]
    peak = 0
    for c in clients:
        for f in range(1, 9):
            assert call(http, c["api_key"], "POST", "/api/video/buffer", {"frame_data": frame(2048, f), "frame_count": f})[0] == 200
            peak = max(peak, video.frames.total_bytes)
    assert peak <= BUDGET and video.frames.evictions > 0
    assert call(http, clients[11]["api_key"], "GET", "/api/health")[1]["buffer_size"] == 8
    assert call(http, clients[0]["api_key"], "GET", "/api/health")[1]["buffer_size"] == 0
    assert usage_of(video, admin, clients[0]["id"], 9) == {"POST /api/video/buffer": (8, "0.08"), "GET /api/health": (1, "0.00")}


def test_a_suspended_client_is_stopped_once_the_cache_expires(api, admin, new_client):
    video, http = api
    c = new_client("leaver")
    assert call(http, c["api_key"], "GET", "/api/health")[0] == 200
    admin.suspend_client(c["id"])
    video.verifier.clear()  # the operator's restart, or waiting out the 5 s TTL
    status, body = call(http, c["api_key"], "GET", "/api/health")
    assert (status, body["error"]["code"]) == (403, "client_suspended")
