#!/usr/bin/env bash
# End to end with the real Claude Code CLI as a user runs it: interactive, in a terminal (tmux),
# with a fresh HOME whose first-run dialogs are answered on screen.
#
#   claude (tmux) -> recording pass-through -> nim-proxy -> scripted upstream
#
# Checks: (a) a user turn shows the upstream's answer on screen; (b) the upstream received exactly
# one request for it (the session title and the probes are answered by the proxy); (c) the proxy
# answered the session-title request locally; (d) every request the CLI sent is of a kind the
# proxy's recorded fixtures (Tests/Fixtures/claude-cli-interactive) cover.
#
# RECORD_TO=DIR keeps the pass-through's recording there (one JSON line per request), to refresh the
# fixtures after a CLI update. Everything listens on 127.0.0.1; every wait has a deadline; on a
# failure the screen and the logs go to the output.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v tmux >/dev/null || { echo "e2e-interactive: tmux is not installed"; exit 1; }
e2e_name=e2e-interactive
source scripts/e2e-lib.sh
session="nim-proxy-e2e-$$"
end_session() { tmux kill-session -t "$session" 2>/dev/null || true; }
cleanup_hooks+=(end_session)

screen() { tmux capture-pane -p -t "$session" 2>/dev/null || true; }

show_failure() {
  echo "--- screen"; screen
  echo "--- proxy log"; tail -20 "$work/proxy.log"
  echo "--- requests the CLI sent"; cut -c1-200 "$work/recorded.jsonl" 2>/dev/null || true
}

start_upstream || exit 1

PORT=0 MODEL="scenario:text" NVIDIA_NIM_API_KEY=e2e LOG_LEVEL=debug \
  NVIDIA_NIM_BASE_URL="http://127.0.0.1:$upstream_port/v1" CLAUDE_WORKSPACE="$work/ws" \
  "$bin_dir/nim-proxy" --env-file /dev/null 2>"$work/proxy.log" &
pids+=($!)
wait_for_line "$work/proxy.log" '"msg":"listening"' 15 || exit 1
proxy_port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$work/proxy.log" | head -1)

python3 scripts/record-pass-through.py "$proxy_port" "$work/recorded.jsonl" >"$work/pass.out" 2>&1 &
pids+=($!)
wait_for_line "$work/pass.out" '^listening ' 10 || exit 1
pass_port=$(awk '/^listening /{print $2; exit}' "$work/pass.out")

mkdir -p "$work/home" "$work/project"
tmux new-session -d -s "$session" -x 160 -y 50 -c "$work/project" \
  "env -u ANTHROPIC_API_KEY HOME='$work/home' ANTHROPIC_BASE_URL='http://127.0.0.1:$pass_port' \
   ANTHROPIC_AUTH_TOKEN=e2e TERM=xterm-256color '$claude_bin'; sleep 30"

# The first-run dialogs of a fresh HOME, answered as a user would, until the prompt is ready.
ready=0
deadline=$((SECONDS + 60))
while [ $SECONDS -lt $deadline ]; do
  s=$(screen)
  if grep -q "Choose the text style" <<<"$s"; then
    tmux send-keys -t "$session" Enter
  elif grep -q "Press Enter to continue" <<<"$s"; then
    tmux send-keys -t "$session" Enter
  elif grep -q "Yes, I trust this folder" <<<"$s"; then
    # The choice is a list: move to "Yes" wherever it is, then confirm.
    if grep -q "❯ .*Yes, I trust" <<<"$s"; then tmux send-keys -t "$session" Enter; else tmux send-keys -t "$session" Down; fi
  elif grep -q "Do you want to use this API key" <<<"$s"; then
    tmux send-keys -t "$session" Up Enter
  elif grep -q "^❯" <<<"$s"; then
    # The input prompt (its line may end in a no-break space).
    ready=1
    break
  fi
  sleep 0.5
done
passed=0
failed=0
if [ $ready -ne 1 ]; then
  echo "e2e-interactive: the prompt never became ready"
  show_failure
  echo "e2e-interactive: 0 passed, 4 failed"
  exit 1
fi

before=$(wc -l <"$work/upstream-bodies.jsonl" 2>/dev/null || echo 0)
tmux send-keys -t "$session" -l "Say hello to me please"
sleep 0.3
tmux send-keys -t "$session" Enter
answered=0
deadline=$((SECONDS + 60))
while [ $SECONDS -lt $deadline ]; do
  if screen | grep -q "Hello, world! How can I help?"; then answered=1; break; fi
  sleep 0.5
done
# The title request runs beside the turn: give it time to arrive before counting.
deadline=$((SECONDS + 15))
until grep -q '"kind":"session_title"' "$work/proxy.log" || [ $SECONDS -ge $deadline ]; do sleep 0.2; done
sleep 1
after=$(wc -l <"$work/upstream-bodies.jsonl" 2>/dev/null || echo 0)

check() { # name condition-status
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "e2e-interactive [$1] ok"; else failed=$((failed + 1)); echo "e2e-interactive [$1] FAILED"; fi
}
check "answer on screen" $((1 - answered))
check "one upstream request for the turn ($((after - before)))" $([ $((after - before)) -eq 1 ]; echo $?)
check "session title answered locally" $(grep -q '"kind":"session_title"' "$work/proxy.log"; echo $?)
python3 - "$work/recorded.jsonl" <<'PY'
import json, sys
known = 0
unknown = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    body = r.get("body") or {}
    system = json.dumps(body.get("system", ""))
    if r["path"] == "/api/hello" or (r["method"], r["path"]) in (("GET", "/v1/models"), ("GET", "/health")):
        known += 1
    elif r["path"] == "/v1/messages" and "You are naming a coding session" in system:
        known += 1
    elif r["path"] == "/v1/messages" and body.get("max_tokens") == 1:
        known += 1
    elif r["path"] == "/v1/messages" and body.get("tools"):
        known += 1
    else:
        unknown.append(f'{r["method"]} {r["path"]} {system[:80]}')
print(f"e2e-interactive: {known} requests of known kinds", *unknown, sep="\n  ")
sys.exit(1 if unknown else 0)
PY
check "every request of a known kind" $?
if [ -n "${RECORD_TO:-}" ]; then mkdir -p "$RECORD_TO" && cp "$work/recorded.jsonl" "$RECORD_TO/"; fi
[ "$failed" -eq 0 ] || show_failure
tmux send-keys -t "$session" C-c
sleep 0.3
tmux send-keys -t "$session" C-c
echo "e2e-interactive: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
