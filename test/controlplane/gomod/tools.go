//go:build tools

// Package tools pins the control-plane binaries that the test harness builds:
// kube-apiserver from k8s.io/kubernetes and etcd from go.etcd.io/etcd/server/v3.
// Nothing here is compiled into ironlb; see ../build.sh.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
