# Shared by the end-to-end scripts (sourced, after `cd` to the repository): a scratch folder and the
# background processes, both removed on exit; a wait with a deadline; the scripted upstream.
# `e2e_name` names the script in messages; `cleanup_hooks` run first on exit. Sets `bin_dir` (the
# debug build unless BIN_DIR says otherwise) and `claude_bin` (the CLI, fetched when missing).
bin_dir="${BIN_DIR:-$PWD/.build/debug}"
claude_bin=$(bash scripts/fetch-claude-cli.sh)
echo "${e2e_name:-e2e}: $("$claude_bin" --version)"
work=$(mktemp -d)
pids=()
cleanup_hooks=()
cleanup() {
  for hook in "${cleanup_hooks[@]}"; do "$hook"; done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # A CLI may still be writing its HOME for a moment after its terminal went away.
  rm -rf "$work" 2>/dev/null || { sleep 0.5; rm -rf "$work" 2>/dev/null; } || true
}
trap cleanup EXIT

# Waits until a background process prints a line matching `pattern`, with a deadline.
wait_for_line() { # file pattern seconds
  local file=$1 pattern=$2 deadline=$((SECONDS + $3))
  until grep -q "$pattern" "$file" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "${e2e_name:-e2e}: timed out waiting for '$pattern' in $file"; cat "$file"; return 1; }
    sleep 0.1
  done
}

# Starts the scripted upstream, recording every request body in $work/upstream-bodies.jsonl; sets upstream_port.
start_upstream() {
  "$bin_dir/scripted-upstream" --port 0 --record "$work/upstream-bodies.jsonl" >"$work/upstream.out" 2>&1 &
  pids+=($!)
  wait_for_line "$work/upstream.out" '^listening ' 10 || return 1
  upstream_port=$(awk '/^listening /{print $2; exit}' "$work/upstream.out")
}
