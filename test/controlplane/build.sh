#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver + etcd) from Go modules into a cache
# outside the work tree, keyed by the pinned versions and go.sum, so reruns skip it.
# Prints the directory holding the binaries on its last line.
#
#   build.sh           kube-apiserver, etcd (integration and lab tests)
#   build.sh cluster   also kube-controller-manager, kube-scheduler, kubelet, kube-proxy and kubectl
#                      from the same k8s.io/kubernetes module graph (`npm run cluster`, test/cluster)
#
# Each binary is moved into the cache directory only once it is complete, so an interrupted build
# leaves nothing that looks cached, and a second `build.sh cluster` adds only what is missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mod="$here/gomod"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
k8s_version="$(awk '$1=="k8s.io/kubernetes"{print $2}' "$mod/go.mod" | head -n1)"
etcd_version="$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2}' "$mod/go.mod" | head -n1)"
sum_hash="$(sha256sum "$mod/go.sum" | cut -c1-12)"
cache_root="${IRONLB_CACHE:-$HOME/.cache/ironlb}"
out="$cache_root/controlplane/k8s-${k8s_version}_etcd-${etcd_version}_${sum_hash}"

k8s_cmds=(kube-apiserver)
if [[ "${1:-}" == "cluster" ]]; then
  k8s_cmds+=(kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
elif [[ -n "${1:-}" ]]; then
  echo "usage: build.sh [cluster]" >&2
  exit 2
fi
missing=()
for c in "${k8s_cmds[@]}"; do [[ -x "$out/$c" ]] || missing+=("$c"); done
if [[ ${#missing[@]} -eq 0 && -x "$out/etcd" ]]; then
  echo "control plane cached: $out" >&2
  echo "$out"
  exit 0
fi
mkdir -p "$out"
tmp="$(mktemp -d "$out.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
cd "$mod"
# The -X flags make /version report the real release instead of v0.0.0-master.
minor="${k8s_version#v1.}"; minor="${minor%%.*}"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${k8s_version} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}"
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "building ${missing[*]} ${k8s_version} (cold build, several minutes each)..." >&2
  # One `go build` for all of them: shared packages compile once, links run in parallel.
  pkgs=(); for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  go build -trimpath -ldflags="$ldflags" -o "$tmp/" "${pkgs[@]}"
  for c in "${missing[@]}"; do mv "$tmp/$c" "$out/$c"; done
fi
if [[ ! -x "$out/etcd" ]]; then
  echo "building etcd ${etcd_version}..." >&2
  go build -trimpath -ldflags="-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
  mv "$tmp/etcd" "$out/etcd"
fi
echo "control plane built in $(( $(date +%s) - start )) s: $out" >&2
echo "$out"
