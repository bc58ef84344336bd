#!/usr/bin/env bash
# Prints the path of the Claude Code CLI the end-to-end tests run, fetching it first if needed: PyPI's
# claude-agent-sdk wheel bundles it; it is cached under .cache/claude-cli (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
sdk_version="${CLAUDE_AGENT_SDK_VERSION:-0.2.190}"
cache="$PWD/.cache/claude-cli/$sdk_version"
claude_bin="$cache/claude_agent_sdk/_bundled/claude"
if [ ! -x "$claude_bin" ]; then
  echo "e2e: fetching claude-agent-sdk $sdk_version (bundles the Claude Code CLI)" >&2
  mkdir -p "$cache"
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform manylinux_2_17_x86_64 --python-version 3.11 \
    -d "$cache" "claude-agent-sdk==$sdk_version" >&2
  (cd "$cache" && python3 -m zipfile -e claude_agent_sdk-*.whl . >/dev/null)
  chmod +x "$claude_bin"
fi
echo "$claude_bin"
