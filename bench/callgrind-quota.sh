#!/usr/bin/env bash
# Instructions per request on the local-answer path (Claude Code's quota probe, answered without the
# upstream), counted by callgrind: N keep-alive requests on one connection minus a run of 20, so start-up
# and first-use costs drop out. Repeatable whatever the machine's load, unlike CPU time.
#
#   bash bench/callgrind-quota.sh PROXY_BINARY [PROXY_BINARY ...]     (e.g. two commits' release builds)
#   N=520 (default): requests in the longer run
#   TOP=40: also the first binary's instructions per request of its TOP most expensive functions,
#     inclusive and self (`callgrind_annotate`, names demangled)
#   KEEP=DIR: keeps the first binary's two callgrind outputs there (callgrind_annotate --tree=caller)
#
# valgrind 3.19 cannot read the toolchain's DWARF 5, so each binary is copied and stripped of debug
# information first. Needs valgrind, curl and python3.
set -euo pipefail
N="${N:-520}"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

instructions() { # binary requests [callgrind output] -> total instructions of the server's run
    local bin=$1 n=$2 out="${3:-$work/cg.$RANDOM}" port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    WORKERS=1 NVIDIA_NIM_BASE_URL="http://127.0.0.1:9/v1" NVIDIA_NIM_API_KEY=bench LOG_LEVEL=error HOST=127.0.0.1 PORT="$port" \
        valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" >/dev/null 2>"$out.err" &
    local vpid=$!; pids+=("$vpid")
    for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
    python3 - "$port" "$n" <<'PY'
import http.client, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
connection = http.client.HTTPConnection("127.0.0.1", port)
body = b'{"model":"claude-3-sonnet","max_tokens":1,"messages":[{"role":"user","content":"quota check"}]}'
for _ in range(n):
    connection.request("POST", "/v1/messages", body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        sys.exit(f"quota request answered {response.status}")
PY
    kill -TERM "$vpid"; wait "$vpid" 2>/dev/null || true
    awk '/^(summary|totals):/{print $2; exit}' "$out"
}

source "$(dirname "${BASH_SOURCE[0]}")/callgrind-functions.sh"

echo "| binary | instructions per quota request (keep-alive) |"
echo "|---|---|"
first='' total=0
for binary in "$@"; do
    copy="$work/$(basename "$binary").$RANDOM"
    cp "$binary" "$copy"; strip --strip-debug "$copy"
    a=$(instructions "$copy" 20 "$work/run.a"); b=$(instructions "$copy" "$N" "$work/run.b")
    echo "| $binary | $(( (b - a) / (N - 20) )) |"
    if [[ -z "$first" ]]; then
        first=$binary; total=$(( (b - a) / (N - 20) ))
        cp "$work/run.a" "$work/first.a"; cp "$work/run.b" "$work/first.b"
        if [[ -n "${KEEP:-}" ]]; then mkdir -p "$KEEP"; cp "$work/first.a" "$work/first.b" "$KEEP/"; fi
    fi
done
[[ -n "${TOP:-}" ]] || exit 0
top_functions "$work/first.a" "$work/first.b" $(( N - 20 )) request "$total" "$first"
