#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Build every binary the local e2e cluster needs from upstream Go modules (Go module proxy only).
# Output: ~/.cache/ais-operator/bin/<component>-<version>/<component>, reused while its stamp matches.
# Usage: e2e/cluster/build.sh [component...]   (default: all)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"

CACHE="${AIS_OPERATOR_CACHE:-$HOME/.cache/ais-operator}"
BIN_DIR="$CACHE/bin"
export GOPATH="$CACHE/go" GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
JOBS="${BUILD_JOBS:-2}"

K8S_COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
ALL=(etcd "${K8S_COMPONENTS[@]}" kwok coredns helm aisnode aisinit authn cert-manager)

version_of() {
  case "$1" in
    etcd) echo "$ETCD_VERSION" ;;
    kwok) echo "$KWOK_VERSION" ;;
    coredns) echo "$COREDNS_VERSION" ;;
    helm) echo "$HELM_VERSION" ;;
    cert-manager) echo "$CERT_MANAGER_VERSION" ;;
    aisnode | aisinit | authn) echo "$AISTORE_VERSION" ;;
    *) echo "$K8S_VERSION" ;;
  esac
}

# The stamp covers the version, the Go toolchain, this script (flags) and the wrapper module (if any).
stamp_of() {
  local comp=$1 mod=""
  case "$comp" in
    etcd) mod=etcd ;;
    cert-manager) mod=cert-manager ;;
    kube-* | kubelet | kubectl) mod=k8s ;;
    aisnode | aisinit | authn) mod=aistore ;;
  esac
  {
    echo "$comp $(version_of "$comp")"
    "$GO" version
    cat "${BASH_SOURCE[0]}"
    [[ -z "$mod" ]] || cat "$HERE/gomods/$mod/go.mod" "$HERE/gomods/$mod/go.sum"
    [[ -z "$mod" ]] || cat "$HERE/gomods/$mod/"*.go 2>/dev/null || true
  } | sha256sum | cut -d' ' -f1
}

out_dir() { echo "$BIN_DIR/$1-$(version_of "$1")"; }
is_cached() { [[ -x "$(out_dir "$1")/$1" && "$(cat "$(out_dir "$1")/.stamp" 2>/dev/null)" == "$(stamp_of "$1")" ]]; }

# Move a freshly built binary into place atomically, then write its stamp.
install_bin() {
  local comp=$1 src=$2 dir
  dir="$(out_dir "$comp")"
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  mv "$src" "$dir.tmp/$comp"
  stamp_of "$comp" >"$dir.tmp/.stamp"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

# build_module <wrapper-dir> <package-prefix> <ldflags> <component...>: one `go build` in a wrapper
# module (pinned go.mod/go.sum under gomods/), shared compilation for all its binaries.
build_module() {
  local mod=$1 prefix=$2 ldf=$3 c tmp pkgs=()
  shift 3
  for c in "$@"; do pkgs+=("$prefix/$c"); done
  tmp="$(mktemp -d "$BIN_DIR/.$mod.XXXX")"
  (cd "$HERE/gomods/$mod" && "$GO" build -p "$JOBS" -ldflags "-s -w $ldf" -o "$tmp/" "${pkgs[@]}")
  for c in "$@"; do install_bin "$c" "$tmp/$c"; done
  rmdir "$tmp"
}

k8s_ldflags() {
  local minor p ldf=""
  minor="${K8S_VERSION#v1.}" && minor="${minor%%.*}"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldf+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$ldf"
}

# build_main <component>: the main package of the wrapper module gomods/<component>.
build_main() {
  local comp=$1 tmp
  tmp="$(mktemp -d "$BIN_DIR/.$comp.XXXX")"
  (cd "$HERE/gomods/$comp" && "$GO" build -p "$JOBS" -ldflags "-s -w" -o "$tmp/$comp" .)
  install_bin "$comp" "$tmp/$comp" && rmdir "$tmp"
}

# Modules without replace directives: `go install pkg@version` with their own pinned go.sum.
# (AIStore is built through a wrapper: the proxy refuses its @v/list, which `go install` reads.)
go_install() {
  local comp=$1 pkg=$2 ldf=$3 tmp
  tmp="$(mktemp -d "$BIN_DIR/.$comp.XXXX")"
  GOBIN="$tmp" "$GO" install -p "$JOBS" -ldflags "-s -w $ldf" "$pkg@$(version_of "$comp")"
  install_bin "$comp" "$tmp/$(basename "${pkg}")" && rmdir "$tmp"
}

build_one() {
  case "$1" in
    etcd | cert-manager) build_main "$1" ;;
    kwok) go_install kwok sigs.k8s.io/kwok/cmd/kwok "" ;;
    coredns) go_install coredns github.com/coredns/coredns "-X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" ;;
    helm) go_install helm helm.sh/helm/v3/cmd/helm "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" ;;
  esac
}

main() {
  local wanted=("$@") c k8s_todo=() ais_todo=() t0 t1
  [[ ${#wanted[@]} -gt 0 ]] || wanted=("${ALL[@]}")
  mkdir -p "$BIN_DIR"
  exec 9>"$BIN_DIR/.lock"
  flock 9
  t0=$SECONDS
  for c in "${wanted[@]}"; do
    if is_cached "$c"; then
      printf '%-24s cached  %s\n' "$c" "$(out_dir "$c")"
      continue
    fi
    case "$c" in
      kube-* | kubelet | kubectl) k8s_todo+=("$c") ;;
      aisnode | aisinit | authn) ais_todo+=("$c") ;;
      *)
        t1=$SECONDS
        build_one "$c"
        printf '%-24s built   %s (%ss)\n' "$c" "$(out_dir "$c")" $((SECONDS - t1))
        ;;
    esac
  done
  if [[ ${#ais_todo[@]} -gt 0 ]]; then
    t1=$SECONDS
    build_module aistore github.com/NVIDIA/aistore/cmd \
      "-X main.build=$AISTORE_VERSION -X main.buildtime=1970-01-01T00:00:00Z" "${ais_todo[@]}"
    for c in "${ais_todo[@]}"; do
      printf '%-24s built   %s (aistore batch %ss)\n' "$c" "$(out_dir "$c")" $((SECONDS - t1))
    done
  fi
  if [[ ${#k8s_todo[@]} -gt 0 ]]; then
    t1=$SECONDS
    build_module k8s k8s.io/kubernetes/cmd "$(k8s_ldflags)" "${k8s_todo[@]}"
    for c in "${k8s_todo[@]}"; do
      printf '%-24s built   %s (k8s batch %ss)\n' "$c" "$(out_dir "$c")" $((SECONDS - t1))
    done
  fi
  echo "build.sh: done in $((SECONDS - t0))s"
}

main "$@"
