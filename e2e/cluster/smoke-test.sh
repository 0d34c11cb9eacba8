#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Smoke test proving the local cluster is real: containers, storage, DNS, Services, scheduling,
# kwok nodes, LoadBalancer status and a Service-backed admission webhook. Last line: "N passed, M failed".
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

NS=e2e-smoke
PASSED=0
FAILED=0
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
# check <description> <command...>
check() {
  local what=$1
  shift
  if "$@" >"$WORK/out" 2>&1; then pass "$what"; else fail "$what"; sed 's/^/    /' "$WORK/out" | tail -n 15; fi
}
# eventually <timeout> <command...>: retry until success
eventually() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 2
  done
}
k() { kc -n "$NS" "$@"; }

cleanup() {
  kc delete validatingwebhookconfiguration e2e-smoke-webhook e2e-smoke-cainject --ignore-not-found >/dev/null 2>&1 || true
  kc delete namespace "$NS" --ignore-not-found --wait=false >/dev/null 2>&1 || true
}

apply_workloads() {
  kc create namespace "$NS" --dry-run=client -o yaml | kc apply -f - >/dev/null
  kc label namespace "$NS" e2e-smoke-webhook=on --overwrite >/dev/null
  k apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 2
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {ais-e2e/node: real}
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: localhost/e2e/busybox:1
        imagePullPolicy: Never
        command: [sh, -c, 'mkdir -p /data/www && echo "hello from $(hostname)" > /data/www/index.html && exec httpd -f -p 8080 -h /data/www']
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 2
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 16Mi}}
---
apiVersion: v1
kind: Service
metadata: {name: web-svc}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-lb}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: anti}
spec:
  serviceName: anti
  replicas: 2
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: anti}}
  template:
    metadata: {labels: {app: anti}}
    spec:
      # no nodeSelector: the kwok taint alone must keep these pods off the fake nodes
      terminationGracePeriodSeconds: 1
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {matchLabels: {app: anti}}
            topologyKey: kubernetes.io/hostname
      containers:
      - name: sleep
        image: localhost/e2e/busybox:1
        imagePullPolicy: Never
        command: [sleep, "3600"]
---
apiVersion: v1
kind: Pod
metadata: {name: on-kwok}
spec:
  nodeSelector: {type: kwok}
  tolerations:
  - {key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}
  containers:
  - {name: fake, image: localhost/e2e/busybox:1, imagePullPolicy: Never}
---
apiVersion: v1
kind: Pod
metadata: {name: aisnode-version}
spec:
  nodeSelector: {ais-e2e/node: real}
  restartPolicy: Never
  containers:
  - {name: aisnode, image: "localhost/aistore/aisnode:v1.4.9", imagePullPolicy: Never, args: [version]}
EOF
}

apply_webhook() {
  local d=$WORK/wh host=webhook.$NS.svc
  mkdir -p "$d"
  openssl ecparam -name prime256v1 -genkey -noout -out "$d/ca.key"
  openssl req -x509 -new -key "$d/ca.key" -subj /CN=e2e-webhook-ca -days 2 -out "$d/ca.crt"
  openssl ecparam -name prime256v1 -genkey -noout -out "$d/tls.key"
  openssl req -new -key "$d/tls.key" -subj "/CN=$host" -out "$d/tls.csr"
  printf 'subjectAltName=DNS:%s,DNS:%s.cluster.local\nextendedKeyUsage=serverAuth\n' "$host" "$host" >"$d/ext"
  openssl x509 -req -in "$d/tls.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
    -extfile "$d/ext" -out "$d/tls.crt" 2>/dev/null
  k create secret tls webhook-tls --cert="$d/tls.crt" --key="$d/tls.key" --dry-run=client -o yaml | k apply -f - >/dev/null
  k apply -f - >/dev/null <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: webhook}
spec:
  selector: {matchLabels: {app: webhook}}
  template:
    metadata: {labels: {app: webhook}}
    spec:
      nodeSelector: {ais-e2e/node: real}
      terminationGracePeriodSeconds: 1
      containers:
      - name: webhook
        image: localhost/e2e/webhook:1
        imagePullPolicy: Never
        env: [{name: TLS_DIR, value: /tls}]
        ports: [{containerPort: 8443}]
        readinessProbe:
          tcpSocket: {port: 8443}
          periodSeconds: 2
        volumeMounts: [{name: tls, mountPath: /tls, readOnly: true}]
      volumes: [{name: tls, secret: {secretName: webhook-tls}}]
