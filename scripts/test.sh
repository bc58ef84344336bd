#!/usr/bin/env bash
# One command: install what is needed, build, and run every test suite:
#   1. the Swift tests (swift test),
#   2. the Python client's tests against a live server (pytest),
#   3. the end-to-end run of the real Claude Code CLI against the proxy and the scripted upstream.
# Exits non-zero if any of them fails; the last line sums them up.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh || exit 1

results=()
failed=0
step() { # name command...
  local name=$1; shift
  echo "=== $name"
  local started=$SECONDS
  if "$@"; then
    results+=("$name: ok ($((SECONDS - started)) s)")
  else
    results+=("$name: FAILED ($((SECONDS - started)) s)")
    failed=$((failed + 1))
  fi
}

python_env() {
  # A virtual environment keeps the client's test dependencies away from the system's Python.
  if [ ! -x .build/pyenv/bin/python ]; then
    python3 -m venv .build/pyenv || return 1
  fi
  .build/pyenv/bin/python -m pip install --quiet --disable-pip-version-check httpx pytest -e clients/python
}

step "swift build" swift build --build-tests
step "swift test" swift test --skip-build
step "python client setup" python_env
step "python client tests" env NIM_PROXY_BIN="$PWD/.build/debug/nim-proxy" .build/pyenv/bin/python -m pytest -q clients/python/tests
step "claude cli end-to-end" bash scripts/e2e-claude-cli.sh

echo "=== summary"
for r in "${results[@]}"; do echo "  $r"; done
exit $((failed > 0))
