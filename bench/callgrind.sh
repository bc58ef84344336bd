#!/usr/bin/env bash
# Instructions per stream and per relayed chunk, counted by callgrind (repeatable whatever the
# machine's load, unlike CPU time): the proxy serves N streams of 10 chunks, then 25, then 25 of 210,
# from the scripted upstream on 127.0.0.1, and the differences give the per-stream and per-chunk cost.
#
#   bash bench/callgrind.sh PROXY_BINARY [PROXY_BINARY ...]     (e.g. two commits' release builds)
#   UPSTREAM=path/to/scripted-upstream (default: .build-bench/release/scripted-upstream)
#   PASSTHROUGH=path/to/bench-tool (default: bench/.build/release/bench-tool when built): also the
#     Anthropic-native pass-through, served alone by `bench-tool passthrough`, against the
#     upstream's native mode with streams of the same lengths; its row and its ratios to the first
#     binary's come from the same run.
#   NATIVE=1: each binary is also measured serving `lmstudio/` models (the pass-through inside the
#     proxy, with everything the proxy does per request), against the upstream's native mode.
#   KEEP=DIR keeps the one-chunk runs' callgrind outputs there (callgrind_annotate --tree=caller).
#   CHUNKS=1: instead, the cost of setting a stream up and ending it: instructions per stream of a
#     one-chunk answer, the streams sent one after another over one keep-alive client connection
#     (so accepting and closing connections is not counted), 5 then 105 streams after 3 to warm up, and the first
#     binary's cost per stream of the TOP (default 40) most expensive functions, inclusive and self: each
#     function's count in the 105-stream run less the 5-stream run's, over 100
#     (`callgrind_annotate --inclusive=yes`, names demangled). Recursive functions count once per
#     level, so the breakdown's rows overlap; it names what costs what, the total is the figure.
#
# valgrind 3.19 cannot read the toolchain's DWARF 5, so each binary is copied and stripped of debug
# information first. Needs valgrind and curl (apt-get install -y valgrind curl).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UPSTREAM="${UPSTREAM:-$ROOT/.build-bench/release/scripted-upstream}"
PASSTHROUGH="${PASSTHROUGH:-$ROOT/bench/.build/release/bench-tool}"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; if [[ -n "${KEEP:-}" ]]; then mkdir -p "$KEEP"; cp "$work"/one.* "$KEEP"/ 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT
body='{"model":"claude-3-5-sonnet-20241022","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Tell me something."}]}'

instructions() { # binary chunks requests [native|keepalive [profile]] -> total instructions of the proxy's run
    local bin=$1 chunks=$2 n=$3 mode=${4:-} log="$work/up.$RANDOM" out=${5:-"$work/cg.$RANDOM"} sent=$body native=''
    [[ $mode == native ]] && native=1
    "$UPSTREAM" --port 0 --default-scenario synthetic --chunks "$chunks" --chunk-bytes 16 --delay-ms 0 >"$log" &
    local upid=$!; pids+=("$upid")
    for _ in $(seq 100); do grep -q listening "$log" && break; sleep 0.1; done
    local uport port; uport=$(awk '/listening/{print $2}' "$log")
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    if [[ -n "$native" ]]; then sent=${body/claude-3-5-sonnet-20241022/lmstudio\/scenario:synthetic_$chunks}; fi
    LM_STUDIO_BASE_URL="http://127.0.0.1:$uport/v1" \
    NVIDIA_NIM_BASE_URL="http://127.0.0.1:$uport/v1" NVIDIA_NIM_API_KEY=bench NVIDIA_NIM_RATE_LIMIT=1000 \
        LOG_LEVEL=error WORKERS=1 HOST=127.0.0.1 PORT="$port" \
        valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" >/dev/null 2>"$out.err" &
    local vpid=$!; pids+=("$vpid")
    for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
    if [[ $mode == keepalive ]]; then
        # Warm-up first, so one-time work (the tokenizer's tables, lazy globals) falls the same way
        # in both runs and cancels out of the breakdown too. Then one curl, one connection: every
        # URL of the list is posted the same body in turn.
        curl -sf -H 'content-type: application/json' -d "$sent" -o /dev/null "http://127.0.0.1:$port/v1/messages" \
            -o /dev/null "http://127.0.0.1:$port/v1/messages" -o /dev/null "http://127.0.0.1:$port/v1/messages"
        local urls=()
        for _ in $(seq "$n"); do urls+=(-o /dev/null "http://127.0.0.1:$port/v1/messages"); done
        curl -sf -H 'content-type: application/json' -d "$sent" "${urls[@]}"
    else
        for _ in $(seq "$n"); do
            curl -sf -o /dev/null -H 'content-type: application/json' -d "$sent" "http://127.0.0.1:$port/v1/messages"
        done
    fi
    kill -TERM "$vpid"; wait "$vpid" 2>/dev/null || true
    kill "$upid"; wait "$upid" 2>/dev/null || true
    awk '/^(summary|totals):/{print $2; exit}' "$out"
}

