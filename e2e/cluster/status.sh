#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Show which cluster processes run, and the nodes/pods if the API server answers.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

if [[ ! -d "$PIDS" ]]; then
  echo "no cluster state in $STATE (not running)"
  exit 1
fi
echo "state dir: $STATE"
echo "kubeconfig: $KUBECONFIG_FILE"
rc=0
for f in "$PIDS"/*.pid; do
  name="$(basename "$f" .pid)"
  if proc_alive "$name"; then
    printf '  %-26s running (pid %s)\n' "$name" "$(cat "$f")"
  else
    printf '  %-26s DEAD    (log: %s)\n' "$name" "$LOGS/$name.log"
    rc=1
  fi
done
if kc get --raw=/readyz >/dev/null 2>&1; then
  kc get nodes -o wide
  kc get pods -A -o wide
else
  echo "API server not reachable"
  rc=1
fi
exit "$rc"
