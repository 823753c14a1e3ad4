# shellcheck shell=bash
# Throwaway PostgreSQL and Redis for tests and benchmarks. Source this file, then:
#   services_start   # starts both on free loopback ports, exports the variables below
#   services_stop    # stops both and removes their directory (call it from a trap)
#
# Exported for the test process and anything it starts (Celery worker subprocesses included):
#   DATABASE_URL        postgres://postgres@127.0.0.1:PORT/shikaku  (pytest-django makes test_shikaku…)
#   TEST_REDIS_URL      redis://127.0.0.1:PORT/0   (CELERY_BROKER_URL is NOT exported: the suite stays
#                       eager; integration tests pass TEST_REDIS_URL to their worker themselves)
#   TEST_REDIS_PORT, TEST_REDIS_CONF   restart Redis mid-test with `redis-cli -p $TEST_REDIS_PORT
#                       shutdown` then `redis-server $TEST_REDIS_CONF` (same port, same AOF data)
#   TEST_PG_PORT, TEST_PG_BIN, TEST_SERVICES_DIR (logs live there)

# Debian's server binaries. (/usr/local/bin/pg_ctl on these machines is only a symlink to them; we
# name the versioned directory so that no other pg_ctl on PATH is picked up.)
# On a machine with another major version only, the newest one installed is used.
if [ -z "${PG_BIN:-}" ]; then
  PG_BIN=/usr/lib/postgresql/15/bin
  if [ ! -x "$PG_BIN/pg_ctl" ]; then
    PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  fi
fi

_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

_as_postgres() {
  # initdb refuses to run as root: run the server as the `postgres` system user when we are root.
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

services_start() {
  if [ ! -x "$PG_BIN/pg_ctl" ]; then
    echo "services: $PG_BIN/pg_ctl not found (apt-get install postgresql; run make install)" >&2
    return 1
  fi
  TEST_SERVICES_DIR="$(mktemp -d /tmp/shikaku-services.XXXXXX)"
  chmod 755 "$TEST_SERVICES_DIR"
  export TEST_SERVICES_DIR

  # --- PostgreSQL: a fresh cluster, tuned for throwaway data (no fsync) ---
  local pgdata="$TEST_SERVICES_DIR/pg"
  mkdir -p "$pgdata"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$pgdata"
  TEST_PG_PORT="$(_free_port)"
  export TEST_PG_PORT TEST_PG_BIN="$PG_BIN"
  _as_postgres "$PG_BIN/initdb" -D "$pgdata" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$TEST_SERVICES_DIR/initdb.log" 2>&1 || {
    cat "$TEST_SERVICES_DIR/initdb.log" >&2
    return 1
  }
  if ! _as_postgres "$PG_BIN/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w -t 60 start -o \
    "-p $TEST_PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$pgdata \
     -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    >/dev/null; then
    cat "$pgdata/server.log" >&2
    return 1
  fi
  "$PG_BIN/createdb" -h 127.0.0.1 -p "$TEST_PG_PORT" -U postgres shikaku
  export DATABASE_URL="postgres://postgres@127.0.0.1:$TEST_PG_PORT/shikaku"

  # --- Redis: as in production (noeviction, AOF), on a free port ---
  local redisdir="$TEST_SERVICES_DIR/redis"
  mkdir -p "$redisdir"
  TEST_REDIS_PORT="$(_free_port)"
  TEST_REDIS_CONF="$redisdir/redis.conf"
  cat >"$TEST_REDIS_CONF" <<EOF
port $TEST_REDIS_PORT
bind 127.0.0.1
protected-mode yes
daemonize yes
pidfile $redisdir/redis.pid
logfile $redisdir/redis.log
dir $redisdir
save ""
appendonly yes
appendfsync everysec
maxmemory-policy noeviction
EOF
  export TEST_REDIS_PORT TEST_REDIS_CONF
  redis-server "$TEST_REDIS_CONF"
  local i
  for i in $(seq 1 50); do
    redis-cli -p "$TEST_REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  if ! redis-cli -p "$TEST_REDIS_PORT" ping >/dev/null 2>&1; then
    cat "$redisdir/redis.log" >&2
    return 1
  fi
  export TEST_REDIS_URL="redis://127.0.0.1:$TEST_REDIS_PORT/0"
  echo "services: PostgreSQL on 127.0.0.1:$TEST_PG_PORT, Redis on 127.0.0.1:$TEST_REDIS_PORT ($TEST_SERVICES_DIR)"
}

services_stop() {
  [ -n "${TEST_SERVICES_DIR:-}" ] && [ -d "$TEST_SERVICES_DIR" ] || return 0
  if [ -n "${TEST_REDIS_PORT:-}" ]; then
    redis-cli -p "$TEST_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    if [ -f "$TEST_SERVICES_DIR/redis/redis.pid" ]; then
      kill "$(cat "$TEST_SERVICES_DIR/redis/redis.pid")" 2>/dev/null || true
    fi
  fi
  if [ -f "$TEST_SERVICES_DIR/pg/postmaster.pid" ]; then
    _as_postgres "$PG_BIN/pg_ctl" -D "$TEST_SERVICES_DIR/pg" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      _as_postgres "$PG_BIN/pg_ctl" -D "$TEST_SERVICES_DIR/pg" -m immediate stop >/dev/null 2>&1 || true
  fi
  if [ "${KEEP_SERVICES_DIR:-0}" = "1" ]; then
    echo "services: stopped; logs kept in $TEST_SERVICES_DIR"
  else
    rm -rf "$TEST_SERVICES_DIR"
    echo "services: stopped"
  fi
  TEST_SERVICES_DIR=""
}
