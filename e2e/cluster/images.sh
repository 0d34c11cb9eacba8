#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Build container images without a registry (buildah, FROM scratch) and import them into the
# cluster's containerd (namespace k8s.io). Archives are cached in ~/.cache/ais-operator/images.
#
# Usage: images.sh build            build missing image archives
#        images.sh import           build missing archives, import all into the running containerd
#        images.sh dockerfile <tag> <Dockerfile> [context] [BASE_IMAGE]
#                                   hook for the operator's own images: buildah bud with
#                                   --build-arg BASE_IMAGE (default localhost/e2e/base:bookworm)
#                                   and RUST_IMAGE (the local Rust builder, see below), then
#                                   import into containerd if the cluster runs.
#        images.sh rust-builder     the Rust builder image localhost/e2e/rust:<rustc version>:
#                                   Debian bookworm (debootstrap from the Debian mirror) with gcc
#                                   and the host's Rust toolchain (no registry has one for us).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

IMG_DIR="$CACHE/images"
IMAGES_SRC="$REPO/e2e/images"
# overlay (native diff on ext4): layers are diffs, not full copies as with vfs.
BUILDAH=(buildah --storage-driver overlay --root "$CACHE/buildah/overlay" --runroot "$CACHE/buildah/overlay-run")
export GOPATH="$CACHE/go" GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"

BASE_TAG=localhost/e2e/base:bookworm
RUST_VERSION="$(rustc --version 2>/dev/null | awk '{print $2}')"
RUST_TAG="localhost/e2e/rust:${RUST_VERSION:-unknown}"
RUST_BUILDER_REV=1
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# name|tag of every image the cluster and its tests use
IMAGES=(
  "pause|localhost/e2e/pause:3.10"
  "busybox|localhost/e2e/busybox:1"
  "webhook|localhost/e2e/webhook:1"
  "cleanup-helper|localhost/e2e/cleanup-helper:1"
  "coredns|localhost/e2e/coredns:$COREDNS_VERSION"
  "aisnode|localhost/aistore/aisnode:$AISTORE_VERSION"
  "aisinit|localhost/aistore/aisinit:$AISTORE_VERSION"
)

# Debian's dynamically linked busybox (name lookups go through the image's glibc, not a static
# copy of it). Fetched once with `apt-get download`, never installed.
debian_busybox() {
  local dir="$CACHE/debs"
  if [[ ! -x "$dir/busybox/bin/busybox" ]]; then
    mkdir -p "$dir"
    (cd "$dir" && rm -f busybox_*.deb && apt-get download -q busybox >&2)
    rm -rf "$dir/busybox" && dpkg-deb -x "$dir"/busybox_*.deb "$dir/busybox"
  fi
  echo "$dir/busybox/bin/busybox"
}

# A minimal root filesystem: passwd/group, /tmp, CA certificates, glibc and busybox in /bin.
make_base_rootfs() {
  local root=$1 applet lib busybox
  busybox="$(debian_busybox)"
  mkdir -p "$root"/{bin,etc/ssl/certs,tmp,root,home,var/tmp,usr/bin}
  chmod 1777 "$root/tmp" "$root/var/tmp"
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' \
    'nonroot:x:65532:65532:nonroot:/home:/bin/false' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' 'nonroot:x:65532:' >"$root/etc/group"
  echo 'hosts: files dns' >"$root/etc/nsswitch.conf"
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/" 2>/dev/null || true
  # glibc runtime of the host (Debian 12, like distroless/cc-debian12): dynamically linked binaries
  # (e.g. the operator's Rust binaries and busybox) run on this base.
  mkdir -p "$root/usr/lib/x86_64-linux-gnu" "$root/usr/lib64"
  ln -s usr/lib "$root/lib"
  ln -s usr/lib64 "$root/lib64"
  for lib in ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libgcc_s.so.1 libdl.so.2 libpthread.so.0 \
    librt.so.1 libresolv.so.2; do
    cp -L "/usr/lib/x86_64-linux-gnu/$lib" "$root/usr/lib/x86_64-linux-gnu/"
  done
  ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$root/usr/lib64/ld-linux-x86-64.so.2"
  cp "$busybox" "$root/bin/busybox"
  for applet in $("$busybox" --list); do
    [[ "$applet" == busybox ]] || ln -sf busybox "$root/bin/$applet"
  done
}

