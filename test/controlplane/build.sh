#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver + etcd) from Go modules into a cache
# outside the work tree, keyed by the pinned versions and go.sum, so reruns skip it.
# Prints the directory holding the binaries on its last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mod="$here/gomod"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
k8s_version="$(awk '$1=="k8s.io/kubernetes"{print $2}' "$mod/go.mod" | head -n1)"
etcd_version="$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2}' "$mod/go.mod" | head -n1)"
sum_hash="$(sha256sum "$mod/go.sum" | cut -c1-12)"
cache_root="${IRONLB_CACHE:-$HOME/.cache/ironlb}"
out="$cache_root/controlplane/k8s-${k8s_version}_etcd-${etcd_version}_${sum_hash}"
if [[ -x "$out/kube-apiserver" && -x "$out/etcd" ]]; then
  echo "control plane cached: $out" >&2
  echo "$out"
  exit 0
fi
mkdir -p "$out.tmp"
start=$(date +%s)
cd "$mod"
# The -X flags make /version report the real release instead of v0.0.0-master.
minor="${k8s_version#v1.}"; minor="${minor%%.*}"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${k8s_version} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}"
echo "building kube-apiserver ${k8s_version} and etcd ${etcd_version} (cold build, several minutes)..." >&2
go build -trimpath -ldflags="$ldflags" -o "$out.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
go build -trimpath -ldflags="-s -w" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3
rm -rf "$out"
mv "$out.tmp" "$out"
echo "control plane built in $(( $(date +%s) - start )) s: $out" >&2
echo "$out"