---
apiVersion: v1
kind: Service
metadata: {name: webhook}
spec:
  selector: {app: webhook}
  ports: [{port: 443, targetPort: 8443}]
EOF
  kc apply -f - >/dev/null <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: e2e-smoke-webhook}
webhooks:
- name: smoke.ais-e2e.local
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  timeoutSeconds: 5
  namespaceSelector: {matchLabels: {e2e-smoke-webhook: "on"}}
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}
  clientConfig:
    service: {namespace: $NS, name: webhook, path: /validate, port: 443}
    caBundle: $(base64 -w0 <"$d/ca.crt")
EOF
}

# --- individual checks -----------------------------------------------------------------------
sts_ready_on_real_node() {
  k rollout status statefulset/web --timeout=150s &&
    [[ "$(k get pods -l app=web -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u)" == "$NODE_NAME" ]] &&
    k get pods -l app=web -o wide
}
pvcs_bound() {
  eventually 60 bash -c "[[ \"\$(kubectl --kubeconfig '$KUBECONFIG_FILE' -n $NS get pvc data-web-0 data-web-1 -o jsonpath='{.items[*].status.phase}')\" == 'Bound Bound' ]]" &&
    k get pvc
}
dns_resolves() {
  local from=$1 to=$2 ip
  ip="$(k get pod "$to" -o jsonpath='{.status.podIP}')"
  echo "$to has IP $ip"
  # retry: CoreDNS caches answers (5 s), and earlier runs used the same names
  eventually 45 dns_answer_is "$from" "$to.web.$NS.svc.cluster.local" "$ip"
}
dns_answer_is() {
  k exec "$1" -- nslookup "$2" | tee /dev/stderr | grep -qx "Address: *$3"
}
cluster_ip_answers() {
  local ip
  ip="$(k get svc web-svc -o jsonpath='{.spec.clusterIP}')"
  # (busybox 1.35's `wget -T` segfaults; use the timeout applet instead)
  eventually 30 k exec web-0 -- timeout 5 wget -qO- "http://$ip/" | grep 'hello from web-'
}
service_name_answers() {
  eventually 30 k exec web-1 -- timeout 5 wget -qO- "http://web-svc.$NS.svc.cluster.local/" | grep 'hello from web-'
}
api_from_pod() {
  k exec web-0 -- sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 $API_SERVICE_IP 443" | grep 'HTTP request to an HTTPS server'
}
anti_affinity_pending() {
  eventually 90 bash -c "kubectl --kubeconfig '$KUBECONFIG_FILE' -n $NS get pod anti-0 -o jsonpath='{.status.phase}' | grep -qx Running" &&
    eventually 30 bash -c "kubectl --kubeconfig '$KUBECONFIG_FILE' -n $NS get pod anti-1 -o jsonpath='{.status.phase} {.status.conditions[?(@.type==\"PodScheduled\")].reason}' | grep -qx 'Pending Unschedulable'" &&
    k get pods -l app=anti -o wide &&
    k get pod anti-1 -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].message}' |
    tee /dev/stderr | grep -q 'untolerated taint'
}
kwok_pod_running() {
  eventually 60 bash -c "kubectl --kubeconfig '$KUBECONFIG_FILE' -n $NS get pod on-kwok -o jsonpath='{.status.phase} {.spec.nodeName}' | grep -qE '^Running kwok-node-'" &&
    k get pod on-kwok -o wide
}
lb_ingress() {
  local ip
  eventually 30 bash -c "kubectl --kubeconfig '$KUBECONFIG_FILE' -n $NS get svc web-lb -o jsonpath='{.status.loadBalancer.ingress[0].ip}' | grep -q ." || return 1
  ip="$(k get svc web-lb -o jsonpath='{.status.loadBalancer.ingress[0].ip}')"
  echo "ingress IP $ip"
  eventually 30 curl -fsS -m 3 "http://$ip/" | grep 'hello from web-'
}
aisnode_image_runs() {
  eventually 60 bash -c "kubectl --kubeconfig '$KUBECONFIG_FILE' -n $NS get pod aisnode-version -o jsonpath='{.status.phase}' | grep -qx Succeeded" &&
    k logs aisnode-version | grep "version 4.9.$AISTORE_VERSION"
}
webhook_called() {
  k rollout status deployment/webhook --timeout=90s || return 1
  eventually 30 bash -c "kubectl --kubeconfig '$KUBECONFIG_FILE' -n $NS create configmap probe-\$RANDOM --from-literal=a=b 2>&1 | tee /dev/stderr | grep -q 'e2e-webhook: seen'"
}

