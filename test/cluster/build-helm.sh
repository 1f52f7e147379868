#!/usr/bin/env bash
# Builds helm from its Go module (pinned in test/cluster/gomod with go.sum) into a cache keyed by
# its version and go.sum, so reruns skip it. Prints the binary's path on its last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mod="$here/gomod"
export PATH="/usr/local/go/bin:$PATH" GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
version="$(awk '$1=="require" && $2=="helm.sh/helm/v3"{print $3} $1=="helm.sh/helm/v3"{print $2}' "$mod/go.mod" | head -n1)"
sum_hash="$(sha256sum "$mod/go.sum" | cut -c1-12)"
out="${IRONLB_CACHE:-$HOME/.cache/ironlb}/helm/helm-${version}_${sum_hash}"
if [[ -x "$out/helm" ]]; then
  echo "helm cached: $out/helm" >&2
  echo "$out/helm"
  exit 0
fi
mkdir -p "$out"
start=$(date +%s)
echo "building helm ${version} (cold build, a few minutes)..." >&2
cd "$mod"
go build -trimpath -ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=${version}" -o "$out/helm.tmp" helm.sh/helm/v3/cmd/helm
mv "$out/helm.tmp" "$out/helm"
echo "helm built in $(( $(date +%s) - start )) s: $out/helm" >&2
echo "$out/helm"
