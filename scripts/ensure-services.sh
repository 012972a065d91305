#!/usr/bin/env bash
# Install (when missing) and start what the test suite needs: PostgreSQL 15 + PostGIS 3, Redis,
# Debian's Chromium + ChromeDriver (browser tests) and docker-compose (validates the compose file).
# Video decoding needs no system ffmpeg: PyAV wheels carry their own.
# Idempotent: safe to run before every `make test`.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need=()
dpkg -s postgresql-15-postgis-3 >/dev/null 2>&1 || need+=(postgresql-15-postgis-3)
dpkg -s chromium >/dev/null 2>&1 || need+=(chromium)
dpkg -s chromium-driver >/dev/null 2>&1 || need+=(chromium-driver)
dpkg -s docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}"
fi

PGHOST=${WASTEMAP_TEST_PGHOST:-127.0.0.1}
if ! pg_isready -h "$PGHOST" -p 5432 -q; then
  echo "starting PostgreSQL"
  $SUDO pg_ctlcluster --skip-systemctl-redirect 15 main start || true
  for _ in $(seq 30); do pg_isready -h "$PGHOST" -p 5432 -q && break; sleep 1; done
fi
pg_isready -h "$PGHOST" -p 5432

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null

# PostGIS must be creatable in the test databases (the tests create them per session).
psql -h "$PGHOST" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA \
  -c "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'" | grep -q 1
echo "services ready: PostgreSQL+PostGIS at $PGHOST:5432, Redis at 127.0.0.1:6379"
