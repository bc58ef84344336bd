#!/usr/bin/env bash
# Benchmarks for nim-proxy: installs the load tools, builds everything in release mode, runs every
# part (bench/run.py) and writes bench/results/<date>.md with a PNG chart.
#
#   bash bench/run.sh            full run, a few minutes; results committed under bench/results/
#   bash bench/run.sh --quick    every part for a second or two (smoke test; results/tmp/, ignored)
#   extra flags go to run.py: --no-litellm, --baseline-proxy BINARY,
#   --parts startup,tokenizer,rr,streams,setup,workers,ttfb,10k,heap
#   BENCH_RESULT_NAME=NAME keeps a run (a partial one too) as bench/results/NAME.md, .json and .png
#
# All traffic stays on 127.0.0.1; every server is a child of this run and stopped by pid.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
SCRATCH="$ROOT/.build-bench"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
command -v openssl >/dev/null || need+=(openssl)
command -v valgrind >/dev/null || need+=(valgrind)
if ((${#need[@]})); then
    echo "[bench] installing ${need[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# LiteLLM (the baseline proxy) and tiktoken (the tokenizer baseline) live in a git-ignored venv.
if [[ ! -x "$BENCH/.venv/bin/litellm" || ! -x "$BENCH/.venv/bin/python" ]] \
    || ! "$BENCH/.venv/bin/python" -c 'import tiktoken' 2>/dev/null; then
    echo "[bench] installing litellm[proxy] and tiktoken into bench/.venv" >&2
    python3 -m venv "$BENCH/.venv"
    "$BENCH/.venv/bin/pip" install -q 'litellm[proxy]' tiktoken
fi

echo "[bench] building nim-proxy and scripted-upstream (release)" >&2
build_product() {
    mkdir -p "$1"
    swift build -c release --package-path "$ROOT" --scratch-path "$1" --product "$2" "${@:3}" >"$1/bench-$2.log" 2>&1
}
PRODUCT_DIR="$SCRATCH/release"
# The shipped configuration (scripts/run-server.sh): the Swift runtime linked statically.
if ! build_product "$SCRATCH" nim-proxy --static-swift-stdlib; then
    # A whole-module build has failed before on a product bug that a per-file build does not hit;
    # fall back rather than measure nothing, and say so in the results.
    echo "[bench] whole-module release build failed (see $SCRATCH/bench-nim-proxy.log); building without -wmo" >&2
    build_product "$SCRATCH-nowmo" nim-proxy --static-swift-stdlib -Xswiftc -no-whole-module-optimization \
        || { tail -30 "$SCRATCH-nowmo/bench-nim-proxy.log" >&2; exit 1; }
    PRODUCT_DIR="$SCRATCH-nowmo/release"
    export BENCH_BUILD_NOTE="nim-proxy built without whole-module optimization (the -wmo release build failed)"
fi
build_product "$SCRATCH" scripted-upstream || { tail -30 "$SCRATCH/bench-scripted-upstream.log" >&2; exit 1; }
echo "[bench] building bench-tool (release)" >&2
mkdir -p "$BENCH/.build"
swift build -c release --package-path "$BENCH" >"$BENCH/.build/build.log" 2>&1 \
    || { tail -30 "$BENCH/.build/build.log" >&2; exit 1; }

exec python3 "$BENCH/run.py" --proxy "$PRODUCT_DIR/nim-proxy" --upstream "$SCRATCH/release/scripted-upstream" \
    --bench-tool "$BENCH/.build/release/bench-tool" "$@"
