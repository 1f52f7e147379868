#!/usr/bin/env bash
# Sets up this machine for ironlb's demo and tests (as root, Debian/Ubuntu): the network-lab
# tools, openssl, a C toolchain for the layer2 addon, the test control plane and cluster (built from
# Go modules, cached under ~/.cache/ironlb), containerd/runc/CNI/buildah for the test cluster, its
# images (cached), npm dependencies and the build. Safe to run again: every step skips what is done.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive PATH="/usr/local/go/bin:$PATH" GOTOOLCHAIN=local
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  iproute2 iputils-ping iputils-arping ndisc6 curl openssl ca-certificates tcpdump make g++ python3 \
  containerd runc containernetworking-plugins iptables conntrack buildah mmdebstrap >/dev/null
bash test/controlplane/build.sh cluster >/dev/null
bash test/cluster/build-helm.sh >/dev/null
if [[ -f test/interop/build-gopeer.sh ]]; then bash test/interop/build-gopeer.sh >/dev/null; fi
npm ci --no-audit --no-fund
npm run build
bash test/cluster/images.sh >/dev/null
