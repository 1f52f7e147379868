//go:build tools

// Package tools pins helm, which test/cluster builds from its Go module to install the chart in
// deploy/helm/ironlb on the test cluster. Nothing here is compiled into ironlb.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
