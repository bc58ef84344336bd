#!/usr/bin/env bash
# One command: install what is needed, build, and run every test suite:
#   1. the Swift tests (swift test),
#   2. the Python client's tests against a live server, and the black-box tests that try the server
#      as a separate process the way an attacker on the same machine would (pytest),
#   3. the end-to-end run of the real Claude Code CLI against the proxy and the scripted upstream,
#      with `-p` and interactive in a terminal (tmux),
#   4. a short libFuzzer run of every fuzz target (scripts/fuzz.sh --smoke; FUZZ_SMOKE_SECONDS each).
# Exits non-zero if any of them fails; the last line adds up the tests of all four (a fuzz
# target counts as one test).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh || exit 1
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

results=()
failed_steps=0
step() { # name command...
  local name=$1; shift
  echo "=== $name"
  local started=$SECONDS
  if "$@" 2>&1 | tee "$logs/$name.log"; then
    results+=("$name: ok ($((SECONDS - started)) s)")
  else
    results+=("$name: FAILED ($((SECONDS - started)) s)")
    failed_steps=$((failed_steps + 1))
  fi
}

python_env() {
  # A virtual environment keeps the client's test dependencies away from the system's Python.
  if [ ! -x .build/pyenv/bin/python ]; then
    python3 -m venv .build/pyenv || return 1
  fi
  .build/pyenv/bin/python -m pip install --quiet --disable-pip-version-check httpx pytest -e clients/python
}

step swift-build swift build --build-tests
step swift-test swift test --skip-build
step python-setup python_env
step python-tests env NIM_PROXY_BIN="$PWD/.build/debug/nim-proxy" .build/pyenv/bin/python -m pytest -q clients/python/tests tests/blackbox
step claude-e2e bash scripts/e2e-claude-cli.sh
step claude-interactive bash scripts/e2e-claude-interactive.sh
# The sanitizer build of all targets took 142 s on two busy cores; with 15 s per target the
# step stays under 5 minutes.
step fuzz-smoke bash scripts/fuzz.sh --smoke "${FUZZ_SMOKE_SECONDS:-15}"

# Counts from each runner's own closing line.
count() { # file regex -> first number of the last match, or 0
  grep -Eo "$2" "$1" 2>/dev/null | tail -1 | grep -Eo '[0-9]+' | head -1 || true
}
swift_total=$(count "$logs/swift-test.log" 'Test run with [0-9]+ tests?')
swift_issues=$(grep -Ec '^✘ Test .* (failed|recorded an issue)' "$logs/swift-test.log" 2>/dev/null || true)
swift_failed=$(grep -E '^✘ Test ' "$logs/swift-test.log" 2>/dev/null | grep -v '^✘ Test run' | grep -Eo '^✘ Test [^(]*' | sort -u | wc -l)
py_passed=$(count "$logs/python-tests.log" '[0-9]+ passed')
py_failed=$(count "$logs/python-tests.log" '[0-9]+ failed')
e2e_passed=$(count "$logs/claude-e2e.log" '[0-9]+ passed, [0-9]+ failed')
e2e_failed=$(grep -Eo '[0-9]+ passed, [0-9]+ failed' "$logs/claude-e2e.log" | tail -1 | grep -Eo '[0-9]+ failed' | grep -Eo '[0-9]+' || true)
tty_passed=$(count "$logs/claude-interactive.log" '[0-9]+ passed, [0-9]+ failed')
tty_failed=$(grep -Eo '[0-9]+ passed, [0-9]+ failed' "$logs/claude-interactive.log" 2>/dev/null | tail -1 | grep -Eo '[0-9]+ failed' | grep -Eo '[0-9]+' || true)
e2e_passed=$(( ${e2e_passed:-0} + ${tty_passed:-0} )); e2e_failed=$(( ${e2e_failed:-0} + ${tty_failed:-0} ))
swift_total=${swift_total:-0}; py_passed=${py_passed:-0}; py_failed=${py_failed:-0}
fuzz_line=$(grep -Eo 'fuzz: [0-9]+ passed, [0-9]+ failed' "$logs/fuzz-smoke.log" 2>/dev/null | tail -1)
fuzz_passed=$(grep -Eo '[0-9]+ passed' <<<"$fuzz_line" | grep -Eo '[0-9]+')
fuzz_failed=$(grep -Eo '[0-9]+ failed' <<<"$fuzz_line" | grep -Eo '[0-9]+')
e2e_passed=${e2e_passed:-0}; e2e_failed=${e2e_failed:-0}
fuzz_passed=${fuzz_passed:-0}; fuzz_failed=${fuzz_failed:-0}
swift_passed=$((swift_total - swift_failed))
[ "$swift_passed" -lt 0 ] && swift_passed=0

echo "=== summary"
for r in "${results[@]}"; do echo "  $r"; done
echo "  swift: $swift_passed passed, $swift_failed failed ($swift_issues issues); python: $py_passed passed, $py_failed failed; e2e: $e2e_passed passed, $e2e_failed failed; fuzz: $fuzz_passed passed, $fuzz_failed failed"
passed=$((swift_passed + py_passed + e2e_passed + fuzz_passed))
failed=$((swift_failed + py_failed + e2e_failed + fuzz_failed))
if [ "$failed_steps" -gt 0 ] && [ "$failed" -eq 0 ]; then failed=$failed_steps; fi
echo "tests: $passed passed, $failed failed"
[ "$failed_steps" -eq 0 ]
