# AIStore operator: developer and CI entry points. `just --list` shows every recipe.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Build artefacts live outside the clone so that fresh clones (CI) build warm.
export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", env_var("HOME") / ".cache/ais-operator/target")

reference := env_var_or_default("AIS_REFERENCE_DIR", justfile_directory() / "../shared/reference/data")
kubeconfig := env_var_or_default("KUBECONFIG", justfile_directory() / ".cluster/kubeconfig")
k8s_version := `sed -n 's/^K8S_VERSION=//p' e2e/cluster/versions.env`
kubectl := env_var_or_default("KUBECTL", env_var("HOME") / ".cache/ais-operator/bin/kubectl-" + k8s_version / "kubectl")
helm_version := `sed -n 's/^HELM_VERSION=//p' e2e/cluster/versions.env`
helm := env_var_or_default("HELM", env_var("HOME") / ".cache/ais-operator/bin/helm-" + helm_version / "helm")
# Operator images: IMG is the repository prefix, IMG_TAG the tag (default: the chart's appVersion).
img := env_var_or_default("IMG", "localhost/ais-operator")
img_tag := env_var_or_default("IMG_TAG", `sed -n 's/^appVersion: *"*\([^"]*\)"*/\1/p' charts/ais-operator/Chart.yaml`)
kind_k8s_version := env_var_or_default("KIND_K8S_VERSION", "v1.35.0")
# Where the e2e tests write the controllers' logs, and the API server's audit log (up.sh writes it there).
e2e_log_dir := env_var_or_default("AIS_E2E_LOG_DIR", justfile_directory() / ".cluster/logs")
e2e_audit_log := env_var_or_default("AIS_E2E_AUDIT_LOG", justfile_directory() / ".cluster/logs/audit.log")
# The e2e cases' summary lines (e2e/src/report.rs), outside the cluster's state dir so that
# they outlive `cluster-down`.
e2e_summary := env_var_or_default("AIS_E2E_SUMMARY", env_var_or_default("CARGO_TARGET_DIR", env_var("HOME") / ".cache/ais-operator/target") / "e2e-summary.tsv")

# List the recipes.
default:
    @just --list

# Build every crate (debug).
build:
    cargo build --workspace --all-targets

# Unit, property, schema tests and the real-aisnode/AuthN tests (no cluster; binaries cached).
test:
    e2e/cluster/build.sh aisnode authn
    AIS_BINARIES_REQUIRED=1 cargo test --workspace --all-targets

# Formatting check and clippy with warnings as errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --features ais-e2e/e2e -- -D warnings

# Regenerate the CRD into deploy/crds/ and the Helm chart.
crds:
    cargo run -q -p ais-crd --bin crdgen -- {{justfile_directory()}}

# Fail when the committed CRD files differ from what the code generates.
crds-check:
    cargo run -q -p ais-crd --bin crdgen -- --check {{justfile_directory()}}

# Render deploy/operator.yaml from the Helm chart (default values).
manifests:
    deploy/render.sh

# Fail when deploy/operator.yaml differs from the chart; lint the chart in every mode.
manifests-check:
    e2e/cluster/build.sh helm
    deploy/render.sh --check
    {{helm}} lint --strict charts/ais-operator
    {{helm}} lint --strict charts/ais-operator --set webhook.certs.mode=helm
    {{helm}} lint --strict charts/ais-operator --set 'namespaceScope={ais-a,ais-b}'

# Check AIStore manifests offline (defaulting, validation, deprecation warnings).
validate +files:
    cargo run -q -p ais-crd --bin ais-validate -- {{files}}

