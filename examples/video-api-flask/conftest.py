# The example imports `keyplane` from the SDK's source tree (no install step) and shares the
# SDK suites' real `keyplane serve` (sdks/python/testsupport/keyplane_server.py).
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here))
sys.path.insert(0, str(here.parents[1] / "sdks" / "python"))

pytest_plugins = ["testsupport.keyplane_server"]
