"""A real ``keyplane serve`` for the Python suites (a pytest plugin): started once per session
on a free loopback port, a temporary ``KEYPLANE_DATA_DIR`` (SQLite) and seed 02's price book,
with an admin token made by ``keyplane admin-tokens create --json`` on the same data dir.

Tests may stop and restart it (same data dir, same port) to play an outage.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from keyplane import Keyplane

REPO = Path(__file__).resolve().parents[3]
BIN = REPO / "bin" / "keyplane"

#: Seed 02's prices, as the example's README tells the operator to configure them, plus the
#: SDK suites' own routes.
PRICING = {
    "POST /api/video/buffer": "0.01",
    "POST /api/video/analyze": "0.05",
    "POST /api/alert": "0.10",
    "GET /things/:thing_id": "0.02",
    "*": 0,
}

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 20.0, interval: float = 0.02, what: str = "condition") -> T:
    """Polls until ``condition()`` is truthy; fails after ``timeout`` seconds (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class KeyplaneServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="kp-py-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = self.dir / "keyplane.config.json"
        config.write_text(json.dumps({"pricing": PRICING, "billing": {"schedule": "off", "send": False}}))
        self.env = {
            **os.environ,
            "KEYPLANE_DATA_DIR": str(self.dir / "data"),
            "KEYPLANE_CONFIG": str(config),
            "KEYPLANE_PORT": str(self.port),
            "KEYPLANE_HOST": "127.0.0.1",
            "KEYPLANE_LOG_LEVEL": "warn",
        }
        self.env.pop("KEYPLANE_DATABASE_URL", None)
        self.env.pop("KEYPLANE_REDIS_URL", None)
        self.log_path = self.dir / "serve.log"
        self.admin_token = self._cli_json("admin-tokens", "create", "--name", "pytest")["token"]
        self._proc: subprocess.Popen[bytes] | None = None

    def _cli_json(self, *args: str) -> Any:
        out = subprocess.run(
            [str(BIN), *args, "--json"], env=self.env, cwd=REPO, capture_output=True, timeout=120, check=True
        )
        return json.loads(out.stdout)

    def start(self, timeout: float = 60.0) -> None:
        assert self._proc is None
        log = open(self.log_path, "ab")
        self._proc = subprocess.Popen([str(BIN), "serve"], env=self.env, cwd=REPO, stdout=log, stderr=log)
        log.close()

        def ready() -> bool:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"keyplane serve exited ({self._proc.returncode}):\n{self.log()}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, timeout=timeout, interval=0.05, what=f"keyplane serve on {self.url}")

    def stop(self, timeout: float = 30.0) -> None:
        """A graceful stop (SIGTERM: in-flight requests finish, buffered usage is flushed)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def admin(self, **kwargs: Any) -> Keyplane:
        return Keyplane(self.url, self.admin_token, **kwargs)

    def token_with(self, *scopes: str) -> str:
        with self.admin() as kp:
            return str(kp.create_admin_token(f"pytest {' '.join(scopes)}", scopes)["token"])

    def verify_calls(self) -> int:
        """Calls of POST /admin/v1/verify Keyplane answered, from its /metrics."""
        text = httpx.get(f"{self.url}/metrics", headers={"authorization": f"Bearer {self.admin_token}"}).text
        n = 0
        for line in text.splitlines():
            if line.startswith("keyplane_http_requests_total{") and 'route="/admin/v1/verify"' in line:
                n += int(float(line.rsplit(" ", 1)[1]))
        return n

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def keyplane_server() -> Iterator[KeyplaneServer]:
    server = KeyplaneServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture()
def admin(keyplane_server: KeyplaneServer) -> Iterator[Keyplane]:
    with keyplane_server.admin() as kp:
        yield kp


@pytest.fixture()
def new_client(admin: Keyplane) -> Callable[..., dict[str, Any]]:
    """Makes a fresh client (each test builds its own state); answers ``{id, key_id, api_key}``."""

    def make(name: str = "client") -> dict[str, Any]:
        unique = f"{name}-{uuid.uuid4().hex[:8]}"
        created = admin.create_client(unique, f"{unique.replace(' ', '-')}@example.test")
        return {"id": created["client"]["id"], "key_id": created["key"]["id"], "api_key": created["apiKey"]}

    return make


def usage_by_endpoint(kp: Keyplane, client_id: str) -> dict[str, tuple[int, str]]:
    u = kp.usage(client_id=client_id, group_by="endpoint")
    return {g["group"]: (g["calls"], g["cost"]) for g in u["groups"]}
