#!/usr/bin/env bash
# The whole suite, browser tests included. Installs what is missing (Debian's chromium,
# chromium-driver, redis-server, postgresql), starts Redis and PostgreSQL on 127.0.0.1
# for the run, and stops them afterwards. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
PG_BIN=/usr/lib/postgresql/15/bin
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x "$PG_BIN/initdb" ] || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} with apt"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

./scripts/bootstrap.sh requirements-test.txt

work=$(mktemp -d /tmp/deskboard-test.XXXXXX)
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cleanup() {
  [ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null || true
  if [ -f "$work/pg/postmaster.pid" ]; then
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1 || true
    else "$PG_BIN/pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1 || true; fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --daemonize yes --pidfile "$work/redis.pid" --logfile "$work/redis.log"

pg_port=$(free_port)
mkdir -p "$work/pg" "$work/pgsock"
pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
# PostgreSQL refuses to run as root: its folders belong to the postgres user.
[ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$work/pg" "$work/pgsock" && chmod 755 "$work"
pg "$PG_BIN/initdb" -D "$work/pg" --auth=trust -U postgres >/dev/null
pg "$PG_BIN/pg_ctl" -D "$work/pg" -w -l "$work/pgsock/pg.log" \
  -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $work/pgsock -c fsync=off" start >/dev/null

export DESKBOARD_TEST_REDIS_URL="redis://127.0.0.1:$redis_port/0"
export DESKBOARD_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$pg_port/postgres"
export PYTHONDONTWRITEBYTECODE=1

.venv/bin/ruff check .
# The whole suite unless the arguments name files or folders to run (tests/backend, a::test).
target=(tests)
for arg in "$@"; do
  case "$arg" in -*) ;; *) [ -e "${arg%%::*}" ] && target=() ;; esac
done
set +e
# A run that hangs (a test's own timeout cannot stop a process that never exits) fails with a
# clear line well before CI's limit, and still stops the servers.
# Two workers (DESKBOARD_TEST_WORKERS; 0 runs everything in this process), each taking a whole
# test module at a time, longest first (tests/conftest.py orders them so that both end together).
timeout --kill-after=30 70m .venv/bin/python -m pytest "${target[@]}" --headless -p no:cacheprovider \
  -n "${DESKBOARD_TEST_WORKERS:-2}" --dist loadscope --no-loadscope-reorder "$@"
rc=$?
set -e
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then echo "the test run did not end within 70 minutes: failing the run" >&2; exit 1; fi
if [ $rc -eq 5 ]; then echo "pytest collected no tests: failing the run" >&2; exit 1; fi
exit $rc
