#!/usr/bin/env bash
# Builds the Go reference memberlist peer (test/interop/gopeer) from Go modules into a cache
# outside the work tree, keyed by go.sum and main.go, so reruns skip it. Prints the binary path
# on its last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/gopeer"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
hash="$(cat "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-12)"
cache_root="${IRONLB_CACHE:-$HOME/.cache/ironlb}"
out="$cache_root/gopeer-$hash"
if [[ -x "$out/gopeer" ]]; then
  echo "gopeer cached: $out/gopeer" >&2
  echo "$out/gopeer"
  exit 0
fi
mkdir -p "$out.tmp"
(cd "$src" && go build -trimpath -ldflags="-s -w" -o "$out.tmp/gopeer" .)
rm -rf "$out"
mv "$out.tmp" "$out"
echo "gopeer built: $out/gopeer" >&2
echo "$out/gopeer"
