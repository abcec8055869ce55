"""The package is typed (it ships py.typed): mypy --strict finds nothing in it."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# mypy revalidates its cache; keeping it (gitignored, beside npm's) saves a minute a run.
CACHE = ROOT.parents[1] / "node_modules" / ".cache" / "keyplane-mypy"


def test_mypy_strict_passes_on_the_package():
    if importlib.util.find_spec("mypy") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("python3-mypy is missing (.ci/run installs it)")
        pytest.skip("python3-mypy is not installed: apt-get install python3-mypy")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(CACHE), "keyplane"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
