#!/usr/bin/env bash
# After the e2e tests: the controllers ran with exactly the chart's RBAC (see
# e2e/src/lib.rs operator_kubeconfig); none of their logs may show an API request the chart's
# rules refused. Usage: rbac-check.sh [log-dir]   (default: .cluster/logs)
set -euo pipefail
dir="${1:-$(cd "$(dirname "$0")/../.." && pwd)/.cluster/logs}"
shopt -s nullglob
logs=("$dir"/controller-*.log)
if [[ ${#logs[@]} -eq 0 ]]; then
  echo "rbac-check: no controller logs in $dir (did the e2e tests run with AIS_E2E_LOG_DIR?)" >&2
  exit 1
fi
# The API server's RBAC denial: `<resource> "<name>" is forbidden: User "<user>" cannot <verb> ...`
# (other 403s, e.g. writes into a terminating namespace, are not the chart's rules).
denied='forbidden: User \\?"[^"\\]*\\?" cannot '
if grep -l -E "$denied" "${logs[@]}"; then
  echo "rbac-check: the files above show requests the chart's RBAC refused:" >&2
  grep -h -E "$denied" "${logs[@]}" | head -20 >&2
  exit 1
fi
echo "rbac-check: ${#logs[@]} controller logs, no request refused by the chart's RBAC"

# Every rule of the chart is used (the audit log has every request of the e2e identity).
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/versions.env"
helm="${HELM:-$HOME/.cache/ais-operator/bin/helm-$HELM_VERSION/helm}"
kubectl="${KUBECTL:-$HOME/.cache/ais-operator/bin/kubectl-$K8S_VERSION/kubectl}"
rules="$(mktemp)"
trap 'rm -f "$rules"' EXIT
"$helm" template ais-operator-e2e "$here/../../charts/ais-operator" --namespace ais-operator-e2e \
  --set crds.install=false --show-only templates/rbac-controller.yaml |
  "$kubectl" create --dry-run=client -f - -o json >"$rules"
python3 "$here/rbac-usage.py" "$rules" "${AIS_E2E_AUDIT_LOG:-$dir/audit.log}" \
  "system:serviceaccount:ais-operator-e2e:ais-operator-e2e-controller"
