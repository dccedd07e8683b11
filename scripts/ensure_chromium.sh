#!/usr/bin/env bash
# Make sure a headless-capable Chromium exists for the browser test (Debian's `chromium` package).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "chromium not found: installing Debian's chromium package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
  command -v chromium >/dev/null
else
  echo "chromium not found. Install it with:  sudo apt-get install chromium" >&2
  exit 1
fi
