"""Seed 01/02's video-analysis API in Flask on the ``keyplane`` SDK alone: Keyplane verifies
every key (the service never sees a key's hash or its client's data) and meters every call;
prices live in Keyplane's price book, not here. The twin of ``examples/video-api`` (Fastify).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from keyplane import KeyVerifier, UsageReporter
from keyplane.flask import KeyplaneFlask, require_key

from .analyze import analyze_frames
from .frame_store import FrameStore

RISK_LEVELS = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]+")
log = logging.getLogger("video_api")


@dataclass
class VideoApi:
    app: Flask
    frames: FrameStore
    verifier: KeyVerifier
    reporter: UsageReporter


def envelope(code: str, message: str, status: int) -> Response:
    rid = getattr(g, "keyplane_request_id", None) or f"req_{uuid.uuid4().hex}"
    response = jsonify({"error": {"code": code, "message": message, "requestId": rid}})
    response.status_code = status
    response.headers["x-request-id"] = rid
    return response


def create_app(
    keyplane_url: str,
    admin_token: str,
    *,
    frames: FrameStore | None = None,
    cache_ttl: float = 5.0,
    report_interval: float = 1.0,
) -> VideoApi:
    """``admin_token`` needs scopes ``verify`` and ``usage:write``."""
    store = frames or FrameStore()
    verifier = KeyVerifier(keyplane_url, admin_token, cache_ttl=cache_ttl)
    reporter = UsageReporter(keyplane_url, admin_token, flush_interval=report_interval)
    app = Flask("video_api_flask")
    # base64 of the largest frame, plus room for the rest of the JSON.
    app.config["MAX_CONTENT_LENGTH"] = -(-store.max_frame_bytes // 3) * 4 + 16 * 1024
    KeyplaneFlask(app, verifier=verifier, reporter=reporter)
    _errors(app, store)
    _routes(app, store)
    return VideoApi(app, store, verifier, reporter)


def _errors(app: Flask, store: FrameStore) -> None:
    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> Response:
        status = err.code or 500
        if status == 413:
            return envelope("payload_too_large", f"frame larger than {store.max_frame_bytes} bytes", 413)
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
        return envelope(codes.get(status, "bad_request"), err.description or err.name, status)

    @app.errorhandler(Exception)
    def internal(err: Exception) -> Response:
        log.exception("unhandled error")
        return envelope("internal_error", "internal error", 500)


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _routes(app: Flask, store: FrameStore) -> None:
    @app.post("/api/video/buffer")
    @require_key()
    def buffer() -> Any:
        body = _json_body()
        raw, count = body.get("frame_data"), body.get("frame_count", 1)
        if not isinstance(raw, str) or not raw or not _BASE64.fullmatch(raw):
            return envelope("validation_failed", "frame_data must be a non-empty base64 string", 400)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            return envelope("validation_failed", "frame_count must be an integer >= 0", 400)
        try:
            data = base64.b64decode("".join(raw.split()), validate=True)
        except (binascii.Error, ValueError):
            return envelope("validation_failed", "frame_data is not valid base64", 400)
        size = store.add(g.keyplane.client.id, data, count)
        if size is None:
            return envelope("payload_too_large", f"frame larger than {store.max_frame_bytes} bytes", 413)
        return {"status": "buffered", "frame_count": count, "buffer_size": size}

    @app.post("/api/video/analyze")
    @require_key()
    def analyze() -> Any:
        buffered = store.frames(g.keyplane.client.id)
        if not buffered:
            return envelope("no_frames", "buffer some frames first (POST /api/video/buffer)", 409)
        return {"status": "analyzed", **analyze_frames(buffered)}

    @app.post("/api/alert")
    @require_key()
    def alert() -> Any:
        body = _json_body()
        analysis, risk = body.get("analysis"), body.get("risk_level")
        if not isinstance(analysis, str) or not 1 <= len(analysis) <= 10_000 or risk not in RISK_LEVELS:
            return envelope("validation_failed", f"analysis (1..10000 chars) and risk_level in {RISK_LEVELS}", 400)
        # Seed 01 emails the alert to the client's address; here it is logged for the operator.
        log.warning("security alert client=%s risk=%s", g.keyplane.client.id, risk)
        return {"status": "alert_sent", "alert_id": str(uuid.uuid4()), "risk_level": risk}

    @app.get("/api/health")
    @require_key()
    def health() -> Any:
        from datetime import datetime, timezone

        return {
            "status": "ok",
            "timestamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "client": {"id": g.keyplane.client.id},
            "buffer_size": store.size(g.keyplane.client.id),
        }
