#!/usr/bin/env bash
# Start a throwaway PostgreSQL 15 server for the PostgreSQL store suites, and print its URL as
# CYCLADES_TEST_POSTGRES_URL=postgres://cyclades:<password>@127.0.0.1:<port>/postgres
# Installs PostgreSQL from Debian if missing (--no-install-recommends --no-remove), initdb's a
# cluster in a temp dir as the postgres user, starts it on loopback with password (SCRAM) auth.
# The test harness creates one database per test through that URL.
# Env knobs: CYCLADES_PG_DIR (default /tmp/cyclades-pg), CYCLADES_PG_PORT (default 55432),
# CYCLADES_PG_FSYNC (default off: test data is throwaway; set on for benchmarks).
# Idempotent: a server already running in CYCLADES_PG_DIR is reused.
set -euo pipefail

DIR=${CYCLADES_PG_DIR:-/tmp/cyclades-pg}
PORT=${CYCLADES_PG_PORT:-55432}
log() { printf '[postgres-up %s] %s\n' "$(date +%T)" "$*" >&2; }

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    log "installing postgresql from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends --no-remove postgresql >&2 \
        || { apt-get update >&2 && apt-get install -y --no-install-recommends --no-remove postgresql >&2; }
    bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

mkdir -p "$DIR"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR"
if [ ! -f "$DIR/password" ]; then
    as_pg bash -c "umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > '$DIR/password'"
fi
password=$(cat "$DIR/password")
if [ ! -f "$DIR/data/PG_VERSION" ]; then
    log "initdb in $DIR/data"
    as_pg "$bindir/initdb" -D "$DIR/data" -U cyclades --auth=scram-sha-256 \
        --pwfile="$DIR/password" -E UTF8 --no-locale >/dev/null
fi
if ! as_pg "$bindir/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    rm -f "$DIR/data/postmaster.pid"
    log "starting on 127.0.0.1:$PORT"
    as_pg "$bindir/pg_ctl" -D "$DIR/data" -w -t 60 -l "$DIR/server.log" \
        -o "-k $DIR -p $PORT -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=${CYCLADES_PG_FSYNC:-off}" \
        start >&2
fi
log "ready"
echo "CYCLADES_TEST_POSTGRES_URL=postgres://cyclades:${password}@127.0.0.1:${PORT}/postgres"
