#!/usr/bin/env bash
# Installs the system packages the proxy builds against (Debian 12 or later).
# The Swift toolchain itself (6.0 or later) is not packaged by Debian 12: it must be on PATH.
set -euo pipefail

# redis-server: the black-box test of RATE_LIMIT_STORE=redis starts its own on a free loopback port.
packages=(libuv1-dev libcurl4-openssl-dev libnghttp2-dev pkg-config ca-certificates python3 python3-pip python3-venv tmux redis-server)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "error: no 'swift' on PATH. Install a Swift 6.2 or later toolchain (https://www.swift.org/install/linux/) and retry." >&2
  exit 1
fi
