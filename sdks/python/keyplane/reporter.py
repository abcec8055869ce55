"""Usage metering: events batched in memory and sent to Keyplane by a background thread."""

from __future__ import annotations

import atexit
import logging
import threading
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .client import Keyplane
from .errors import KeyplaneError
from .models import UsageEvent

log = logging.getLogger("keyplane.usage")

#: Keyplane's limit per request (POST /admin/v1/usage/events).
MAX_BATCH = 1000


@dataclass
class ReporterStats:
    #: events Keyplane recorded
    sent: int = 0
    #: events Keyplane refused (a key that is not its client's)
    rejected: int = 0
    #: events dropped: queue full, or a batch refused as a whole
    dropped: int = 0
    #: batches that failed and stay queued for a retry
    failures: int = 0


def _warn(err: Exception, dropped: int) -> None:
    log.warning("keyplane usage report: %s (dropped %d)", err, dropped)


class UsageReporter:
    """Meters calls to a service's own endpoints into Keyplane (``POST /admin/v1/usage/events``,
    admin token scope ``usage:write``).

    ``record()`` never waits for the network: events go to a bounded in-memory queue
    (``max_queue``, the oldest dropped past it) and a background thread sends them in batches at
    most ``flush_interval`` seconds late. Each event gets a request id when recorded and keeps
    it through every retry, so a batch resent after a lost answer or an outage is counted once.
    While Keyplane is unreachable, batches stay queued and are retried with backoff (up to
    ``max_backoff``). ``close()`` (also run at interpreter exit) sends what is left.

    Example::

        reporter = UsageReporter("http://127.0.0.1:8080", os.environ["KEYPLANE_ADMIN_TOKEN"])
        reporter.record(client_id, key_id, "POST /api/video/analyze", "POST", 200, duration_ms=12.5)
        reporter.close()  # on shutdown: sends everything still buffered
    """

    def __init__(
        self,
        base_url: str | None = None,
        admin_token: str | None = None,
        *,
        keyplane: Keyplane | None = None,
        flush_interval: float = 1.0,
        max_batch: int = 500,
        max_queue: int = 100_000,
        max_backoff: float = 30.0,
        on_error: Callable[[Exception, int], None] = _warn,
    ) -> None:
        self.keyplane = keyplane or Keyplane(base_url or "", admin_token)
        self.flush_interval = flush_interval
        self.max_batch = min(MAX_BATCH, max(1, max_batch))
        self.max_queue = max(1, max_queue)
        self.max_backoff = max_backoff
        self.on_error = on_error
        self.stats = ReporterStats()
        self._queue: deque[UsageEvent] = deque()
        self._inflight: list[UsageEvent] = []
        self._cond = threading.Condition()
        # One batch on the wire at a time, whoever sends it (the thread or flush()).
        self._send_lock = threading.Lock()
        self._failures = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        atexit.register(_close_at_exit, weakref.ref(self))

    def record(
        self,
        client_id: str,
        key_id: str,
        endpoint: str,
        method: str,
        status: int,
        *,
        duration_ms: float = 0.0,
        request_id: str | None = None,
        reservation_id: str | None = None,
    ) -> None:
        """Queues one finished call (``reservation_id``: its verify answer's, which it settles)."""
        event = UsageEvent(
            request_id or str(uuid.uuid4()),
            client_id,
            key_id,
            endpoint,
            method.upper(),
            status,
            duration_ms,
            reservation_id,
        )
        with self._cond:
            self._queue.append(event)
            overflow = len(self._queue) - self.max_queue
            for _ in range(max(0, overflow)):
                self._queue.popleft()
            if overflow > 0:
                self.stats.dropped += overflow
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="keyplane-usage", daemon=True)
                self._thread.start()
            if len(self._queue) >= self.max_batch:
                self._cond.notify()

    @property
    def pending(self) -> int:
        """Events not yet accepted by Keyplane (queued or on the wire)."""
        with self._cond:
            return len(self._queue) + len(self._inflight)

    def flush(self) -> bool:
        """Sends everything queued so far, in the caller's thread. True when nothing is left;
        False when Keyplane could not be reached (the events stay queued)."""
        return self._drain()

    def close(self, timeout: float = 10.0) -> bool:
        """Stops the thread and sends what is left (one attempt). True when nothing is left."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        return self._drain()

    def _run(self) -> None:
        while True:
            with self._cond:
                delay = self.flush_interval
                if self._failures:
                    delay = min(self.max_backoff, self.flush_interval * 2**self._failures)
                if not self._closed and len(self._queue) < self.max_batch:
                    self._cond.wait(delay)
                if self._closed:
                    return
            self._drain()

    def _drain(self) -> bool:
        with self._send_lock:
            while True:
                with self._cond:
                    if not self._queue:
                        return True
                    n = min(self.max_batch, len(self._queue))
                    self._inflight = [self._queue.popleft() for _ in range(n)]
                if not self._send(self._inflight):
                    with self._cond:
                        # Back at the front, with the same request ids, for the next attempt.
                        self._queue.extendleft(reversed(self._inflight))
                        self._inflight = []
                    return False
                with self._cond:
                    self._inflight = []

    def _send(self, batch: list[UsageEvent]) -> bool:
        """True when the batch is done with (recorded, or refused for good)."""
        try:
            answer = self.keyplane.record_usage(batch)
        except KeyplaneError as err:
            if err.status == 0 or err.status >= 500 or err.status == 429:
                self._failures += 1
                self.stats.failures += 1
                self.on_error(err, 0)
                return False
            # Refused as a whole (bad token, invalid batch): retrying cannot help.
            self.stats.dropped += len(batch)
            self.on_error(err, len(batch))
            return True
        self._failures = 0
        self.stats.sent += answer["recorded"]
        rejected = len(answer["rejected"])
        if rejected:
            self.stats.rejected += rejected
            self.on_error(KeyplaneError(202, "not_found", f"Keyplane refused {rejected} event(s): unknown client key"), rejected)
        return True


def _close_at_exit(ref: weakref.ref[UsageReporter]) -> None:
    reporter = ref()
    if reporter is not None and not reporter._closed:
        reporter.close(timeout=5.0)
