"""Seed 01/02's video-analysis API in Flask on the ``keyplane`` SDK."""

from .app import VideoApi, create_app
from .frame_store import FrameStore

__all__ = ["FrameStore", "VideoApi", "create_app"]
