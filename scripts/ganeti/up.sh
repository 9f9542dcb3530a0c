#!/usr/bin/env bash
# Bring up a real single-node Ganeti 3.0 cluster (fake hypervisor) for the live RAPI test
# (host/tests/ganeti_live.rs), with RAPI at https://127.0.0.1:${GNT_RAPI_PORT:-5080}
# (self-signed certificate), user "cyclades", password "cyclades", write access.
# Derived from the team recipe (shared/ganeti/RECIPE.md); .ci/run calls it.
#
# Design (see RECIPE.md beside this script):
#  * network namespace "gnt" holds the node IP 203.0.113.10 and the master IP
#    203.0.113.11 on bridge br0 (both addresses exist ONLY inside the netns).
#  * a persistent UTS namespace (/run/gnt-ns/uts) gives the node the hostname
#    node1.ganeti.test without touching the host's hostname.
#  * all Ganeti daemons run inside both namespaces, except ganeti-rapi, which
#    runs in the UTS namespace but in the ROOT network namespace, bound to
#    127.0.0.1:5080 (it talks to luxid over a unix socket, so this works).
#  * daemons are started with /usr/lib/ganeti/daemon-util (start-stop-daemon,
#    pid files in /var/run/ganeti/*.pid); no systemd needed.
#
# Idempotent: re-running it on a running cluster is a no-op (apart from checks).
# Env knobs: GNT_RAPI_PORT (default 5080), GNT_SKIP_INSTALL=1.
set -euo pipefail

NS=gnt
UTS_DIR=/run/gnt-ns
UTS_FILE=$UTS_DIR/uts
NODE_NAME=node1.ganeti.test
NODE_IP=203.0.113.10
CLUSTER_NAME=cluster.ganeti.test
CLUSTER_IP=203.0.113.11
RAPI_PORT=${GNT_RAPI_PORT:-5080}
RAPI_USER=cyclades
RAPI_PASS=cyclades
FILE_DIR=/srv/ganeti/file-storage
SFILE_DIR=/srv/ganeti/shared-file-storage
OS_DIR=/srv/ganeti/os/snf-image
HOSTS_TAG="# ganeti-local (cyclades test cluster)"

log() { printf '[ganeti-up %s] %s\n' "$(date +%T)" "$*" >&2; }
# run a command inside the node's namespaces (net + uts). 'ip netns exec'
# (not plain nsenter --net) because it also mounts a /sys that matches the
# netns: noded checks bridges via /sys/class/net/<br>/bridge.
inns() { ip netns exec $NS nsenter --uts=$UTS_FILE -- "$@"; }
# run a command with the node's hostname but in the root network namespace
inuts() { nsenter --uts=$UTS_FILE -- "$@"; }

[[ $(id -u) -eq 0 ]] || { echo "must run as root" >&2; exit 1; }
T0=$(date +%s)

# ---------------------------------------------------------------- 1. packages
if ! dpkg-query -W -f='${Status}' ganeti 2>/dev/null | grep -q "install ok installed" \
   || ! command -v curl >/dev/null; then
  if [[ ${GNT_SKIP_INSTALL:-0} == 1 ]]; then echo "ganeti not installed" >&2; exit 1; fi
  log "installing ganeti (apt-get, --no-install-recommends)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-remove: never let apt remove unrelated packages (with recommends,
  # qemu-system 7.2 replaced a pre-installed qemu-utils 10 backport here)
  apt-get install -y -qq --no-install-recommends --no-remove ganeti curl ca-certificates >/dev/null
fi
# ganeti's postinst does not start anything without systemd; ssh host keys are
# needed by 'gnt-cluster init' (it only reads the public key).
if [[ ! -s /etc/ssh/ssh_host_rsa_key.pub ]]; then
  log "generating ssh host keys"
  ssh-keygen -A >/dev/null
fi

# ------------------------------------------------------ 2. namespaces/network
if [[ ! -e /run/netns/$NS ]]; then
  log "creating network namespace $NS"
  ip netns add $NS
fi
ip -n $NS link set lo up
if ! ip -n $NS link show br0 >/dev/null 2>&1; then
  ip -n $NS link add br0 type bridge
  # a veth pair with one end in the bridge gives br0 a carrier (no 'dummy'
  # module in this kernel)
  ip -n $NS link add gnt-v0 type veth peer name gnt-v1
  ip -n $NS link set gnt-v0 master br0
  ip -n $NS link set gnt-v0 up
  ip -n $NS link set gnt-v1 up
  ip -n $NS addr add $NODE_IP/24 dev br0