# commit_image <tag> <rootfs-dir> <entrypoint-json> [cmd-json]: FROM scratch + copy + commit + archive.
commit_image() {
  local tag=$1 root=$2 entrypoint=$3 cmd=${4:-} ctr archive
  archive="$IMG_DIR/$(tr '/:' '__' <<<"$tag").tar"
  ctr="$("${BUILDAH[@]}" from scratch)"
  "${BUILDAH[@]}" copy "$ctr" "$root" / >/dev/null
  "${BUILDAH[@]}" config --entrypoint "$entrypoint" --env PATH=/usr/bin:/bin --workingdir / "$ctr"
  [[ -z "$cmd" ]] || "${BUILDAH[@]}" config --cmd "$cmd" "$ctr"
  "${BUILDAH[@]}" commit -q --rm "$ctr" "$tag" >/dev/null
  rm -f "$archive.tmp"
  "${BUILDAH[@]}" push -q "$tag" "docker-archive:$archive.tmp:$tag"
  mv "$archive.tmp" "$archive"
  # keep only the Dockerfile base images in buildah's storage; the archives are the cache
  if [[ "$tag" != "$BASE_TAG" && "$tag" != "$RUST_TAG" ]]; then "${BUILDAH[@]}" rmi "$tag" >/dev/null; fi
}

go_bin() { # go_bin <src-dir> <out>
  (cd "$1" && go build -ldflags "-s -w" -o "$2" main.go)
}

build_image() {
  local name=$1 tag=$2 work
  work="$(mktemp -d)"
  case "$name" in
    pause)
      mkdir -p "$work/root"
      go_bin "$IMAGES_SRC/pause" "$work/root/pause"
      commit_image "$tag" "$work/root" '["/pause"]' ;;
    busybox)
      make_base_rootfs "$work/root"
      mkdir -p "$work/root/www" && echo "hello from e2e busybox" >"$work/root/www/index.html"
      commit_image "$tag" "$work/root" '["/bin/sh"]' ;;
    webhook)
      mkdir -p "$work/root"
      go_bin "$IMAGES_SRC/webhook" "$work/root/webhook"
      commit_image "$tag" "$work/root" '["/webhook"]' ;;
    cleanup-helper)
      mkdir -p "$work/root"
      go_bin "$IMAGES_SRC/cleanup-helper" "$work/root/cleanup-helper"
      commit_image "$tag" "$work/root" '["/cleanup-helper"]' ;;
    coredns)
      mkdir -p "$work/root/etc/ssl/certs"
      cp "$(bin coredns "$COREDNS_VERSION")" "$work/root/coredns"
      commit_image "$tag" "$work/root" '["/coredns"]' ;;
    aisnode | aisinit)
      # Upstream (deploy/prod/k8s/*_container) puts the binary in /usr/bin of a distroless base
      # and sets ENTRYPOINT ["<binary>"]; ours are static (CGO_ENABLED=0), on a busybox base.
      make_base_rootfs "$work/root"
      cp "$(bin "$name" "$AISTORE_VERSION")" "$work/root/usr/bin/$name"
      commit_image "$tag" "$work/root" "[\"$name\"]" ;;
  esac
  rm -rf "$work"
}

ensure_base() {
  local work stamp="$IMG_DIR/base.stamp"
  if "${BUILDAH[@]}" inspect --type image "$BASE_TAG" >/dev/null 2>&1 &&
    [[ "$(cat "$stamp" 2>/dev/null)" == "$(inputs_stamp)" ]]; then
    return
  fi
  work="$(mktemp -d)"
  make_base_rootfs "$work/root"
  commit_image "$BASE_TAG" "$work/root" '["/bin/sh"]'
  rm -rf "$work"
  inputs_stamp >"$stamp"
}

