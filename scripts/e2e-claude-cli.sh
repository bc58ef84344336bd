#!/usr/bin/env bash
# End to end with the real Claude Code CLI: claude -p -> nim-proxy -> scripted upstream.
#
# (a) a plain text answer; (b) a tool round trip: the upstream asks for a Bash call, the CLI runs
# it and sends the result back, the upstream answers with the command's output; (c) the CLI run by
# the server through the bot API, with option-like prompts and a resume; (d) an upstream that is
# overloaded twice and then answers: the proxy answers 529 `overloaded_error`, so Claude Code's own
# retry of 529s reaches the answer.
#
# The CLI comes from PyPI's claude-agent-sdk wheel, which bundles it (scripts/fetch-claude-cli.sh).
# Needs the debug build (swift build) of nim-proxy and scripted-upstream. Everything listens on
# 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
e2e_name=e2e
source scripts/e2e-lib.sh
start_upstream || exit 1

run_case() { # name scenario prompt expected
  local name=$1 scenario=$2 prompt=$3 expected=$4
  local log="$work/proxy-$name.log"
  : >"$log"
  PORT=0 MODEL="scenario:$scenario" NVIDIA_NIM_API_KEY=e2e \
    NVIDIA_NIM_BASE_URL="http://127.0.0.1:$upstream_port/v1" CLAUDE_WORKSPACE="$work/ws" \
    "$bin_dir/nim-proxy" --env-file /dev/null 2>"$log" &
  local proxy_pid=$!
  pids+=($proxy_pid)
  wait_for_line "$log" '"msg":"listening"' 15 || return 1
  local port
  port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$log" | head -1)
  mkdir -p "$work/project-$name"
  local out="$work/claude-$name.out"
  set +e
  (cd "$work/project-$name" && HOME="$work/home" ANTHROPIC_BASE_URL="http://127.0.0.1:$port" \
    ANTHROPIC_AUTH_TOKEN=e2e CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 IS_SANDBOX=1 \
    timeout 120 "$claude_bin" -p "$prompt" --dangerously-skip-permissions </dev/null >"$out" 2>&1)
  local status=$?
  set -e
  kill "$proxy_pid" 2>/dev/null || true
  wait "$proxy_pid" 2>/dev/null || true
  echo "e2e [$name] claude exit $status, output: $(tr '\n' ' ' <"$out" | cut -c1-200)"
  if [ $status -ne 0 ] || ! grep -q "$expected" "$out"; then
    echo "e2e [$name] FAILED: expected '$expected'"
    echo "--- proxy log"; tail -20 "$log"
    return 1
  fi
}

failed=0
passed=0
if run_case text text "Say hello." "Hello, world! How can I help?"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
if run_case tool tool_roundtrip "Run the marker command." "nim-proxy-e2e-42"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

# Overloaded twice, then the answer: the CLI retries the 529s itself and shows the answer, and the
# upstream saw at least the two refused requests and the answered one.
if run_case overloaded overloaded_twice_then_text "Say hello." "Hello, world! How can I help?" &&
  python3 - "$work/upstream-bodies.jsonl" <<'EOF'
import json, sys
sent = sum(1 for line in open(sys.argv[1]) if json.loads(line).get("model") == "scenario:overloaded_twice_then_text")
print(f"e2e [overloaded] upstream requests: {sent} (the CLI retried: {sent >= 3})")
sys.exit(0 if sent >= 3 else 1)
EOF
then passed=$((passed + 1)); else failed=$((failed + 1)); fi

# The tool result travelled back upstream as an OpenAI tool message after the assistant's call.
if python3 - "$work/upstream-bodies.jsonl" <<'EOF'
import json, sys
bodies = [json.loads(line) for line in open(sys.argv[1])]
ok = False
for body in bodies:
    msgs = body.get("messages", [])
    for i, m in enumerate(msgs):
        if m.get("role") == "tool" and "nim-proxy-e2e-42" in str(m.get("content")):
            prev = msgs[i - 1] if i > 0 else {}
            calls = prev.get("tool_calls") or []
            ok = ok or any(c.get("id") == m.get("tool_call_id") for c in calls)
print("e2e [upstream] tool result follows its call:", ok)
sys.exit(0 if ok else 1)
EOF
then passed=$((passed + 1)); else failed=$((failed + 1)); fi

# The bot API drives the real CLI: its arguments must keep client text out of its options (a prompt
# of `--help` is a prompt, `--resume=<id>` resumes), and it must call the server back with the CLI
# token the server gave it (the server requires PROXY_AUTH_TOKEN, which the CLI never sees).
run_bot_case() {
  local log="$work/proxy-bot.log"
  : >"$log"
  HOME="$work/home" IS_SANDBOX=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 PORT=0 MODEL="scenario:text" \
    NVIDIA_NIM_API_KEY=e2e NVIDIA_NIM_BASE_URL="http://127.0.0.1:$upstream_port/v1" CLAUDE_WORKSPACE="$work/bot-ws" \
    PROXY_AUTH_TOKEN=e2e-operator CLAUDE_CLI_BIN="$claude_bin" "$bin_dir/nim-proxy" --env-file /dev/null 2>"$log" &
  pids+=($!)
  wait_for_line "$log" '"msg":"listening"' 15 || return 1
  local port
  port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$log" | head -1)
  python3 - "$port" "$work/bot-ws" "$work/upstream-bodies.jsonl" <<'EOF'
import json, sys, urllib.request
port, workspace, recorded = sys.argv[1:]
def call(path, args):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(args).encode(),
                                     headers={"Content-Type": "application/json", "x-api-key": "e2e-operator"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read().decode()
manager = json.loads(call("/cli/managers", {"workspace_path": workspace, "api_url": "http://ignored/v1"}))["result"]["manager_id"]
handle = json.loads(call(f"/cli/managers/{manager}/get_or_create_session", {}))["result"]["session_handle"]
def task(prompt, session_id=None):
    text = call(f"/cli/sessions/{handle}/start_task", {"prompt": prompt, "session_id": session_id})
    return [json.loads(line) for line in text.splitlines() if line.strip()]
def answered(events):
    return events[-1] == {"type": "exit", "code": 0, "stderr": None} and "Hello, world!" in json.dumps(events)
first = task("--help")
session_id = next((e["session_id"] for e in first if e.get("type") == "session_info"), None)
resumed = task("--version", session_id)
same = session_id is not None and any(e.get("session_id") == session_id for e in resumed if e.get("type") == "session_info")
prompts = [str(m.get("content")) for line in open(recorded) for m in json.loads(line).get("messages", []) if m.get("role") == "user"]
as_prompts = any("--help" in p for p in prompts) and any("--version" in p for p in prompts)
ok = answered(first) and answered(resumed) and same and as_prompts
print(f"e2e [bot] answered: {answered(first)}/{answered(resumed)}, resumed: {same}, options sent as prompts: {as_prompts}")
sys.exit(0 if ok else 1)
EOF
}
if run_bot_case; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
