#!/usr/bin/env bash
# Make sure PostgreSQL answers on 127.0.0.1:5432 (start the local cluster, or install one as root).
set -euo pipefail
HOST=127.0.0.1
PORT=5432
answers() { pg_isready -q -h "$HOST" -p "$PORT" 2>/dev/null; }
if command -v pg_isready >/dev/null 2>&1 && answers; then
  exit 0
fi
if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "PostgreSQL not installed: installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
    conf=$(ls -d /etc/postgresql/*/main | head -n 1)
    # Local test cluster only: trust loopback connections, as the CI machines do.
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$conf/pg_hba.conf"
  else
    echo "PostgreSQL is not running on $HOST:$PORT. Start it, or install it: sudo apt-get install postgresql" >&2
    exit 1
  fi
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
echo "PostgreSQL not answering on $HOST:$PORT: starting cluster $version/main"
pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 1 30); do
  answers && break
  sleep 1
done
answers || { echo "PostgreSQL did not come up on $HOST:$PORT" >&2; exit 1; }
psql -h "$HOST" -p "$PORT" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
  || psql -h "$HOST" -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE test" >/dev/null
