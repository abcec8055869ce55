# The SDK's tests import `keyplane` from this source tree (no install step) and share one real
# `keyplane serve` per session (testsupport/keyplane_server.py).
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

pytest_plugins = ["testsupport.keyplane_server"]
