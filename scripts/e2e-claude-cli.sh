#!/usr/bin/env bash
# End to end with the real Claude Code CLI: claude -p -> nim-proxy -> scripted upstream.
#
# (a) a plain text answer; (b) a tool round trip: the upstream asks for a Bash call, the CLI runs
# it and sends the result back, the upstream answers with the command's output.
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

echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
