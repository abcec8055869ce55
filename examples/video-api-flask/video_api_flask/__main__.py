"""``python3 -m video_api_flask`` (from examples/video-api-flask, with sdks/python on
PYTHONPATH): KEYPLANE_URL (default http://127.0.0.1:8080), KEYPLANE_ADMIN_TOKEN (scopes verify
and usage:write), PORT (default 5002, as seed 01), HOST (default 127.0.0.1)."""

import os
import signal
import sys
import threading

from werkzeug.serving import make_server

from .app import create_app


def main() -> int:
    token = os.environ.get("KEYPLANE_ADMIN_TOKEN")
    if not token:
        print(
            "KEYPLANE_ADMIN_TOKEN is required: keyplane admin-tokens create --name video-api --scopes verify,usage:write",
            file=sys.stderr,
        )
        return 2
    api = create_app(os.environ.get("KEYPLANE_URL", "http://127.0.0.1:8080"), token)
    server = make_server(os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "5002")), api.app, threaded=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(f"video API on http://{server.host}:{server.port}", flush=True)
    stop.wait()
    server.shutdown()
    # Sends the usage still buffered to Keyplane before exiting.
    api.reporter.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