fi
ip -n $NS link set br0 up

mkdir -p $UTS_DIR
if ! findmnt -n $UTS_FILE >/dev/null 2>&1; then
  log "creating persistent UTS namespace ($NODE_NAME)"
  touch $UTS_FILE
  unshare --uts=$UTS_FILE hostname $NODE_NAME
fi
[[ $(inuts hostname) == "$NODE_NAME" ]] || inuts hostname $NODE_NAME

# /etc/hosts (shared by all namespaces)
if ! grep -q "^$NODE_IP " /etc/hosts; then
  printf '%s %s %s %s\n' $NODE_IP $NODE_NAME node1 "$HOSTS_TAG" >> /etc/hosts
fi
if ! grep -q "^$CLUSTER_IP " /etc/hosts; then
  printf '%s %s %s %s\n' $CLUSTER_IP $CLUSTER_NAME cluster "$HOSTS_TAG" >> /etc/hosts
fi

# ---------------------------------------------------------- 3. ganeti config
mkdir -p $FILE_DIR $SFILE_DIR /etc/ganeti
for d in $FILE_DIR $SFILE_DIR; do
  grep -qx "$d" /etc/ganeti/file-storage-paths 2>/dev/null || echo "$d" >> /etc/ganeti/file-storage-paths
done
# RAPI on loopback of the ROOT netns (see header); keep auth required.
sed -i "s|^RAPI_ARGS=.*|RAPI_ARGS=\"-b 127.0.0.1 -p $RAPI_PORT --require-authentication\"|" /etc/default/ganeti

# Minimal "snf-image" OS definition (API 20) so that Synnefo-shaped
# os_type=snf-image+default requests validate. Scripts just succeed.
if [[ ! -f $OS_DIR/ganeti_api_version ]]; then
  log "installing dummy OS definition snf-image"
  mkdir -p $OS_DIR
  echo 20 > $OS_DIR/ganeti_api_version
  echo default > $OS_DIR/variants.list
  cat > $OS_DIR/parameters.list <<'EOF'
img_id Image ID (pithos/URL/local file)
img_format Image format (diskdump, extdump, ntfsdump)
img_passwd Password to inject
img_properties JSON image properties
config_url URL to fetch the instance configuration from
os_type unused
EOF
  for s in create export import rename verify; do
    cat > $OS_DIR/$s <<EOF
#!/bin/sh
# dummy snf-image '$s' script for a fake-hypervisor test cluster
echo "snf-image(dummy) $s: INSTANCE_NAME=\${INSTANCE_NAME:-} OSP_IMG_ID=\${OSP_IMG_ID:-}" >&2
exit 0
EOF
    chmod 755 $OS_DIR/$s
  done
fi

# Trivial iallocator: always picks the (single) online vm_capable node. The
# stock 'hail' refuses every allocation on a 1-node cluster (FailN1 for
# diskless/sharedfile, FailDisk for file), but Synnefo never sends 'pnode'
# and relies on the cluster default iallocator.
IALLOC=/usr/local/lib/ganeti/iallocators/snf-trivial
if [[ ! -x $IALLOC ]]; then
  mkdir -p "$(dirname $IALLOC)"
  cat > $IALLOC <<'EOF_IALLOC'
#!/usr/bin/python3
# Trivial Ganeti iallocator for a single-node test cluster.
import json, sys
data = json.load(open(sys.argv[1]))
req = data["request"]
nodes = sorted(n for n, v in data["nodes"].items()
               if not v.get("offline") and not v.get("drained")
               and v.get("vm_capable", True))
out = {"success": False, "info": "unsupported request", "result": []}
if req["type"] == "allocate":
    k = req.get("required_nodes", 1)
    if len(nodes) >= k:
        out = {"success": True, "info": "snf-trivial", "result": nodes[:k]}
    else:
        out["info"] = "not enough nodes"
elif req["type"] == "multi-allocate":
    ok = [[i["name"], nodes[:i.get("required_nodes", 1)]] for i in req["instances"]]
    out = {"success": True, "info": "snf-trivial", "result": [ok, []]}
print(json.dumps(out))
EOF_IALLOC
  chmod 755 $IALLOC
fi