archive_of() { echo "$IMG_DIR/$(tr '/:' '__' <<<"$1").tar"; }
# Rebuild every image when this script, the versions or the image sources change.
inputs_stamp() { cat "$0" "$HERE/versions.env" "$IMAGES_SRC"/*/main.go | sha256sum | cut -d' ' -f1; }

build_all() {
  local entry name tag
  mkdir -p "$IMG_DIR"
  exec 8>"$IMG_DIR/.lock"
  flock 8
  for entry in "${IMAGES[@]}"; do
    name=${entry%%|*} tag=${entry#*|}
    if [[ -s "$(archive_of "$tag")" && "$(cat "$(archive_of "$tag").stamp" 2>/dev/null)" == "$(inputs_stamp)" ]]; then
      printf '%-10s cached  %s\n' "$name" "$tag"
    else
      build_image "$name" "$tag"
      inputs_stamp >"$(archive_of "$tag").stamp"
      printf '%-10s built   %s\n' "$name" "$tag"
    fi
  done
}

import_archive() {
  ctr --address "$CONTAINERD_SOCK" -n k8s.io images import "$1" >/dev/null
}

import_all() {
  [[ -S "$CONTAINERD_SOCK" ]] || die "containerd is not running ($CONTAINERD_SOCK)"
  local entry
  for entry in "${IMAGES[@]}"; do
    import_archive "$(archive_of "${entry#*|}")"
  done
  # A second tag of the AIS images: the e2e upgrade cases change the image as a new release
  # does (one AIS build here, and no registry to pull another from).
  local ais
  for ais in aisnode aisinit; do
    ctr --address "$CONTAINERD_SOCK" -n k8s.io images tag --force \
      "localhost/aistore/$ais:$AISTORE_VERSION" "localhost/aistore/$ais:$AISTORE_VERSION-next" >/dev/null
  done
  echo "imported ${#IMAGES[@]} images into containerd (k8s.io), and the AIS images as :$AISTORE_VERSION-next"
}

# The Rust builder: a Debian bookworm root (debootstrap, cached as a tarball) with gcc and the
# host toolchain's bin/ and lib/ (rustup's layout) in /usr/local/rust.
ensure_rust_builder() {
  local stamp="$IMG_DIR/rust-builder.stamp" want work toolchain sysroot
  [[ -n "$RUST_VERSION" ]] || die "rustc is not on PATH: the Rust builder image copies the host toolchain"
  sysroot="$(rustc --print sysroot)"
  # Rebuilt when the toolchain, the trust store or RUST_BUILDER_REV (the recipe) changes.
  want="$(printf '%s\n' "$RUST_VERSION" "$RUST_BUILDER_REV" "$(cat /etc/ssl/certs/ca-certificates.crt)" | sha256sum | cut -d' ' -f1)"
  if "${BUILDAH[@]}" inspect --type image "$RUST_TAG" >/dev/null 2>&1 &&
    [[ "$(cat "$stamp" 2>/dev/null)" == "$want" ]]; then
    return
  fi
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -q debootstrap >/dev/null; }
  local rootfs_tar="$CACHE/debs/bookworm-rust-builder-rootfs.tar"
  work="$(mktemp -d "$CACHE/.rust-builder.XXXX")"
  if [[ ! -s "$rootfs_tar" ]]; then
    mkdir -p "$CACHE/debs"
    debootstrap --variant=minbase --include=gcc,libc6-dev,ca-certificates,pkg-config \
      bookworm "$work/root" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 ||
      { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
    rm -rf "$work/root/var/cache/apt/archives"/*.deb "$work/root/usr/share/doc" "$work/root/usr/share/man"
    tar -C "$work/root" -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
  else
    mkdir -p "$work/root" && tar -C "$work/root" -xf "$rootfs_tar"
  fi
  toolchain="$work/root/usr/local/rust"
  mkdir -p "$toolchain" "$work/root/usr/local/cargo"
  cp -a "$sysroot/bin" "$sysroot/lib" "$toolchain/"
  # The host's trust store (it may hold a proxy's CA that crates.io traffic goes through).
  cp /etc/ssl/certs/ca-certificates.crt "$work/root/etc/ssl/certs/ca-certificates.crt"
  local ctr
  ctr="$("${BUILDAH[@]}" from scratch)"
  "${BUILDAH[@]}" copy "$ctr" "$work/root" / >/dev/null
  "${BUILDAH[@]}" config --env PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env CARGO_HOME=/usr/local/cargo --env RUSTUP_TOOLCHAIN="$RUST_VERSION" --workingdir / "$ctr"
  "${BUILDAH[@]}" commit -q --rm "$ctr" "$RUST_TAG" >/dev/null
  rm -rf "$work"
  echo "$want" >"$stamp"
  echo "built $RUST_TAG"
}

# Hook for the operator's images: images.sh dockerfile <tag> <Dockerfile> [context] [BASE_IMAGE]
build_dockerfile() {
  local tag=$1 dockerfile=$2 context=${3:-$(dirname "$2")} base=${4:-$BASE_TAG} archive
  mkdir -p "$IMG_DIR"
  ensure_base
  ensure_rust_builder
  # --layers: the dependency layer (cargo chef cook) is reused until Cargo.lock changes.
  "${BUILDAH[@]}" bud -q --pull-never --layers --isolation chroot --network host \
    --build-arg "BASE_IMAGE=$base" --build-arg "RUST_IMAGE=$RUST_TAG" \
    -f "$dockerfile" -t "$tag" "$context"
  archive="$(archive_of "$tag")"
  rm -f "$archive"
  "${BUILDAH[@]}" push -q "$tag" "docker-archive:$archive:$tag"
  if [[ -S "$CONTAINERD_SOCK" ]]; then import_archive "$archive"; fi
  echo "built $tag ($archive)"
}

case "${1:-import}" in
  build) build_all ;;
  import)
    build_all
    import_all
    ;;
  dockerfile) shift && build_dockerfile "$@" ;;
  rust-builder) mkdir -p "$IMG_DIR" && ensure_rust_builder ;;
  *) die "usage: $0 build|import|rust-builder|dockerfile <tag> <Dockerfile> [context] [BASE_IMAGE]" ;;
esac