# Local cluster (unless KUBECONFIG reaches one), operator images, Helm chart, a sample AIStore until Ready.
demo:
    #!/usr/bin/env bash
    set -euo pipefail
    step() { printf '\n==> %s\n' "$*"; }
    export KUBECONFIG={{kubeconfig}}
    k() { {{kubectl}} "$@"; }
    if ! k version --request-timeout=5s >/dev/null 2>&1; then
      step "starting the local cluster (the first run builds Kubernetes and friends from source: ~27 min; then ~20 s)"
      just cluster-up
    fi
    step "building the operator images (first run ~18 min, ~7 min after a source change, then cached) and loading them into the cluster"
    just images
    step "installing the Helm chart (release ais-operator in ais-operator-system)"
    {{helm}} upgrade --install ais-operator charts/ais-operator --namespace ais-operator-system \
      --create-namespace -f e2e/cluster/values/local.yaml --wait --timeout 300s
    step "applying deploy/samples/minimal.yaml in namespace ais-demo"
    k create namespace ais-demo --dry-run=client -o yaml | k apply -f -
    k apply -n ais-demo -f deploy/samples/minimal.yaml
    step "waiting until the AIStore is Ready (bootstrap: one proxy, then targets)"
    k wait -n ais-demo aistore/ais-minimal --for=jsonpath='{.status.state}'=Ready --timeout=600s
    k get aistores -n ais-demo
    ip=$(k get pod -n ais-demo ais-minimal-proxy-0 -o jsonpath='{.status.podIP}')
    ais="http://$ip:51080"
    step "storing an object through the proxy and reading it back (AIS REST API, curl)"
    curl -sf -X POST -H 'Content-Type: application/json' -d '{"action":"create-bck"}' "$ais/v1/buckets/demo?provider=ais" \
      || curl -sf -I "$ais/v1/buckets/demo?provider=ais" >/dev/null
    echo "hello from the AIStore demo, $(date -u +%FT%TZ)" > /tmp/ais-demo-object.txt
    curl -sf -L -X PUT -T /tmp/ais-demo-object.txt "$ais/v1/objects/demo/hello.txt?provider=ais"
    curl -sf -L "$ais/v1/objects/demo/hello.txt?provider=ais" -o /tmp/ais-demo-object.back
    cmp /tmp/ais-demo-object.txt /tmp/ais-demo-object.back
    echo "    read back: $(cat /tmp/ais-demo-object.back)"
    step "done"
    echo "    AIS API:   curl http://$ip:51080/v1/daemon?what=smap   (from this host)"
    echo "    store:     curl -L -X PUT -T FILE '$ais/v1/objects/demo/NAME?provider=ais'"
    echo "    read:      curl -L '$ais/v1/objects/demo/NAME?provider=ais'"
    echo "    kubectl:   export KUBECONFIG={{kubeconfig}}; {{kubectl}} get ais -A"
    echo "    remove:    {{kubectl}} delete ais -n ais-demo ais-minimal; just undeploy"
    echo "    tear down: just cluster-down"

# Start the local Kubernetes cluster (built from source, cached in ~/.cache/ais-operator).
cluster-up:
    e2e/cluster/up.sh

# Stop the local cluster and remove everything it created.
cluster-down:
    e2e/cluster/down.sh

# Show what the local cluster runs.
cluster-status:
    e2e/cluster/status.sh

# Build the operator images (IMG=..., IMG_TAG=...) with buildah and load them into the local cluster.
images:
    e2e/cluster/images.sh build
    e2e/cluster/images.sh dockerfile {{img}}/controller:{{img_tag}} Dockerfile.controller .
    e2e/cluster/images.sh dockerfile {{img}}/webhook:{{img_tag}} Dockerfile.webhook .
    @ls -l ~/.cache/ais-operator/images/ | awk '/ais-operator/ { printf "    %-60s %6.1f MB (archive)\n", $9, $5/1048576 }'

# Push the operator images to the registry in IMG (needs credentials: buildah login).
push:
    for c in controller webhook; do \
      buildah --storage-driver overlay --root ~/.cache/ais-operator/buildah/overlay \
        --runroot ~/.cache/ais-operator/buildah/overlay-run push {{img}}/$c:{{img_tag}} docker://{{img}}/$c:{{img_tag}}; \
    done

