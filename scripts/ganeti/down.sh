#!/usr/bin/env bash
# Stop the local Ganeti test cluster started by scripts/ganeti/up.sh.
#   scripts/ganeti/down.sh           stop daemons (by pid file), delete netns + UTS ns.
#                            Cluster state in /var/lib/ganeti is kept, so the
#                            next scripts/ganeti/up.sh is a fast restart.
#   scripts/ganeti/down.sh --purge   additionally wipe the cluster state, instance files,
#                            the dummy snf-image OS and the /etc/hosts entries
#                            (next scripts/ganeti/up.sh does a fresh 'gnt-cluster init').
# Only processes recorded in /var/run/ganeti/*.pid (or living inside the "gnt"
# network namespace, which only this tooling creates) are signalled, by PID.
set -euo pipefail

NS=gnt
UTS_DIR=/run/gnt-ns
UTS_FILE=$UTS_DIR/uts
RUN_DIR=/var/run/ganeti
PURGE=0
[[ ${1:-} == --purge ]] && PURGE=1

log() { printf '[ganeti-down %s] %s\n' "$(date +%T)" "$*" >&2; }

# is pid alive (and not a zombie waiting to be reaped by PID 1)?
alive() {
  local st
  st=$(awk '{print $3}' /proc/$1/stat 2>/dev/null) || return 1
  [[ -n $st && $st != Z ]]
}

# TERM all given pids at once, wait up to 10s, then KILL survivors
stop_pids() {
  local pid i left
  for pid in "$@"; do
    log "stopping pid $pid ($(cat /proc/$pid/comm 2>/dev/null || echo '?'))"
    kill -TERM "$pid" 2>/dev/null || true
  done
  for i in $(seq 1 50); do
    left=0
    for pid in "$@"; do alive "$pid" && left=1; done
    [[ $left == 0 ]] && return 0
    sleep 0.2
  done
  for pid in "$@"; do
    if alive "$pid"; then
      log "  pid $pid did not exit, sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

PIDS=()
for d in ganeti-rapi ganeti-metad ganeti-kvmd ganeti-mond ganeti-luxid \
         ganeti-wconfd ganeti-confd ganeti-noded; do
  pf=$RUN_DIR/$d.pid
  [[ -f $pf ]] || continue
  pid=$(cat "$pf" 2>/dev/null || true)
  # only signal the pid if it really is that ganeti daemon
  if [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" \
     && tr '\0' ' ' < /proc/$pid/cmdline | grep -q "$d"; then
    PIDS+=("$pid")
  fi
done
if [[ ${#PIDS[@]} -gt 0 ]]; then stop_pids "${PIDS[@]}"; fi
for d in ganeti-rapi ganeti-metad ganeti-kvmd ganeti-mond ganeti-luxid \
         ganeti-wconfd ganeti-confd ganeti-noded; do
  rm -f $RUN_DIR/$d.pid
done

# anything still running inside our own netns (job processes, socat, ...)
if [[ -e /run/netns/$NS ]]; then
  NSPIDS=()
  for pid in $(ip netns pids $NS 2>/dev/null || true); do
    alive "$pid" && NSPIDS+=("$pid")
  done
  if [[ ${#NSPIDS[@]} -gt 0 ]]; then stop_pids "${NSPIDS[@]}"; fi
  log "deleting network namespace $NS"
  ip netns del $NS
fi

if findmnt -n $UTS_FILE >/dev/null 2>&1; then
  log "removing UTS namespace"
  umount $UTS_FILE
fi
rm -f $UTS_FILE
rmdir $UTS_DIR 2>/dev/null || true

if [[ $PURGE == 1 ]]; then
  log "purging cluster state"
  rm -rf /var/lib/ganeti/* /var/run/ganeti /var/log/ganeti/* \
         /srv/ganeti/file-storage /srv/ganeti/shared-file-storage \
         /srv/ganeti/os/snf-image /etc/ganeti/file-storage-paths \
         /usr/local/lib/ganeti/iallocators/snf-trivial
  rmdir /usr/local/lib/ganeti/iallocators /usr/local/lib/ganeti /srv/ganeti/os /srv/ganeti 2>/dev/null || true
  # lines tagged by up.sh (and by the team recipe's ganeti-up.sh)
  sed -i -e '/# ganeti-local (cyclades test cluster)$/d' -e '/# ganeti-local (ganeti-up.sh)$/d' -e '\|# ganeti-local (scripts/ganeti/up.sh)$|d' /etc/hosts
fi
log "done"
