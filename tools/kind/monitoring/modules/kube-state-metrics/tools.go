//go:build tools

// Package tools pins kube-state-metrics for tools/kind/monitoring/build.sh.
package tools

import (
	_ "k8s.io/kube-state-metrics/v2"
)