# Install or upgrade the operator with Helm into the cluster in KUBECONFIG (extra args: helm flags).
deploy *args:
    {{helm}} upgrade --install ais-operator charts/ais-operator --namespace ais-operator-system --create-namespace --wait {{args}}

# Uninstall the operator (AIStore resources, their PVCs and the CRD stay).
undeploy:
    {{helm}} uninstall ais-operator --namespace ais-operator-system

# A kind cluster `ais-operator-test` (KIND_K8S_VERSION) for people with Docker, images loaded.
kind-up:
    kind create cluster --name ais-operator-test --image kindest/node:{{kind_k8s_version}}
    docker build -t {{img}}/controller:{{img_tag}} -f Dockerfile.controller .
    docker build -t {{img}}/webhook:{{img_tag}} -f Dockerfile.webhook .
    kind load docker-image --name ais-operator-test {{img}}/controller:{{img_tag}} {{img}}/webhook:{{img_tag}}
    @echo "next: install cert-manager (the chart's default webhook certificates), then 'just deploy';"
    @echo "      or without cert-manager: just deploy --set webhook.certs.mode=helm"

# Delete the kind cluster.
kind-down:
    kind delete cluster --name ais-operator-test

# Prove the local cluster is real: storage, DNS, Services, scheduling, kwok, LB, webhooks.
smoke:
    KUBECONFIG={{kubeconfig}} e2e/cluster/smoke-test.sh

# End-to-end tests against the cluster in KUBECONFIG (default: the local cluster; operator images loaded).
e2e:
    rm -f "{{e2e_summary}}"
    just _e2e-tests || { e2e/summary.sh "{{e2e_summary}}"; exit 1; }
    e2e/summary.sh "{{e2e_summary}}"
    just _rbac-check

# The e2e test binaries named in `targets` (cargo test flags, e.g. `--test helm`; none: all of them).
_e2e-tests *targets:
    cargo build -q -p ais-webhook -p ais-controller
    KUBECONFIG={{kubeconfig}} KUBECTL={{kubectl}} HELM={{helm}} \
        AIS_WEBHOOK_BIN="$CARGO_TARGET_DIR/debug/ais-webhook" AIS_CONTROLLER_BIN="$CARGO_TARGET_DIR/debug/ais-controller" \
        AIS_E2E_AUDIT_LOG="{{e2e_audit_log}}" AIS_E2E_LOG_DIR="{{e2e_log_dir}}" AIS_E2E_SUMMARY="{{e2e_summary}}" \
        cargo test -p ais-e2e --features e2e --no-fail-fast {{targets}} -- --test-threads 3

# Every request of the operator's identity was allowed, and every chart RBAC rule was used.
_rbac-check:
    KUBECONFIG={{kubeconfig}} KUBECTL={{kubectl}} HELM={{helm}} AIS_E2E_AUDIT_LOG="{{e2e_audit_log}}" \
        e2e/cluster/rbac-check.sh "{{e2e_log_dir}}"

