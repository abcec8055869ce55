"""Per-client frame buffers (seed 02's ``client_frame_buffers[client_id]``) with memory bounded
across every client: each client holds at most ``frames_per_client`` frames (a ring: the oldest
goes first), and all buffers together stay under ``max_total_bytes``; past it, the buffers of
the least recently used clients are dropped whole. A client id is the only way in: nothing
lists or reads another client's buffer.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

#: What one frame costs the budget beyond its bytes (the object, the deque slot).
FRAME_OVERHEAD_BYTES = 128
#: What one client's (empty) ring costs the budget.
CLIENT_OVERHEAD_BYTES = 2048


@dataclass(frozen=True)
class Frame:
    data: bytes
    #: the client's own frame counter, as sent
    frame_count: int
    received_at: float


def _cost(frame: Frame) -> int:
    return len(frame.data) + FRAME_OVERHEAD_BYTES


class _Ring:
    def __init__(self, capacity: int) -> None:
        self.frames: deque[Frame] = deque(maxlen=capacity)
        self.bytes = CLIENT_OVERHEAD_BYTES


class FrameStore:
    def __init__(
        self,
        frames_per_client: int = 250,  # 10 s × 25 fps
        max_total_bytes: int = 64 * 1024 * 1024,
        max_frame_bytes: int = 256 * 1024,
    ) -> None:
        self.frames_per_client = frames_per_client
        self.max_total_bytes = max_total_bytes
        self.max_frame_bytes = max_frame_bytes
        # Insertion order = recency: a touched client moves to the end.
        self._buffers: OrderedDict[str, _Ring] = OrderedDict()
        self._total = 0
        #: client buffers dropped to stay within the budget
        self.evictions = 0
        # Flask serves on threads: one lock around every buffer change.
        self._lock = threading.Lock()

    def add(self, client_id: str, data: bytes, frame_count: int) -> int | None:
        """The client's buffer size after adding; None when the frame is too large."""
        if len(data) > self.max_frame_bytes:
            return None
        frame = Frame(data, frame_count, time.time())
        with self._lock:
            ring = self._touch(client_id, create=True)
            assert ring is not None
            if len(ring.frames) == ring.frames.maxlen:
                out = ring.frames[0]
                ring.bytes -= _cost(out)
                self._total -= _cost(out)
            ring.frames.append(frame)
            ring.bytes += _cost(frame)
            self._total += _cost(frame)
            self._enforce_budget(client_id)
            return len(ring.frames)

    def frames(self, client_id: str) -> list[Frame]:
        """The client's frames, oldest first (a copy of the list)."""
        with self._lock:
            ring = self._touch(client_id, create=False)
            return list(ring.frames) if ring else []

    def size(self, client_id: str) -> int:
        with self._lock:
            ring = self._buffers.get(client_id)
            return len(ring.frames) if ring else 0

    @property
    def total_bytes(self) -> int:
        return self._total

    def _touch(self, client_id: str, *, create: bool) -> _Ring | None:
        ring = self._buffers.get(client_id)
        if ring is None and create:
            ring = self._buffers[client_id] = _Ring(self.frames_per_client)
            self._total += ring.bytes
        if ring is not None:
            self._buffers.move_to_end(client_id)
        return ring

    def _enforce_budget(self, current: str) -> None:
        """Drops whole buffers of the least recently used clients, then the caller's oldest frames."""
        for cid in list(self._buffers):
            if self._total <= self.max_total_bytes:
                return
            if cid == current:
                continue
            self._total -= self._buffers.pop(cid).bytes
            self.evictions += 1
        own = self._buffers.get(current)
        while own is not None and self._total > self.max_total_bytes and len(own.frames) > 1:
            out = own.frames.popleft()
            own.bytes -= _cost(out)
            self._total -= _cost(out)
