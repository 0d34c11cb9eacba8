#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Start a real single-node Kubernetes cluster (plus kwok fake nodes) without Docker.
# State, logs, PIDs and the admin kubeconfig live in $AIS_CLUSTER_DIR (default: <repo>/.cluster).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=pki.sh
source "$HERE/pki.sh"

PACKAGES=(containerd runc containernetworking-plugins buildah debootstrap iptables openssl conntrack socat
  curl iproute2 util-linux)
# sysctls the kubelet/our network setup may change; saved here and restored by down.sh
SAVED_SYSCTLS=(net.ipv4.ip_forward vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes)

preflight() {
  [[ $EUID -eq 0 ]] || die "run as root (kubelet, containerd and the bridge need it)"
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  "$HERE/build.sh" >&2
  if [[ -d "$STATE/pids" ]]; then
    if "$HERE/status.sh" >/dev/null 2>&1; then
      log "cluster already running in $STATE (e2e/cluster/down.sh to stop it)"
      echo "export KUBECONFIG=$KUBECONFIG_FILE PATH=$STATE/bin:\$PATH"
      exit 0
    fi
    log "found a stale or broken cluster in $STATE; cleaning it up first"
    "$HERE/down.sh"
  elif ip link show "$BRIDGE" >/dev/null 2>&1; then
    # Host changes left by a cluster of another checkout (its processes are gone).
    log "found a leftover bridge $BRIDGE from another cluster; cleaning host state first"
    "$HERE/down.sh"
  fi
}

link_bins() {
  mkdir -p "$STATE/bin"
  local c
  for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
    ln -sf "$(bin "$c" "$K8S_VERSION")" "$STATE/bin/$c"
  done
  ln -sf "$(bin etcd "$ETCD_VERSION")" "$STATE/bin/etcd"
  ln -sf "$(bin kwok "$KWOK_VERSION")" "$STATE/bin/kwok"
  ln -sf "$(bin helm "$HELM_VERSION")" "$STATE/bin/helm"
}

setup_host_network() {
  local s
  for s in "${SAVED_SYSCTLS[@]}"; do echo "$s=$(sysctl -n "$s")"; done >"$STATE/saved-sysctls"
  findmnt -no PROPAGATION / >"$STATE/saved-root-propagation"
  mount --make-rshared /   # kubelet needs shared mount propagation

  ip link add "$BRIDGE" type bridge
  ip addr add "$NODE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # Service IPs are reached through the bridge (kube-proxy DNATs them to pod IPs);
  # kwok's fake pod IPs are blackholed so nothing ever leaves the machine.
  ip route add "$SERVICE_CIDR" dev "$BRIDGE" src "$NODE_IP"
  ip route add blackhole "$FAKE_POD_NET"
  sysctl -qw net.ipv4.ip_forward=1
  # Only forward between pods on our bridge; never to or from any other interface.
  iptables -N "$FWD_CHAIN"
  iptables -A "$FWD_CHAIN" -i "$BRIDGE" -o "$BRIDGE" -j RETURN
  iptables -A "$FWD_CHAIN" -i "$BRIDGE" -j DROP
  iptables -A "$FWD_CHAIN" -o "$BRIDGE" -j DROP
  iptables -I FORWARD 1 -j "$FWD_CHAIN"
}

