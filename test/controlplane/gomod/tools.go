//go:build tools

// Package tools pins the binaries that the test harness builds from one module graph:
// kube-apiserver and etcd for the control plane (../build.sh), and with `build.sh cluster`
// kube-controller-manager, kube-scheduler, kubelet, kube-proxy and kubectl for test/cluster.
// Nothing here is compiled into ironlb.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
