#!/usr/bin/env bash
# Make sure an `influxd` binary exists (the tests start their own server on a free port).
set -euo pipefail
if command -v influxd >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "influxd not found: installing Debian's influxdb package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq influxdb >/dev/null
  # The package may start a system service on :8086; the tests do not use it.
  command -v influxd >/dev/null
else
  echo "influxd not found. Install it with:  sudo apt-get install influxdb" >&2
  exit 1
fi
