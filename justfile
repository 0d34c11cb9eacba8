# AIStore operator: developer and CI entry points. `just --list` shows every recipe.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Build artefacts live outside the clone so that fresh clones (CI) build warm.
export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", env_var("HOME") / ".cache/ais-operator/target")

reference := env_var_or_default("AIS_REFERENCE_DIR", justfile_directory() / "../shared/reference/data")
kubeconfig := env_var_or_default("KUBECONFIG", justfile_directory() / ".cluster/kubeconfig")
k8s_version := `sed -n 's/^K8S_VERSION=//p' e2e/cluster/versions.env`
kubectl := env_var_or_default("KUBECTL", env_var("HOME") / ".cache/ais-operator/bin/kubectl-" + k8s_version / "kubectl")

# List the recipes.
default:
    @just --list

# Build every crate (debug).
build:
    cargo build --workspace --all-targets

# Run the unit, property and schema tests, and the AIS client against real aisnode processes
# (no cluster needed; aisnode is built from source once and cached).
test:
    e2e/cluster/build.sh aisnode authn
    cargo test --workspace --all-targets

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
    HELM=$(ls -d ~/.cache/ais-operator/bin/helm-*/helm | head -1); \
      "$HELM" lint --strict charts/ais-operator && \
      "$HELM" lint --strict charts/ais-operator --set webhook.certs.mode=helm && \
      "$HELM" lint --strict charts/ais-operator --set 'namespaceScope={ais-a,ais-b}'

# Check AIStore manifests offline (defaulting, validation, deprecation warnings).
validate +files:
    cargo run -q -p ais-crd --bin ais-validate -- {{files}}

# Bring up the local cluster (unless KUBECONFIG points at one), install the CRD, apply a sample AIStore.
demo:
    #!/usr/bin/env bash
    set -euo pipefail
    step() { printf '\n==> %s\n' "$*"; }
    export KUBECONFIG={{kubeconfig}}
    k() { {{kubectl}} "$@"; }
    if ! k version --request-timeout=5s >/dev/null 2>&1; then
      step "starting the local cluster (first run builds Kubernetes from source: ~20 min; then ~15 s)"
      just cluster-up
    fi
    step "checking the reference manifests offline (v1.7 and v3.4 era)"
    cargo run -q -p ais-crd --bin ais-validate -- {{reference}}/samples-*/*.yaml | grep -c ': valid$' | xargs printf '    %s AIStore manifests valid\n'
    step "installing the AIStore CRD"
    k apply --server-side --force-conflicts -f deploy/crds/ais.nvidia.com_aistores.yaml
    step "applying a sample AIStore (strict schema validation by the API server)"
    k create namespace ais-demo --dry-run=client -o yaml | k apply -f -
    k apply -n ais-demo --validate=strict -f {{reference}}/samples-v3.4.0/ais_v1beta1_aistore.yaml
    k get aistores -n ais-demo
    step "done"
    echo "    kubectl:   export KUBECONFIG={{kubeconfig}}; {{kubectl}} explain aistore.spec"
    echo "    tear down: just cluster-down"
    echo "    (the controller that turns this AIStore into a running cluster is the next issue)"

# Start the local Kubernetes cluster (built from source, cached in ~/.cache/ais-operator).
cluster-up:
    e2e/cluster/up.sh

# Stop the local cluster and remove everything it created.
cluster-down:
    e2e/cluster/down.sh

# Show what the local cluster runs.
cluster-status:
    e2e/cluster/status.sh

# Build the container images the local cluster runs and import them into containerd.
images:
    e2e/cluster/images.sh

# Prove the local cluster is real: storage, DNS, Services, scheduling, kwok, LB, webhooks.
smoke:
    KUBECONFIG={{kubeconfig}} e2e/cluster/smoke-test.sh

# End-to-end tests against the cluster in KUBECONFIG (default: the local cluster).
e2e:
    cargo build -q -p ais-webhook -p ais-controller
    KUBECONFIG={{kubeconfig}} KUBECTL={{kubectl}} \
        AIS_WEBHOOK_BIN="$CARGO_TARGET_DIR/debug/ais-webhook" AIS_CONTROLLER_BIN="$CARGO_TARGET_DIR/debug/ais-controller" \
        AIS_E2E_AUDIT_LOG="${AIS_E2E_AUDIT_LOG:-{{justfile_directory()}}/.cluster/logs/audit.log}" \
        AIS_E2E_LOG_DIR="${AIS_E2E_LOG_DIR:-{{justfile_directory()}}/.cluster/logs}" \
        cargo test -p ais-e2e --features e2e -- --test-threads 3

# Local cluster up and down once (teardown check), then up, smoke test, e2e tests, down (also
# when a test fails), and a check that nothing is left on the host.
e2e-local:
    #!/usr/bin/env bash
    set -euo pipefail
    just cluster-up
    just cluster-down
    e2e/cluster/check-clean.sh
    trap 'just cluster-down && e2e/cluster/check-clean.sh' EXIT
    just cluster-up
    just smoke
    just e2e

# Everything CI runs: lint, generated-file drift, unit tests, then the e2e suite on a local cluster.
ci: lint crds-check manifests-check test e2e-local

# Benchmarks (numbers go to docs/benchmarks.md): webhook reviews/s and latency over TLS.
bench seconds="10" connections="8":
    cargo run --release -q -p ais-webhook --example bench -- {{seconds}} {{connections}}
