#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# TEST INFRASTRUCTURE ONLY (started by up.sh). Two tiny reconcile loops standing in for cloud pieces:
#  * hostPath provisioner for the default StorageClass "e2e-hostpath" (WaitForFirstConsumer):
#    for each Pending PVC with a selected node it creates a PV under $STATE/pv pinned to that node,
#    and deletes Released PVs (and their directories) again.
#  * LoadBalancer "controller", like cloud-provider-kind/MetalLB: assigns Services of type
#    LoadBalancer an ingress IP from 10.244.0.200-250 on the cluster bridge (kube-proxy then
#    DNATs that IP to the endpoints). Nothing is announced outside the machine.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

PROVISIONER=ais-e2e.local/hostpath
CLASS=e2e-hostpath

provision() {
  local ns name uid class node size modes mode
  kc get pvc -A -o jsonpath='{range .items[?(@.status.phase=="Pending")]}{.metadata.namespace}{" "}{.metadata.name}{" "}{.metadata.uid}{" "}{.spec.storageClassName}{" "}{.metadata.annotations.volume\.kubernetes\.io/selected-node}{" "}{.spec.resources.requests.storage}{" "}{.spec.accessModes}{" "}{.spec.volumeMode}{"\n"}{end}' |
    while read -r ns name uid class node size modes mode; do
      [[ "$class" == "$CLASS" && -n "$node" && -n "$size" ]] || continue
      kc get pv "pvc-$uid" >/dev/null 2>&1 && continue
      echo "provisioning pvc-$uid for $ns/$name on $node"
      kc apply -f - <<EOF
apiVersion: v1
kind: PersistentVolume
metadata:
  name: pvc-$uid
  labels: {ais-e2e/hostpath: "true"}
  annotations: {pv.kubernetes.io/provisioned-by: $PROVISIONER}
spec:
  capacity: {storage: $size}
  accessModes: $modes
  volumeMode: ${mode:-Filesystem}
  persistentVolumeReclaimPolicy: Delete
  storageClassName: $CLASS
  claimRef: {namespace: $ns, name: $name, uid: $uid}
  hostPath: {path: $STATE/pv/pvc-$uid, type: DirectoryOrCreate}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {key: kubernetes.io/hostname, operator: In, values: [$node]}
EOF
    done
}

reclaim() {
  local name
  kc get pv -l ais-e2e/hostpath=true \
    -o jsonpath='{range .items[?(@.status.phase=="Released")]}{.metadata.name}{"\n"}{end}' |
    while read -r name; do
      [[ -n "$name" ]] || continue
      echo "deleting released $name"
      kc delete pv "$name" --wait=false
      rm -rf "${STATE:?}/pv/$name"
    done
}

assign_lb_ips() {
  local svcs used ns name class ip i candidate base=${NODE_IP%.*}
  # one line per LoadBalancer Service: namespace name class|- ip|-
  svcs="$(kc get svc -A -o go-template='{{range .items}}{{if eq .spec.type "LoadBalancer"}}{{.metadata.namespace}} {{.metadata.name}} {{with .spec.loadBalancerClass}}{{.}}{{else}}-{{end}} {{with .status.loadBalancer.ingress}}{{(index . 0).ip}}{{else}}-{{end}}{{"\n"}}{{end}}{{end}}')"
  used="$(awk '$4 != "-" {print $4}' <<<"$svcs")"
  while read -r ns name class ip; do
    [[ -n "$ns" && "$class" == "-" && "$ip" == "-" ]] || continue
    for ((i = LB_RANGE_START; i <= LB_RANGE_END; i++)); do
      candidate="$base.$i"
      grep -qx "$candidate" <<<"$used" || break
    done
    echo "assigning $candidate to service $ns/$name"
    kc -n "$ns" patch svc "$name" --subresource=status --type=merge \
      -p "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"$candidate\",\"ipMode\":\"VIP\"}]}}}"
    used+=$'\n'"$candidate"
  done <<<"$svcs"
}

while true; do
  provision || echo "provision pass failed"
  reclaim || echo "reclaim pass failed"
  assign_lb_ips || echo "loadbalancer pass failed"
  sleep 2
done
