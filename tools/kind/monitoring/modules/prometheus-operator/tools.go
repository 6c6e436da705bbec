//go:build tools

// Package tools pins the Prometheus Operator's programs (the operator and its config reloader) for
// tools/kind/monitoring/build.sh.
package tools

import (
	_ "github.com/prometheus-operator/prometheus-operator/cmd/operator"
	_ "github.com/prometheus-operator/prometheus-operator/cmd/prometheus-config-reloader"
)
