"""A deterministic stand-in for seed 01's AI analysis: how much consecutive frames differ,
sampled over at most 4 KiB of each. The real service would send the frames to its AI provider
with the server-held key, resolved from Keyplane's vault (``POST /admin/v1/credentials/resolve``,
policy ``platform``); this example makes no network call. Same figures as ``examples/video-api``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .frame_store import Frame


def analyze_frames(frames: Sequence[Frame], fps: int = 25) -> dict[str, Any]:
    total = 0.0
    pairs = 0
    for prev, cur in zip(frames, frames[1:]):
        a, b = prev.data, cur.data
        n = min(len(a), len(b), 4096)
        if not n:
            continue
        step = max(1, min(len(a), len(b)) // n)
        diff = sum(abs(a[j * step] - b[j * step]) for j in range(n))
        total += diff / (n * 255)
        pairs += 1
    motion = total / pairs if pairs else 0.0
    risk = "HIGH" if motion >= 0.3 else "MEDIUM" if motion >= 0.1 else "LOW"
    score = round(motion * 1000) / 1000
    return {
        "frames_analyzed": len(frames),
        "duration_seconds": round(len(frames) / fps, 2),
        "motion_score": score,
        "risk_level": risk,
        "incident_detected": risk == "HIGH",
        "analysis": (
            f"sustained motion across {len(frames)} frames (score {score}): review the footage"
            if risk == "HIGH"
            else f"no incident in {len(frames)} frames (motion score {score})"
        ),
    }