write_configs() {
  mkdir -p "$STATE"/{containerd,cni/net.d,cni/ipam,kubelet,pod-logs,pv,kwok}
  : >"$STATE/resolv.conf"   # pods get only cluster DNS; no host resolvers or search domains
  cat >"$STATE/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
# Every request of the e2e operator identity (the chart's RBAC, e2e/src/lib.rs), reads too:
# e2e/cluster/rbac-check.sh proves each rule of the chart is used.
- level: Metadata
  users: ["system:serviceaccount:ais-operator-e2e:ais-operator-e2e-controller"]
- level: None   # high-volume heartbeat traffic
  resources:
  - {group: coordination.k8s.io, resources: [leases]}
  - {group: "", resources: [events, nodes/status]}
  - {group: events.k8s.io, resources: [events]}
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
- level: None
EOF
  cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/e2e/pause:3.10"
  stream_server_address = "127.0.0.1"
  enable_selinux = false
  # this machine refuses negative oom_score_adj (even as root): clamp to containerd's own value
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$STATE/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
EOF
  local base=${NODE_IP%.*}
  cat >"$STATE/cni/net.d/10-ais-e2e.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "ais-e2e",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$STATE/cni/ipam",
              "ranges": [[{"subnet": "$POD_CIDR", "rangeStart": "$base.2", "rangeEnd": "$base.199",
                           "gateway": "$NODE_IP"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat >"$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
clusterDomain: cluster.local
clusterDNS: [$DNS_SERVICE_IP]
resolvConf: $STATE/resolv.conf
podLogsDir: $STATE/pod-logs
volumePluginDir: $STATE/kubelet/volume-plugins
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
maxPods: 110
serializeImagePulls: false
EOF
  cat >"$STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $STATE/kube-proxy.kubeconfig}
mode: iptables
hostnameOverride: $NODE_NAME
bindAddress: 127.0.0.1
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$NODE_IP/32"]
iptables: {localhostNodePorts: false, masqueradeAll: false}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
}

start_etcd() {
  start_proc etcd etcd --name=node0 --data-dir="$STATE/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="node0=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls="" \
    --auto-compaction-retention=1 --unsafe-no-fsync=true --log-level=warn
  wait_for etcd 30 curl -fs "http://127.0.0.1:$ETCD_PORT/health"
}

start_apiserver() {
  start_proc kube-apiserver kube-apiserver --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --secure-port="$API_PORT" --advertise-address="$NODE_IP" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" --service-node-port-range=30000-32767 \
    --authorization-mode=Node,RBAC --allow-privileged=true \
    --enable-admission-plugins=NodeRestriction,MutatingAdmissionWebhook,ValidatingAdmissionWebhook \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP,Hostname \
    --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
    --requestheader-client-ca-file="$PKI/ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --audit-policy-file="$STATE/audit-policy.yaml" --audit-log-path="$LOGS/audit.log" \
    --audit-log-maxsize=100 --audit-log-maxbackup=1 --profiling=false
  wait_for kube-apiserver 90 kc get --raw=/readyz
  # Pods reach the API through the kubernetes Service (endpoint $NODE_IP:$API_PORT, written by the
  # apiserver from --advertise-address); this TCP relay on the bridge address forwards to loopback.
  start_proc apiserver-relay socat "TCP-LISTEN:$API_PORT,bind=$NODE_IP,fork,reuseaddr" "TCP:127.0.0.1:$API_PORT"
}

start_controllers() {
  # Client rate limits of 200 requests/s (burst 400) instead of the default 20 (burst 30; the
  # scheduler's 50): at 20 the StatefulSet controller made about 12 pods a second, and every
  # scale benchmark measured that limit instead of the operator (decision 021). kwokctl lifts
  # the same limits for its scale clusters.
  start_proc kube-controller-manager kube-controller-manager \
    --kubeconfig="$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$STATE/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10257 --leader-elect=false \
    --authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics \
    --root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/sa.key" \
    --use-service-account-credentials=true --controllers='*' \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" --allocate-node-cidrs=false \
    --kube-api-qps=200 --kube-api-burst=400
  start_proc kube-scheduler kube-scheduler --kubeconfig="$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig="$STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig="$STATE/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false \
    --authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics \
    --kube-api-qps=200 --kube-api-burst=400
  wait_for kube-controller-manager 60 curl -fsk https://127.0.0.1:10257/healthz
  wait_for kube-scheduler 60 curl -fsk https://127.0.0.1:10259/healthz
}

start_node() {
  start_proc containerd containerd --config "$STATE/containerd/config.toml"
  wait_for containerd 30 ctr --address "$CONTAINERD_SOCK" version
  "$HERE/images.sh" import >&2
  start_proc kubelet kubelet --config="$STATE/kubelet/config.yaml" --kubeconfig="$STATE/kubelet.kubeconfig" \
    --root-dir="$STATE/kubelet" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" \
    --node-labels=ais-e2e/node=real
  start_proc kube-proxy kube-proxy --config="$STATE/kube-proxy.yaml"
  wait_for kubelet 60 curl -fs http://127.0.0.1:10248/healthz
  wait_for kube-proxy 60 curl -fs http://127.0.0.1:10256/healthz
  wait_for kubelet 90 kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s
  # kube-proxy inserts its own FORWARD rules; keep our bridge-only filter first.
  iptables -D FORWARD -j "$FWD_CHAIN"
  iptables -I FORWARD 1 -j "$FWD_CHAIN"
}

start_kwok() {
  local moddir stage
  moddir="$CACHE/go/mod/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
  for stage in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
    pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    echo "---" && cat "$moddir/$stage.yaml"
  done >"$STATE/kwok/kwok.yaml"
  KWOK_WORKDIR="$STATE/kwok" start_proc kwok kwok --kubeconfig="$KUBECONFIG_FILE" \
    --config="$STATE/kwok/kwok.yaml" --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-lease-duration-seconds=40 --cidr=10.244.128.0/17 \
    --server-address="127.0.0.1:10247"
  local i
  for ((i = 0; i < KWOK_NODES; i++)); do
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels:
    type: kwok
    ais-e2e/node: fake
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    topology.kubernetes.io/zone: zone-$((i % 3))
spec:
  podCIDR: 10.244.$((10 + i)).0/24
  podCIDRs: [10.244.$((10 + i)).0/24]
  providerID: kwok://kwok-node-$i
  taints:
  - {key: kwok.x-k8s.io/node, value: fake, effect: NoSchedule}
status:
  addresses:   # inside the blackholed 10.244.0.0/16: never reachable, nothing leaves the machine
  - {type: InternalIP, address: 10.244.$((10 + i)).1}
  - {type: Hostname, address: kwok-node-$i}
  allocatable: {cpu: "32", memory: 256Gi, pods: "110", ephemeral-storage: 1Ti}
  capacity: {cpu: "32", memory: 256Gi, pods: "110", ephemeral-storage: 1Ti}
EOF
  done >"$STATE/kwok/nodes.yaml"
  if ((KWOK_NODES > 0)); then
    kc apply -f "$STATE/kwok/nodes.yaml" >/dev/null
    wait_for kwok 60 kc wait --for=condition=Ready node -l type=kwok --timeout=5s
  fi
}

start_addons() {
  kc apply -f "$HERE/manifests/addons.yaml" >/dev/null
  start_proc e2e-controllers "$HERE/controllers.sh"
  if ! kc -n kube-system rollout status deploy/coredns --timeout=120s >/dev/null; then
    kc -n kube-system describe pods -l k8s-app=kube-dns | tail -n 25 >&2
    die "CoreDNS did not become ready"
  fi
  wait_for kube-controller-manager 60 kc -n default get serviceaccount default
}

# cert-manager (its own controllers and CA injector, built from its Go module) with its CRDs:
# the chart's default webhook-certificate mode and the TLS samples need a real issuer.
start_cert_manager() {
  local crds="$CACHE/go/mod/github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION/deploy/crds"
  [[ -d "$crds" ]] || die "cert-manager CRDs not found in $crds (run e2e/cluster/build.sh cert-manager)"
  kc apply --server-side --field-manager=ais-e2e-cluster -f "$crds" >/dev/null
  # Retried: a CRD the API server has not looked at yet has no status.conditions, and
  # `kubectl wait` fails on that at once instead of waiting (seen on a cold machine).
  wait_for cert-manager-crds 60 kc wait --for=condition=Established --timeout=5s \
    crd/certificates.cert-manager.io crd/issuers.cert-manager.io crd/clusterissuers.cert-manager.io \
    crd/certificaterequests.cert-manager.io
  kc create namespace cert-manager --dry-run=client -o yaml | kc apply -f - >/dev/null
  start_proc cert-manager "$(bin cert-manager "$CERT_MANAGER_VERSION")" --kubeconfig="$KUBECONFIG_FILE" \
    --cluster-resource-namespace=cert-manager -v=1
}

main() {
  local t0=$SECONDS
  preflight
  mkdir -p "$LOGS" "$PIDS"
  touch "$STATE/started"
  link_bins
  log "state dir: $STATE"
  gen_pki
  write_configs
  setup_host_network
  log "starting etcd"; start_etcd
  log "starting kube-apiserver"; start_apiserver
  log "starting kube-controller-manager and kube-scheduler"; start_controllers
  log "starting containerd, kubelet and kube-proxy"; start_node
  log "starting kwok with $KWOK_NODES fake nodes"; start_kwok
  log "installing CoreDNS, storage class and test controllers"; start_addons
  log "starting cert-manager $CERT_MANAGER_VERSION"; start_cert_manager
  log "cluster ready in $((SECONDS - t0))s"
  echo "export KUBECONFIG=$KUBECONFIG_FILE PATH=$STATE/bin:\$PATH"
}

main "$@"
