#!/usr/bin/env bash
# Builds the test cluster's container images with buildah, without any registry, and exports each
# as a docker-archive tar that `ctr images import` loads into every node's containerd.
#
#   node:20-bookworm-slim   the base image the Dockerfile names, made locally: a Debian bookworm
#                           minbase rootfs (mmdebstrap) plus this machine's Node 20 under /usr/local
#                           and its CA bundle (the npm registry is reached through a proxy whose CA
#                           only this host trusts; NODE_EXTRA_CA_CERTS hands it to npm, never
#                           strict-ssl=false). Rebuilt only when its inputs change.
#   ironlb:0.1.0            `buildah bud` of the project's Dockerfile, unchanged (--layers: only the
#                           steps whose inputs changed run again).
#   localhost/ironlb-pause:1, localhost/ironlb-echo:1
#                           the Pod sandbox image and the HTTP backend: static Go programs from
#                           test/cluster/gomod, on an empty base.
#
# Everything is cached under ${IRONLB_CACHE:-~/.cache/ironlb}: the rootfs tar, buildah's storage
# and the exported archives (named by image ID, so an unchanged image is not exported again).
# IRONLB_IMAGES_VERBOSE=1 shows the build's output.
# Prints one JSON line on stdout: {"ironlb": TAR, "pause": TAR, "echo": TAR, "ironlbBytes": N}.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export PATH="/usr/local/go/bin:$PATH" GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
cache="${IRONLB_CACHE:-$HOME/.cache/ironlb}/images"
mkdir -p "$cache"
# buildah's storage lives in the cache; skip_mount_home keeps containers/storage from leaving a
# private bind mount of its own directory behind after every command.
runroot="/run/ironlb-buildah"
B=(buildah --root "$cache/buildah" --runroot "$runroot" --storage-driver overlay --storage-opt overlay.skip_mount_home=true)
log() { echo "images: $*" >&2; }
for tool in buildah mmdebstrap go; do
  command -v "$tool" >/dev/null || { echo "images: needs $tool (bash scripts/setup.sh installs it)" >&2; exit 1; }
done

# Working containers of an interrupted run would stay mounted: this storage is ours alone.
"${B[@]}" rm --all >/dev/null 2>&1 || true

image_id() { "${B[@]}" inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null || true; }

# Exports an image to $cache/<file>-<id>.tar unless that archive exists; prints the tar's path.
export_image() {
  local ref="$1" file="$2" id tar
  id="$(image_id "$ref")"
  tar="$cache/$file-${id:0:12}.tar"
  if [[ ! -s "$tar" ]]; then
    rm -f "$cache/$file"-*.tar
    "${B[@]}" push --quiet "$ref" "docker-archive:$tar.tmp:$ref" >/dev/null
    mv "$tar.tmp" "$tar"
  fi
  echo "$tar"
}

# --- base OS rootfs (minutes, once) ---
rootfs="$cache/bookworm-minbase.tar"
if [[ ! -f "$rootfs" ]]; then
  rm -rf "$rootfs"
  log "making a Debian bookworm minbase rootfs with mmdebstrap (once, a few minutes)..."
  mmdebstrap --quiet --variant=minbase --components=main \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    bookworm "$cache/bookworm-minbase.partial.tar" http://deb.debian.org/debian >&2
  mv "$cache/bookworm-minbase.partial.tar" "$rootfs"
fi

