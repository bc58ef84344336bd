#!/usr/bin/env bash
# libFuzzer over the parsers of outside bytes (fuzz/README.md):
#   bash scripts/fuzz.sh --list             the targets, one per line
#   bash scripts/fuzz.sh TARGET SECONDS     build one target and fuzz it; non-zero on a crash
#   bash scripts/fuzz.sh --smoke SECONDS    build every target and fuzz each for SECONDS
# The targets are Package.swift's `fuzz-*` products. A run starts from the committed seeds in
# fuzz/corpus/NAME and keeps what it adds in .build-fuzz/corpus/NAME for the next run; a
# crashing input is kept in fuzz/crashes/ (git-ignored) and the script says how to replay it.
set -uo pipefail
cd "$(dirname "$0")/.."

# Where the sanitizer build and the grown corpora live (apart from the normal .build).
scratch=${FUZZ_SCRATCH_PATH:-.build-fuzz}
# Seconds one input may take before libFuzzer reports a hang, which is a failure like a crash;
# generous because the sanitizers slow the code down several times.
input_timeout=${FUZZ_INPUT_TIMEOUT:-20}
# This invocation's logs, apart from those of any other run going on at the same time.
logs="$scratch/logs/$(date -u +%Y%m%dT%H%M%S)-$$"
# libFuzzer's cap on the process's memory (the sanitizer's own, about 0.5 GB, included) and on
# any one allocation: an input that needs more is reported like a crash, as bounded memory is a
# property of every parser here.
rss_limit_mb=${FUZZ_RSS_LIMIT_MB:-2048}

usage() {
  sed -n '3,5p' "$0" | sed 's/^# *//' >&2
  exit 2
}

# Products are the only names in Package.swift that start `fuzz-` (targets are `Fuzz<Name>`).
targets() {
  grep -Eo 'name: "fuzz-[a-z0-9-]+"' Package.swift | grep -Eo 'fuzz-[a-z0-9-]+'
}

# `json-parser` or `fuzz-json-parser` -> `fuzz-json-parser`, nothing if there is no such target.
product_of() {
  targets | grep -Fx -- "fuzz-${1#fuzz-}" || true
}

bin_dir() {
  swift build --scratch-path "$scratch" --show-bin-path 2>/dev/null
}

# Builds one product for libFuzzer: FUZZING drops the replaying main, `-sanitize=fuzzer` adds
# coverage feedback and libFuzzer's own main. Prints the compiler's output only on failure.
#
# SwiftPM hands swiftc `-sanitize=fuzzer -sanitize=address` as two options, and the driver (6.3)
# passes only the last to the compiler: the code is built without coverage instrumentation and
# libFuzzer mutates blind ("no interesting inputs were found"). The one combined option after them
# is what instruments; SwiftPM's own options still select the runtimes at link time.
build() {
  local product=$1 log started=$SECONDS
  mkdir -p "$logs"
  log="$logs/build-$product.log"
  if swift build --product "$product" --sanitize=fuzzer --sanitize=address \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING \
    --scratch-path "$scratch" >"$log" 2>&1; then
    echo "built $product ($((SECONDS - started)) s)"
  else
    grep -E "error|warning:" "$log" | grep -v "pc file" | head -40
    tail -5 "$log"
    echo "build of $product FAILED ($((SECONDS - started)) s)"
    return 1
  fi
}

# Fuzzes one built product for SECONDS; `quiet` keeps libFuzzer's progress in a log and prints
# its figures only. Returns libFuzzer's status (non-zero: crash, hang, leak or memory limit).
run() {
  local product=$1 seconds=$2 quiet=${3:-} name=${1#fuzz-}
  local bin work seeds log marker status
  bin="$(bin_dir)/$product"
  work="$scratch/corpus/$name"
  seeds="fuzz/corpus/$name"
  log="$logs/run-$product.log"
  marker="$logs/run-$product.start"
  mkdir -p "$work" fuzz/crashes "$logs"
  touch "$marker"
  local args=(
    -max_total_time="$seconds" -timeout="$input_timeout" -rss_limit_mb="$rss_limit_mb"
    -print_final_stats=1 -artifact_prefix="fuzz/crashes/$name-"
  )
  [ -f "fuzz/dictionaries/$name.dict" ] && args+=(-dict="fuzz/dictionaries/$name.dict")
  args+=("$work")
  [ -d "$seeds" ] && args+=("$seeds")
  # The Swift runtime's backtracer would take the crash signal from libFuzzer.
  if [ -n "$quiet" ]; then
    SWIFT_BACKTRACE=enable=no "$bin" "${args[@]}" >"$log" 2>&1
    status=$?
  else
    SWIFT_BACKTRACE=enable=no "$bin" "${args[@]}" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
  fi
  local done_line units rss
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 | sed -E 's/^#[0-9]+[[:space:]]+DONE[[:space:]]+//')
  units=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$')
  rss=$(grep -Eo 'stat::peak_rss_mb: *[0-9]+' "$log" | grep -Eo '[0-9]+$')
  if [ "$status" -eq 0 ]; then
    echo "$product: ok, ${units:-?} runs in $seconds s, peak RSS ${rss:-?} MB; ${done_line}"
    return 0
  fi
  [ -n "$quiet" ] && tail -40 "$log"
  echo "$product: FAILED (libFuzzer status $status); its output: $log"
  local found
  found=$(find fuzz/crashes -type f -name "$name-*" -newer "$marker" 2>/dev/null)
  for f in $found; do
    echo "  input kept: $f"
    echo "  replay with the sanitizers: SWIFT_BACKTRACE=enable=no $bin $f"
    echo "  replay in a debug build:    swift run $product $f"
  done
  return "$status"
}

case "${1:-}" in
  --list)
    [ $# -eq 1 ] || usage
    targets
    ;;
  --smoke)
    [ $# -eq 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || usage
    seconds=$2
    passed=0
    failed=0
    started=$SECONDS
    built=()
    for product in $(targets); do
      if build "$product"; then built+=("$product"); else failed=$((failed + 1)); fi
    done
    echo "built ${#built[@]} target(s) in $((SECONDS - started)) s"
    for product in "${built[@]}"; do
      if run "$product" "$seconds" quiet; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    done
    echo "fuzz: $passed passed, $failed failed ($((SECONDS - started)) s)"
    [ "$failed" -eq 0 ]
    ;;
  ""|-*)
    usage
    ;;
  *)
    [ $# -eq 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || usage
    product=$(product_of "$1")
    if [ -z "$product" ]; then
      echo "no fuzz target $1; the targets are:" >&2
      targets >&2
      exit 2
    fi
    build "$product" || exit 1
    run "$product" "$2"
    ;;
esac
