#!/usr/bin/env bash
# Builds the monitoring programs of the kind cluster from their Go modules (modules/*/go.mod) into the directory
# given: the Prometheus Operator and its config reloader, kube-state-metrics and metrics-server. The long part of
# tools/kind/monitoring/build.sh, which caches the result by a key of this script, the modules and the Go version.
#
# Usage: tools/kind/monitoring/programs.sh OUT_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:?usage: programs.sh OUT_DIR}
mkdir -p "$bin"
say() { printf 'kind-monitoring: %s\n' "$*" >&2; }
command -v go >/dev/null || { say "Go is required and was not found on PATH"; exit 1; }

GOCACHE=$(mktemp -d /var/tmp/aurigraph-kind-monitoring-gocache.XXXXXX)
trap 'rm -rf "$GOCACHE"' EXIT
export GOCACHE GOSUMDB=off GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0
module_version() { (cd "$here/modules/$1" && go list -m -f '{{.Version}}' "$2"); }
build() { local module=$1; shift; (cd "$here/modules/$module" && go build -trimpath "$@"); }
# What `--version` prints and the operator's user agent: the Prometheus projects' version package.
version_flags() { printf -- '-s -w -X github.com/prometheus/common/version.Version=%s' "${1#v}"; }

operator=github.com/prometheus-operator/prometheus-operator
operator_version=$(module_version prometheus-operator "$operator")
say "building the Prometheus Operator $operator_version and its config reloader"
build prometheus-operator -ldflags "$(version_flags "$operator_version")" -o "$bin/" \
  "$operator/cmd/operator" "$operator/cmd/prometheus-config-reloader"

ksm=k8s.io/kube-state-metrics/v2
ksm_version=$(module_version kube-state-metrics "$ksm")
say "building kube-state-metrics $ksm_version"
build kube-state-metrics -ldflags "$(version_flags "$ksm_version")" -o "$bin/kube-state-metrics" "$ksm"

metrics_server=sigs.k8s.io/metrics-server
metrics_server_version=$(module_version metrics-server "$metrics_server")
say "building metrics-server $metrics_server_version"
build metrics-server -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=$metrics_server_version" \
  -o "$bin/metrics-server" "$metrics_server/cmd/metrics-server"

printf '%s\n' "prometheus-operator $operator_version" "prometheus-config-reloader $operator_version" \
  "kube-state-metrics $ksm_version" "metrics-server $metrics_server_version" > "$bin/versions"
