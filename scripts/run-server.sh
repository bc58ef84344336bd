#!/usr/bin/env bash
# One command: install what is needed, build in release mode, run the server.
# Arguments are passed to the server (e.g. --port 8082 --env-file .env).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# The Swift runtime is linked statically: only the parts the server uses are loaded, which
# keeps an idle server under 16 MB resident.
swift build -c release --static-swift-stdlib --product nim-proxy
exec .build/release/nim-proxy "$@"
