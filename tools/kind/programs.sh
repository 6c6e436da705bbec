#!/usr/bin/env bash
# Builds the programs of the kind node image from their Go modules (modules/*/go.mod) into the directory given,
# with a Go build cache of its own that it removes after (a cold build of Kubernetes fills several GB). The long
# part of tools/kind/build.sh, which caches the result by a key of this script, versions.env, the modules and the
# Go version, so that a change to the images or manifests does not rebuild them.
#
#   Kubernetes (k8s.io/kubernetes and its staging modules at their published versions): kubelet, kubeadm, kubectl,
#     kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy; aurigraph-kindnet (the pod network);
#   etcd, CoreDNS, crictl, rancher's local-path provisioner, the kind CLI; pause, compiled from its C source in
#   the Kubernetes module.
#
# Usage: tools/kind/programs.sh OUT_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
bin=${1:?usage: programs.sh OUT_DIR}
mkdir -p "$bin"
say() { printf 'kind-image: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }
command -v go >/dev/null || fail "Go is required and was not found on PATH"
command -v gcc >/dev/null || fail "gcc is required (the pause program is C)"

GOCACHE=$(mktemp -d /var/tmp/aurigraph-kind-gocache.XXXXXX)
trap 'rm -rf "$GOCACHE"' EXIT
export GOCACHE GOSUMDB=off GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0
module_version() { (cd "$here/modules/$1" && go list -m -f '{{.Version}}' "$2"); }
module_dir() { (cd "$here/modules/$1" && go mod download -json "$2" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'); }
build() { local module=$1; shift; (cd "$here/modules/$module" && go build -trimpath "$@"); }

crictl_version=$(module_version crictl sigs.k8s.io/cri-tools)
say "building crictl $crictl_version"
build crictl -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$crictl_version" -o "$bin/crictl" \
  sigs.k8s.io/cri-tools/cmd/crictl

minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
k8s_flags="-s -w"
for package in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_flags+=" -X $package.gitVersion=$KUBERNETES_VERSION -X $package.gitMajor=1 -X $package.gitMinor=$minor"
  k8s_flags+=" -X $package.gitTreeState=clean"
done
[ "$(module_version kubernetes k8s.io/kubernetes)" = "$KUBERNETES_VERSION" ] \
  || fail "modules/kubernetes/go.mod does not require k8s.io/kubernetes $KUBERNETES_VERSION (versions.env)"
say "building Kubernetes $KUBERNETES_VERSION (kubelet, kubeadm, kubectl, kube-apiserver, kube-controller-manager," \
    "kube-scheduler, kube-proxy) and aurigraph-kindnet: the long part of a cold build"
build kubernetes -tags selinux,notest,grpcnotrace -ldflags "$k8s_flags" -o "$bin/" \
  k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kubectl \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy ./cmd/aurigraph-kindnet

etcd_version=$(module_version etcd go.etcd.io/etcd/server/v3)
[ "v${ETCD_IMAGE_TAG%-*}" = "$etcd_version" ] || fail "modules/etcd has etcd $etcd_version, versions.env $ETCD_IMAGE_TAG"
say "building etcd $etcd_version"
build etcd -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3

coredns_version=$(module_version coredns github.com/coredns/coredns)
[ "$coredns_version" = "$COREDNS_IMAGE_TAG" ] || fail "modules/coredns has CoreDNS $coredns_version, versions.env $COREDNS_IMAGE_TAG"
say "building CoreDNS $coredns_version"
build coredns -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$coredns_version" -o "$bin/coredns" \
  github.com/coredns/coredns

local_path_version=$(module_version local-path github.com/rancher/local-path-provisioner)
kind_version=$(module_version kind sigs.k8s.io/kind)
[ "$kind_version" = "$KIND_VERSION" ] || fail "modules/kind has kind $kind_version, versions.env $KIND_VERSION"
say "building local-path-provisioner $local_path_version and kind $kind_version"
build local-path -ldflags "-s -w -X main.VERSION=$local_path_version" -o "$bin/local-path-provisioner" \
  github.com/rancher/local-path-provisioner
build kind -ldflags "-s -w" -o "$bin/kind" sigs.k8s.io/kind

pause_version=${PAUSE_VERSIONS##* }
say "compiling pause $pause_version (static)"
gcc -Os -Wall -Werror -static -DVERSION="v$pause_version" -o "$bin/pause" \
  "$(module_dir kubernetes k8s.io/kubernetes)/build/pause/linux/pause.c"
strip "$bin/pause"