# cert-manager: a self-signed Issuer signs a Certificate into a Secret, and the CA injector copies
# its CA into a webhook configuration that asks for it.
cert_manager_issues() {
  k apply -f - <<EOF >/dev/null || return 1
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: smoke-selfsigned}
spec: {selfSigned: {}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: smoke-cert}
spec:
  secretName: smoke-cert
  dnsNames: [smoke.$NS.svc]
  issuerRef: {name: smoke-selfsigned, kind: Issuer}
EOF
  # Retried: `kubectl wait` fails at once, instead of waiting, on an object whose
  # status.conditions is still null.
  local tries=0
  until k wait --for=condition=Ready certificate/smoke-cert --timeout=5s >/dev/null 2>&1; do
    ((++tries < 12)) || return 1
    sleep 1
  done
  k get secret smoke-cert -o jsonpath='{.data.tls\.crt}' | base64 -d |
    openssl x509 -noout -ext subjectAltName | grep -q "smoke.$NS.svc" || return 1
  kc apply -f - <<EOF >/dev/null || return 1
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: e2e-smoke-cainject
  annotations: {cert-manager.io/inject-ca-from: $NS/smoke-cert}
webhooks:
- name: cainject.e2e-smoke.local
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Ignore
  namespaceSelector: {matchLabels: {e2e-smoke-never: "on"}}
  rules: [{operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [secrets]}]
  clientConfig:
    service: {namespace: $NS, name: nothing, path: /, port: 443}
EOF
  local want
  want="$(k get secret smoke-cert -o jsonpath='{.data.ca\.crt}')"
  [[ -n "$want" ]] || return 1
  eventually 60 ca_bundle_is e2e-smoke-cainject "$want"
}
ca_bundle_is() {
  [[ "$(kc get validatingwebhookconfiguration "$1" -o jsonpath='{.webhooks[0].clientConfig.caBundle}')" == "$2" ]]
}

main() {
  kc get --raw=/readyz >/dev/null || die "cluster not reachable via $KUBECONFIG_FILE (run up.sh)"
  cleanup
  kc wait --for=delete namespace/"$NS" --timeout=60s >/dev/null 2>&1 || true
  apply_workloads
  apply_webhook
  check "StatefulSet pods Running+Ready on real node $NODE_NAME" sts_ready_on_real_node
  check "PVCs of the StatefulSet are Bound" pvcs_bound
  check "web-0 resolves web-1.web.$NS.svc.cluster.local" dns_resolves web-0 web-1
  check "web-1 resolves web-0.web.$NS.svc.cluster.local" dns_resolves web-1 web-0
  check "Service ClusterIP answers from another pod" cluster_ip_answers
  check "Service DNS name web-svc.$NS.svc.cluster.local answers from a pod" service_name_answers
  check "pod reaches the API server through the kubernetes Service ($API_SERVICE_IP:443)" api_from_pod
  check "required anti-affinity leaves anti-1 Pending (real node taken, kwok nodes tainted)" anti_affinity_pending
  check "pod tolerating the kwok taint runs on a fake node" kwok_pod_running
  check "LoadBalancer Service gets an ingress IP that answers" lb_ingress
  check "locally built aisnode image runs (aisnode version)" aisnode_image_runs
  check "API server calls a Service-backed validating webhook" webhook_called
  check "cert-manager signs a Certificate and injects its CA into a webhook configuration" cert_manager_issues
  if [[ "${KEEP:-}" != 1 ]]; then cleanup; fi
  echo "$PASSED passed, $FAILED failed"
  ((FAILED == 0))
}

main "$@"
