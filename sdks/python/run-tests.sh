#!/usr/bin/env bash
# `npm run test:python` (the second half of `npm test`): the Python SDK's and the Flask
# example's pytest suites, on Debian's /usr/bin/python3 and its packages (python3-httpx,
# -flask, -fastapi, -uvicorn, -pytest; `.ci/run` installs them). With CI=true a missing package
# is a failure; elsewhere the suites are skipped, loudly. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/../.."

PY=/usr/bin/python3
missing=()
if [ -x "$PY" ]; then
  for module in httpx flask fastapi uvicorn pytest; do
    "$PY" -c "import $module" 2>/dev/null || missing+=("python3-$module")
  done
else
  missing+=(python3)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "test:python FAILED: missing Debian packages: ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "" >&2
  echo "!!! test:python SKIPPED: missing Debian packages: ${missing[*]}" >&2
  echo "!!! apt-get install ${missing[*]}   (CI=true makes this a failure)" >&2
  echo "" >&2
  exit 0
fi

PYTHONDONTWRITEBYTECODE=1 "$PY" -m pytest -p no:cacheprovider sdks/python examples/video-api-flask "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "test:python FAILED: pytest collected no tests (there must be tests)" >&2
  exit 1
fi
exit "$rc"
