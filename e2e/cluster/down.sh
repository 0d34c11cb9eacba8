#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Stop everything up.sh started and undo its host changes. Idempotent: safe to run at any time.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

# stop <name>: SIGTERM the recorded process group, SIGKILL after 10 s.
stop() {
  local name=$1 pid i
  [[ -f "$PIDS/$name.pid" ]] || return 0
  pid="$(cat "$PIDS/$name.pid")"
  if pid_alive "$pid"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      pid_alive "$pid" || break
      sleep 0.1
    done
    if pid_alive "$pid"; then
      log "$name did not exit after SIGTERM; sending SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  # What else of the group still runs (a kubectl the controllers loop had in flight survived
  # its SIGTERM once) goes too: the group is the one setsid made for this process.
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$PIDS/$name.pid"
}

ctr_() { ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }

# Kill and delete every container through containerd while it still runs; remember pod netns paths.
remove_containers() {
  [[ -S "$CONTAINERD_SOCK" ]] && ctr_ version >/dev/null 2>&1 || return 0
  local id
  for id in $(ctr_ containers ls -q 2>/dev/null); do
    ctr_ containers info "$id" 2>/dev/null | grep -o '/var/run/netns/cni-[0-9a-f-]*' >>"$STATE/netns.list" || true
    ctr_ tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
  done
  sleep 1
  for id in $(ctr_ containers ls -q 2>/dev/null); do
    ctr_ tasks delete -f "$id" >/dev/null 2>&1 || true
    ctr_ containers delete "$id" >/dev/null 2>&1 || true
  done
}

# Shims of our containerd (they outlive it) and any process left in the kubelet's cgroups.
kill_leftovers() {
  local pid
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" || true); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [[ -d /sys/fs/cgroup/pids/kubepods ]]; then
    find /sys/fs/cgroup/pids/kubepods -name cgroup.procs -exec cat {} + 2>/dev/null |
      while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done
    sleep 0.5
  fi
  local dir
  for dir in /sys/fs/cgroup/*/kubepods; do
    if [[ -d "$dir" ]]; then find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
  done
}

unmount_all() {
  local m
  if [[ -f "$STATE/netns.list" ]]; then
    sort -u "$STATE/netns.list" | while read -r m; do
      umount "$m" 2>/dev/null || true
      rm -f "$m"
    done
  fi
  # deepest first; lazy unmount as a fallback for busy mounts
  { findmnt -rn -o TARGET | grep -F "$STATE/" || true; } | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  find /var/log/containers -maxdepth 1 -lname "$STATE/*" -delete 2>/dev/null || true
  # libcni result cache entries written while this cluster ran (containerd 1.6 hard-codes the dir)
  if [[ -f "$STATE/started" && -d /var/lib/cni/results ]]; then
    find /var/lib/cni/results -maxdepth 1 -type f \( -name 'ais-e2e-*' -o -name 'cni-loopback-*' \) \
      -newer "$STATE/started" -delete
  fi
  rm -f /var/lib/kubelet/device-plugins/kubelet.sock  # kubelet hard-codes its device plugin socket
  # hard-coded runtime dirs of containerd 1.6 and the kubelet; removed only when empty
  local d
  for d in /run/containerd/fifo /run/containerd/s /run/containerd/runc/k8s.io /run/containerd/runc \
    /run/containerd /var/lib/cni/results /var/lib/cni /run/netns /var/lib/kubelet/device-plugins \
    /var/lib/kubelet /var/log/containers; do
    rmdir "$d" 2>/dev/null || true
  done
}

# Remove kube-proxy's, kubelet's and the CNI portmap plugin's chains, then our forward filter.
clean_iptables() {
  local ipt table rule chain
  if [[ -x "$STATE/bin/kube-proxy" ]]; then
    "$STATE/bin/kube-proxy" --cleanup >/dev/null 2>&1 || true
  fi
  for ipt in iptables ip6tables; do
    for table in filter nat mangle; do
      { "$ipt" -t "$table" -S 2>/dev/null | grep -E '^-A .* -j (KUBE|CNI)-' || true; } | sed 's/^-A/-D/' |
        while read -r rule; do
          eval "$ipt -t $table $rule" 2>/dev/null || true
        done
      for chain in $("$ipt" -t "$table" -S 2>/dev/null | awk '/^-N (KUBE|CNI)-/ {print $2}'); do
        "$ipt" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$ipt" -t "$table" -S 2>/dev/null | awk '/^-N (KUBE|CNI)-/ {print $2}'); do
        "$ipt" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
  while iptables -D FORWARD -j "$FWD_CHAIN" 2>/dev/null; do :; done
  iptables -F "$FWD_CHAIN" 2>/dev/null || true
  iptables -X "$FWD_CHAIN" 2>/dev/null || true
}

restore_host() {
  ip route del blackhole "$FAKE_POD_NET" 2>/dev/null || true
  ip link del "$BRIDGE" 2>/dev/null || true
  # The benchmark's AIS simulator (e2e/src/sim.rs) puts kwok pod IPs on this interface; a run
  # that was killed leaves it behind.
  ip link del aissim0 2>/dev/null || true
  # ...and its names of proxy Services, as a marked block in /etc/hosts.
  if grep -q '^# ais-sim begin' /etc/hosts 2>/dev/null; then
    sed -i '/^# ais-sim begin/,/^# ais-sim end$/d' /etc/hosts
  fi
  local kv
  if [[ -f "$STATE/saved-sysctls" ]]; then
    while read -r kv; do sysctl -qw "$kv" 2>/dev/null || true; done <"$STATE/saved-sysctls"
  fi
  if [[ "$(cat "$STATE/saved-root-propagation" 2>/dev/null)" == private ]]; then
    mount --make-rprivate /
  fi
}

main() {
  [[ $EUID -eq 0 ]] || die "run as root"
  [[ "$STATE" != / && -n "$STATE" ]] || die "refusing to use state dir '$STATE'"
  log "stopping the cluster in $STATE"
  local name
  for name in cert-manager e2e-controllers kwok kube-proxy kubelet; do stop "$name"; done
  remove_containers
  stop containerd
  kill_leftovers
  for name in apiserver-relay kube-scheduler kube-controller-manager kube-apiserver etcd; do stop "$name"; done
  unmount_all
  clean_iptables
  restore_host
  rm -rf --one-file-system "$STATE"
  log "cluster stopped and state removed"
}

main "$@"
