# AIStore operator: developer and CI entry points. `just --list` shows every recipe.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Build artefacts live outside the clone so that fresh clones (CI) build warm.
export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", env_var("HOME") / ".cache/ais-operator/target")

reference := env_var_or_default("AIS_REFERENCE_DIR", justfile_directory() / "../shared/reference/data")

# List the recipes.
default:
    @just --list

# Build every crate (debug).
build:
    cargo build --workspace --all-targets

# Run the unit, property and schema tests (no cluster needed).
test:
    cargo test --workspace --all-targets

# Formatting check and clippy with warnings as errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Regenerate the CRD into deploy/crds/ and the Helm chart.
crds:
    cargo run -q -p ais-crd --bin crdgen -- {{justfile_directory()}}

# Fail when the committed CRD files differ from what the code generates.
crds-check:
    cargo run -q -p ais-crd --bin crdgen -- --check {{justfile_directory()}}

# Check AIStore manifests offline (defaulting, validation, deprecation warnings).
validate +files:
    cargo run -q -p ais-crd --bin ais-validate -- {{files}}

# First look: print the generated CRD summary and check every reference sample against it.
demo:
    @echo "==> generating the AIStore CRD"
    cargo run -q -p ais-controller -- crd > "${TMPDIR:-/tmp}/ais-operator-crd.yaml"
    @echo "    $(grep -c 'description:' "${TMPDIR:-/tmp}/ais-operator-crd.yaml") documented schema fields; written to ${TMPDIR:-/tmp}/ais-operator-crd.yaml"
    @echo "==> checking the reference samples (v1.7 and v3.4 manifests)"
    cargo run -q -p ais-crd --bin ais-validate -- {{reference}}/samples-*/*.yaml

# Everything CI runs: lint, generated-file drift, tests.
ci: lint crds-check test