# Cluster up/down/clean check, then up, smoke, e2e with the images built alongside, down (also on failure), clean check.
e2e-local:
    #!/usr/bin/env bash
    set -euo pipefail
    rm -f "{{e2e_summary}}"
    # Set first: a cluster-up that fails half-way is torn down too.
    trap 'e2e/summary.sh "{{e2e_summary}}"; just cluster-down && e2e/cluster/check-clean.sh' EXIT
    just cluster-up
    just cluster-down
    e2e/cluster/check-clean.sh
    just cluster-up
    just smoke
    # Building the operator images is CPU-bound (a cold release build: ~18 min on two cores); the
    # e2e tests mostly wait on pods. So the images build at the lowest CPU and I/O priority while
    # every test that runs the host binaries goes, and the Helm tests, which run the images, go last.
    images_log=$(mktemp /tmp/ais-e2e-images.XXXX.log)
    nice -n 19 ionice -c 3 just images >"$images_log" 2>&1 &
    images=$!
    host_tests=()
    for f in e2e/tests/*.rs; do
      name=$(basename "$f" .rs)
      [[ $name == helm || $name == takeover ]] || host_tests+=(--test "$name")
    done
    status=0
    # The takeover tests spend five minutes watching a cluster that must not change: they run
    # beside the other host tests rather than after them (their output follows theirs).
    cargo build -q -p ais-webhook -p ais-controller
    takeover_log=$(mktemp /tmp/ais-e2e-takeover.XXXX.log)
    just _e2e-tests --test takeover >"$takeover_log" 2>&1 &
    takeover=$!
    just _e2e-tests "${host_tests[@]}" || status=$?
    wait "$takeover" || status=$?
    cat "$takeover_log"
    rm -f "$takeover_log"
    if ! wait "$images"; then
      cat "$images_log" >&2
      echo "just images failed (log above); the Helm e2e tests did not run" >&2
      exit 1
    fi
    grep -F 'MB (archive)' "$images_log" || true
    rm -f "$images_log"
    just _e2e-tests --test helm || status=$?
    just _rbac-check || status=$?
    exit "$status"

# Everything CI runs: lint, generated-file drift, unit tests, then the e2e suite on a local cluster.
ci: lint crds-check manifests-check test e2e-local

# Benchmarks (numbers go to docs/benchmarks.md): webhook reviews/s and latency over TLS, then
# the controller at scale on kwok nodes (a local cluster runs: `just cluster-up`), with the
# steady state and a restart at the largest count; results and the plot in docs/bench/.
bench clusters="10,50,100,200" steady="600":
    just _bench-build
    "$CARGO_TARGET_DIR/release/examples/bench" 10 8
    just _bench-scale {{clusters}} {{steady}}

# The controller's scale benchmark alone (release build, as shipped).
bench-scale clusters="10,50,100,200" steady="600":
    just _bench-build
    just _bench-scale {{clusters}} {{steady}}

# One release build of everything the benchmarks run. One cargo invocation, because features
# unify per invocation: built apart, the webhook's benchmark and the controller needed two
# builds of kube, tokio and hyper (3 of a cold build's minutes). The controller and the webhook
# are built together, as the images build them (Dockerfile.*).
_bench-build:
    cargo build --release -q -p ais-controller -p ais-webhook -p ais-bench --bins --example bench

_bench-scale clusters steady:
    KUBECONFIG={{kubeconfig}} KUBECTL={{kubectl}} HELM={{helm}} \
        AIS_CONTROLLER_BIN="$CARGO_TARGET_DIR/release/ais-controller" AIS_E2E_AUDIT_LOG="{{e2e_audit_log}}" \
        "$CARGO_TARGET_DIR/release/ais-bench" --clusters {{clusters}} --steady {{steady}} --out docs/bench

# The same scale runs with the reference Go operator (NVIDIA/ais-k8s v3.4.0) instead, for the
# comparison in docs/benchmarks.md. GO_OPERATOR_SRC: its `operator` directory (a checkout of tag v3.4.0).
bench-go clusters="10,50,100,200" steady="600":
    test -d "${GO_OPERATOR_SRC:-}/cmd" || { echo "GO_OPERATOR_SRC must name the operator directory of an ais-k8s v3.4.0 checkout" >&2; exit 1; }
    cd "$GO_OPERATOR_SRC" && go build -o bin/manager ./cmd/
    just _bench-build
    KUBECONFIG={{kubeconfig}} KUBECTL={{kubectl}} HELM={{helm}} AIS_E2E_AUDIT_LOG="{{e2e_audit_log}}" \
        "$CARGO_TARGET_DIR/release/ais-bench" --clusters {{clusters}} --steady {{steady}} --out docs/bench \
        --go-bin "$GO_OPERATOR_SRC/bin/manager" --go-crds "$GO_OPERATOR_SRC/config/base/crd"
