#!/usr/bin/env bash
# Stop the throwaway PostgreSQL server of up.sh; with --purge also delete its directory.
set -euo pipefail
DIR=${CYCLADES_PG_DIR:-/tmp/cyclades-pg}
log() { printf '[postgres-down %s] %s\n' "$(date +%T)" "$*" >&2; }
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ -n "$bindir" ] && [ -f "$DIR/data/PG_VERSION" ]; then
    as_pg "$bindir/pg_ctl" -D "$DIR/data" -m fast stop >&2 2>/dev/null || true
fi
if [ "${1:-}" = "--purge" ]; then
    rm -rf "$DIR"
    log "purged $DIR"
fi
log "done"
