#!/usr/bin/env bash
# One command: install what is needed, build in release mode, run the server.
# Arguments are passed to the server (e.g. --port 8082 --env-file .env).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product nim-proxy
exec .build/release/nim-proxy "$@"