# --- node:20-bookworm-slim, locally ---
node_bin="$(command -v node)"
node_prefix="$(cd "$(dirname "$(readlink -f "$node_bin")")/.." && pwd)"
ca_bundle=/etc/ssl/certs/ca-certificates.crt
base_ref=docker.io/library/node:20-bookworm-slim
base_key="$( { sha256sum "$rootfs" | cut -c1-16; "$node_bin" --version; sha256sum "$ca_bundle"; echo v1; } | sha256sum | cut -c1-16)"
have_key="$("${B[@]}" inspect --type image --format '{{index .OCIv1.Config.Labels "ironlb.base-key"}}' "$base_ref" 2>/dev/null || true)"
if [[ "$have_key" != "$base_key" ]]; then
  log "making $base_ref from the rootfs and Node $("$node_bin" --version)..."
  stage="$(mktemp -d)"
  trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage/usr/local/bin" "$stage/usr/local/include" "$stage/usr/local/lib/node_modules" "$stage/etc/ssl/certs"
  cp "$node_bin" "$stage/usr/local/bin/node"
  # The official image keeps Node's headers here: node-gyp builds the addon without a download.
  cp -r "$node_prefix/include/node" "$stage/usr/local/include/node"
  cp -r "$node_prefix/lib/node_modules/npm" "$stage/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$stage/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$stage/usr/local/bin/npx"
  cp "$ca_bundle" "$stage/etc/ssl/certs/ca-certificates.crt"
  tar -C "$stage" -cf "$stage.tar" .
  ctr="$("${B[@]}" from --quiet scratch)"
  "${B[@]}" add --quiet "$ctr" "$rootfs" / >/dev/null
  "${B[@]}" add --quiet "$ctr" "$stage.tar" / >/dev/null
  rm -rf "$stage" "$stage.tar"
  trap - EXIT
  "${B[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_EXTRA_CA_CERTS="$ca_bundle" --env NODE_VERSION="$("$node_bin" --version | tr -d v)" \
    --label ironlb.base-key="$base_key" --cmd node "$ctr"
  "${B[@]}" commit --quiet --rm "$ctr" "$base_ref" >/dev/null
fi

# --- static Go images: pause (sandbox) and echo (backend) ---
gobin="$cache/gobin"
mkdir -p "$gobin"
for prog in pause echo; do
  ref="localhost/ironlb-$prog:1"
  key="$(cat "$here/gomod/go.mod" "$here/gomod/cmd/$prog/main.go" | sha256sum | cut -c1-16)"
  if [[ "$(image_id "$ref")" == "" || "$("${B[@]}" inspect --type image --format '{{index .OCIv1.Config.Labels "ironlb.src"}}' "$ref" 2>/dev/null)" != "$key" ]]; then
    log "building $ref..."
    (cd "$here/gomod" && go build -trimpath -ldflags='-s -w' -o "$gobin/$prog" "./cmd/$prog")
    ctr="$("${B[@]}" from --quiet scratch)"
    "${B[@]}" copy --quiet "$ctr" "$gobin/$prog" "/$prog" >/dev/null
    "${B[@]}" config --entrypoint "[\"/$prog\"]" --label ironlb.src="$key" "$ctr"
    "${B[@]}" commit --quiet --rm "$ctr" "$ref" >/dev/null
  fi
done

# --- ironlb:0.1.0 from the Dockerfile as written ---
# IRONLB_IMAGE_CONTEXT: build another checkout (e.g. a clean `git archive` while the tree is in flux).
context="${IRONLB_IMAGE_CONTEXT:-$root}"
log "building ironlb:0.1.0 from the Dockerfile (cached layers are reused)..."
start=$(date +%s)
quiet=(--quiet); [[ -n "${IRONLB_IMAGES_VERBOSE:-}" ]] && quiet=()
"${B[@]}" bud "${quiet[@]}" --layers --force-rm --pull=never --network host --isolation chroot \
  -t ironlb:0.1.0 -f "$context/Dockerfile" "$context" >&2
log "ironlb:0.1.0 built in $(( $(date +%s) - start )) s"

# Every source change leaves its build-stage layers behind as cache: past a bound, drop the
# untagged ones (the next build then reruns its apt-get and npm ci steps once).
if (( $(du -sm "$cache/buildah" | cut -f1) > ${IRONLB_IMAGES_CACHE_MB:-8000} )); then
  log "buildah cache over ${IRONLB_IMAGES_CACHE_MB:-8000} MB: pruning untagged layers"
  "${B[@]}" rmi --prune >/dev/null 2>&1 || true
fi

ironlb_tar="$(export_image ironlb:0.1.0 ironlb)"
pause_tar="$(export_image localhost/ironlb-pause:1 pause)"
echo_tar="$(export_image localhost/ironlb-echo:1 echo)"
printf '{"ironlb":"%s","pause":"%s","echo":"%s","ironlbBytes":%s}\n' "$ironlb_tar" "$pause_tar" "$echo_tar" "$(stat -c %s "$ironlb_tar")"
