//go:build tools

// Package tools pins metrics-server for tools/kind/monitoring/build.sh.
package tools

import (
	_ "sigs.k8s.io/metrics-server/cmd/metrics-server"
)
