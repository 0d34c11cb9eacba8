# shellcheck shell=bash source-path=SCRIPTDIR disable=SC2034  # variables are used by the sourcing scripts
# Shared settings and helpers for the e2e cluster scripts (sourced, not executed).

CLUSTER_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$CLUSTER_HERE/../.." && pwd)"
# shellcheck source=versions.env
source "$CLUSTER_HERE/versions.env"

CACHE="${AIS_OPERATOR_CACHE:-$HOME/.cache/ais-operator}"
BIN_DIR="$CACHE/bin"
STATE="${AIS_CLUSTER_DIR:-$REPO/.cluster}"
KUBECONFIG_FILE="$STATE/kubeconfig"
PKI="$STATE/pki"
LOGS="$STATE/logs"
PIDS="$STATE/pids"

# Network layout. The bridge carries the real node's pods; nothing is routed off the machine.
BRIDGE="${AIS_BRIDGE:-aise2e0}"
NODE_IP=10.244.0.1              # bridge address = the real node's InternalIP
POD_CIDR=10.244.0.0/24          # real node (host-local IPAM .2-.199)
LB_RANGE_START=200              # LoadBalancer ingress IPs 10.244.0.200-.250 (on the bridge)
LB_RANGE_END=250
FAKE_POD_NET=10.244.0.0/16      # kwok pods get 10.244.<10+i>.0/24 (blackholed, never reachable)
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
NODE_NAME="${AIS_NODE_NAME:-e2e-node}"
KWOK_NODES="${KWOK_NODES:-3}"

ETCD_PORT=2379
ETCD_PEER_PORT=2380
API_PORT=6443
CONTAINERD_SOCK="$STATE/containerd/containerd.sock"
FWD_CHAIN=AIS-E2E-FWD

export PATH="$STATE/bin:$PATH"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

bin() { echo "$BIN_DIR/$1-$2/$1"; }

# Start a long-running process in the background: name, then the command.
# stdout/stderr go to $LOGS/<name>.log and the PID to $PIDS/<name>.pid.
start_proc() {
  local name=$1
  shift
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$name.pid"
}

# pid_alive <pid>: running and not a zombie (orphans may stay unreaped for a while here)
pid_alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ "${stat:0:1}" != Z ]]
}
proc_alive() { [[ -f "$PIDS/$1.pid" ]] && pid_alive "$(cat "$PIDS/$1.pid")"; }

# wait_for <name> <timeout-seconds> <command...>: poll until the command succeeds.
# On timeout (or if the component died) print the tail of its log and fail.
wait_for() {
  local name=$1 timeout=$2 deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if [[ -f "$PIDS/$name.pid" ]] && ! proc_alive "$name"; then
      log "$name exited; last log lines:"
      tail -n 40 "$LOGS/$name.log" >&2 || true
      die "$name is not running"
    fi
    if ((SECONDS >= deadline)); then
      log "$name not ready after ${timeout}s; last log lines:"
      tail -n 40 "$LOGS/$name.log" >&2 || true
      die "timeout waiting for $name"
    fi
    sleep 1
  done
}

kc() { kubectl --kubeconfig "$KUBECONFIG_FILE" "$@"; }
