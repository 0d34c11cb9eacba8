#!/usr/bin/env bash
# Fails when anything of the local cluster is left on the host after down.sh: processes
# started from our binaries or state dir, mounts under the state dir, the bridge, our
# iptables chain. Last line: "N passed, M failed".
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

PASSED=0
FAILED=0
check() {
  local what=$1 leftovers=$2
  if [[ -z "$leftovers" ]]; then
    PASSED=$((PASSED + 1)); echo "PASS: $what"
  else
    FAILED=$((FAILED + 1)); echo "FAIL: $what"; echo "$leftovers" | sed 's/^/    /' | head -n 20
  fi
}

procs="$(ps -eo pid=,args= | grep -E "$BIN_DIR/|$STATE/|containerd --config $STATE|containerd-shim-runc-v2 .*-address $STATE" | grep -v -E 'grep|check-clean' || true)"
check "no process of the cluster is left" "$procs"
check "no mount under $STATE is left" "$(awk -v s="$STATE" 'index($2, s) == 1 {print $2}' /proc/mounts)"
check "the bridge $BRIDGE is gone" "$(ip -o link show "$BRIDGE" 2>/dev/null || true)"
check "the AIS simulator's interface aissim0 is gone" "$(ip -o link show aissim0 2>/dev/null || true)"
check "the AIS simulator's /etc/hosts block is gone" "$(grep '^# ais-sim begin' /etc/hosts || true)"
check "the iptables chain $FWD_CHAIN is gone" "$(iptables -S "$FWD_CHAIN" 2>/dev/null || true)"
check "the state dir is removed" "$( [[ -e "$STATE" ]] && echo "$STATE" || true)"
echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