# ------------------------------------------------------ 4. init or start
if [[ ! -f /var/lib/ganeti/config.data ]]; then
  log "gnt-cluster init $CLUSTER_NAME"
  # cluster init starts all daemons itself via daemon-util start-all
  inns gnt-cluster init \
    --enabled-hypervisors=fake \
    --enabled-disk-templates=file,sharedfile,diskless \
    --ipolicy-disk-templates=file,sharedfile,diskless \
    --no-ssh-init --no-etc-hosts \
    --master-netdev=br0 --master-netmask=24 \
    --nic-parameters=mode=bridged,link=br0 \
    --file-storage-dir=$FILE_DIR \
    --shared-file-storage-dir=$SFILE_DIR \
    --maintain-node-health=no \
    --default-iallocator=snf-trivial \
    $CLUSTER_NAME
  # restart rapi in the root netns (init started it inside the netns)
  inns /usr/lib/ganeti/daemon-util stop ganeti-rapi || true
else
  log "cluster config exists, starting daemons that are not running"
  # (daemon-util start on an already running daemon fails with
  #  "matching only on non-root pidfile ... is insecure", so check first)
  # A pid file left by daemons that were killed (a machine reboot, a session that
  # ended) makes daemon-util refuse to start them ("non-root pidfile ... insecure"):
  # drop every pid file whose process is gone or is not that daemon.
  remove_stale_pidfile() {
    local pf=/var/run/ganeti/$1.pid pid
    [[ -f $pf ]] || return 0
    pid=$(cat "$pf" 2>/dev/null || true)
    if [[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/cmdline ]] \
       && tr '\0' ' ' < /proc/$pid/cmdline | grep -q "$1"; then
      return 0
    fi
    log "removing stale pid file $pf"
    rm -f "$pf"
  }
  for d in ganeti-noded ganeti-confd ganeti-wconfd ganeti-luxid ganeti-mond ganeti-rapi; do
    remove_stale_pidfile $d
  done
  for d in ganeti-noded ganeti-confd ganeti-wconfd ganeti-luxid ganeti-mond; do
    if ! /usr/lib/ganeti/daemon-util check $d >/dev/null 2>&1; then
      inns /usr/lib/ganeti/daemon-util start $d
    fi
  done
fi

# --------------------------------------------------------------- 5. RAPI user
mkdir -p /var/lib/ganeti/rapi
USERS=/var/lib/ganeti/rapi/users
if ! grep -q "^$RAPI_USER " $USERS 2>/dev/null; then
  # plain-text password form: "<user> <password> <options>"
  echo "$RAPI_USER $RAPI_PASS write" >> $USERS
  chown gnt-rapi:gnt-masterd $USERS 2>/dev/null || true
  chmod 640 $USERS
fi

# ganeti-rapi: UTS namespace only (hostname check), root netns loopback.
if ! /usr/lib/ganeti/daemon-util check ganeti-rapi 2>/dev/null; then
  inuts /usr/lib/ganeti/daemon-util start ganeti-rapi
fi

# ------------------------------------------------------------- 6. wait ready
URL=https://127.0.0.1:$RAPI_PORT
for i in $(seq 1 120); do
  code=$(curl -sk -o /dev/null -w '%{http_code}' -u $RAPI_USER:$RAPI_PASS $URL/2/info || true)
  [[ $code == 200 ]] && break
  sleep 0.5
done
if [[ $code != 200 ]]; then
  echo "RAPI did not become ready (last HTTP code: $code)" >&2
  exit 1
fi
# the master IP is activated by init / by luxid at startup (asynchronously);
# only if it does not show up, activate it explicitly
for i in $(seq 1 20); do
  ip -n $NS addr show br0 | grep -q "$CLUSTER_IP/" && break
  sleep 0.5
done
if ! ip -n $NS addr show br0 | grep -q "$CLUSTER_IP/"; then
  inns gnt-cluster activate-master-ip || log "WARNING: master IP not active"
fi

log "ready in $(( $(date +%s) - T0 ))s"
cat <<EOF
GANETI_RAPI_URL=$URL
GANETI_RAPI_USER=$RAPI_USER
GANETI_RAPI_PASSWORD=$RAPI_PASS
# self-signed certificate: curl -k -u $RAPI_USER:$RAPI_PASS $URL/2/info
# CA/cert: /var/lib/ganeti/rapi.pem
# CLI (inside the node namespaces):
#   ip netns exec $NS nsenter --uts=$UTS_FILE gnt-instance list
EOF
