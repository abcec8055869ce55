"""A fault-injecting HTTP proxy on loopback, in front of the real Keyplane: it plays the load
balancer or network that fails between a service and Keyplane. Each rule answers (or drops)
matching requests a given number of times; everything else is forwarded unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


@dataclass
class Fault:
    method: str
    path_prefix: str
    #: ``503``/``502``/…: answer that status without forwarding; ``"forward_then_502"``: forward
    #: to Keyplane, then lose its answer (502); ``"drop"``: close the connection unanswered.
    action: int | str
    times: int = 1


@dataclass
class FaultProxy:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    #: (method, path) of every request that reached the proxy, in order
    seen: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    def count(self, method: str, path_prefix: str) -> int:
        return sum(1 for m, p in self.seen if m == method and p.startswith(path_prefix))


def _handler(proxy: FaultProxy, client: httpx.Client) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            with lock:
                proxy.seen.append((self.command, self.path))
                fault = next(
                    (f for f in proxy.faults if f.times > 0 and f.method == self.command and self.path.startswith(f.path_prefix)),
                    None,
                )
                if fault is not None:
                    fault.times -= 1
            if fault is not None and fault.action == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if fault is not None and isinstance(fault.action, int):
                self._send(fault.action, b'{"error":{"code":"service_unavailable","message":"injected","requestId":"req_fault"}}', {"content-type": "application/json", "retry-after": "0"})
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
            res = client.request(self.command, proxy.upstream + self.path, content=body, headers=headers)
            if fault is not None:  # forward_then_502: Keyplane did the work, the answer is lost
                self._send(502, b"bad gateway", {"content-type": "text/plain"})
                return
            keep = {k: v for k, v in res.headers.items() if k.lower() in ("content-type", "x-request-id", "retry-after")}
            self._send(res.status_code, res.content, keep)

        def _send(self, status: int, content: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler


@contextmanager
def fault_proxy(upstream: str, *faults: Fault) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream, list(faults))
    with httpx.Client(timeout=30) as client:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy, client))
        server.daemon_threads = True
        proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, name="fault-proxy", daemon=True)
        thread.start()
        try:
            yield proxy
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)
