"""The package builds with the standard backend (Debian's setuptools) and ships its types."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_builds_and_carries_py_typed(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "keyplane", src / "keyplane", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "dist"
    build = "import sys, setuptools.build_meta as b; print(b.build_wheel(sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", build, str(out)], cwd=src, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    wheel = out / done.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = z.read("keyplane-0.1.0.dist-info/METADATA").decode()
    assert {"keyplane/py.typed", "keyplane/flask.py", "keyplane/fastapi.py"} <= names
    assert "Requires-Python: >=3.11" in metadata
    assert "Requires-Dist: httpx" in metadata
