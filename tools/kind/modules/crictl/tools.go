//go:build tools

// Package tools pins the programs tools/kind/build.sh builds from this module.
package tools

import (
	_ "sigs.k8s.io/cri-tools/cmd/crictl"
)