source "$ROOT/bench/callgrind-functions.sh"

one_chunk() {
    echo "| binary | instructions per stream (one-chunk answer, keep-alive client) |"
    echo "|---|---|"
    local first=''
    for binary in "$@"; do
        local copy="$work/$(basename "$binary").$RANDOM" a b
        cp "$binary" "$copy"; strip --strip-debug "$copy"
        a=$(instructions "$copy" 1 5 keepalive "$work/one.a"); b=$(instructions "$copy" 1 105 keepalive "$work/one.b")
        echo "| $binary | $(( (b - a) / 100 )) |"
        if [[ -z "$first" ]]; then
            first=$binary; total=$(( (b - a) / 100 ))
            cp "$work/one.a" "$work/first.a"; cp "$work/one.b" "$work/first.b"
        fi
    done
    top_functions "$work/first.a" "$work/first.b" 100 stream "$total" "$first"
}

if [[ "${CHUNKS:-}" == 1 ]]; then
    one_chunk "$@"
    exit 0
fi

passthrough_instructions() { # bench-tool chunks requests -> total instructions of the pass-through's run
    local bin=$1 chunks=$2 n=$3 log="$work/up.$RANDOM" out="$work/cg.$RANDOM"
    "$UPSTREAM" --port 0 >"$log" &
    local upid=$!; pids+=("$upid")
    for _ in $(seq 100); do grep -q listening "$log" && break; sleep 0.1; done
    local uport port; uport=$(awk '/listening/{print $2}' "$log")
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" passthrough --port "$port" \
        --upstream "http://127.0.0.1:$uport/v1" --model "scenario:synthetic_$chunks" >/dev/null 2>"$out.err" &
    local vpid=$!; pids+=("$vpid")
    for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
    for _ in $(seq "$n"); do
        curl -sf -o /dev/null -H 'content-type: application/json' -d "$body" "http://127.0.0.1:$port/v1/messages"
    done
    kill -TERM "$vpid"; wait "$vpid" 2>/dev/null || true
    kill "$upid"; wait "$upid" 2>/dev/null || true
    awk '/^(summary|totals):/{print $2; exit}' "$out"
}

echo "| binary | instructions per stream (10 chunks) | instructions per relayed chunk |"
echo "|---|---|---|"
for binary in "$@"; do
    copy="$work/$(basename "$binary").$RANDOM"
    cp "$binary" "$copy"; strip --strip-debug "$copy"
    # The first streams build the tokenizer's tables: 5 streams first, then the difference to 25.
    a=$(instructions "$copy" 10 5); b=$(instructions "$copy" 10 25); c=$(instructions "$copy" 210 25)
    per_stream=$(( (b - a) / 20 )); per_chunk=$(( (c - b) / (25 * 200) ))
    echo "| $binary | $per_stream | $per_chunk |"
    first_stream=${first_stream:-$per_stream}; first_chunk=${first_chunk:-$per_chunk}
    if [[ -n "${NATIVE:-}" ]]; then
        a=$(instructions "$copy" 10 5 native); b=$(instructions "$copy" 10 25 native); c=$(instructions "$copy" 210 25 native)
        echo "| $binary, \`lmstudio/\` (pass-through) | $(( (b - a) / 20 )) | $(( (c - b) / (25 * 200) )) |"
    fi
done
if [[ -x "$PASSTHROUGH" ]]; then
    copy="$work/bench-tool.$RANDOM"
    cp "$PASSTHROUGH" "$copy"; strip --strip-debug "$copy"
    a=$(passthrough_instructions "$copy" 10 5); b=$(passthrough_instructions "$copy" 10 25)
    c=$(passthrough_instructions "$copy" 210 25)
    pt_stream=$(( (b - a) / 20 )); pt_chunk=$(( (c - b) / (25 * 200) ))
    echo "| pass-through (bench-tool passthrough) | $pt_stream | $pt_chunk |"
    if [[ -n "${first_stream:-}" ]]; then
        awk -v s="$first_stream" -v c="$first_chunk" -v ps="$pt_stream" -v pc="$pt_chunk" \
            'BEGIN { printf "| pass-through / first binary | %.2f | %.2f |\n", ps / s, pc / c }'
    fi
fi
