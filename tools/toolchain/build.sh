#!/usr/bin/env bash
# Builds the Pulumi toolchain from Go modules (no download host other than the Go module proxy) and
# installs it into the project's .tools/:
#   .tools/bin/pulumi                          the CLI
#   .tools/bin/pulumi-language-python          the Python language host, with its -exec script beside it
#   .tools/bin/pulumi-resource-pulumi-python   the plugin behind Python dynamic providers
#   .tools/bin/buildkitd, buildctl             the project's BuildKit daemon and its client (images are built
#                                              by it: tools/buildkitd.sh), and docker-buildx, the client that
#                                              registers it as the builder `aurigraph` and builds with it
#   .tools/pulumi-home/plugins/...             the kubernetes and docker-build providers, at the exact
#                                              versions the Python SDKs in requirements.txt ask for
# Builds are cached under ${AURIGRAPH_CACHE:-~/.cache/aurigraph-infra}/toolchain/<key>, the key being a hash
# of every input (this script, versions.env, the tools modules, the Go version), so a second run only links.
# docs/toolchain.md explains every module and version.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

export GOSUMDB=off          # the checksum database is not reachable; the committed go.sum files are the record
export GOFLAGS=-mod=readonly # a build never edits the committed go.mod/go.sum
export GOTOOLCHAIN=local CGO_ENABLED=0

say() { printf 'toolchain: %s\n' "$*" >&2; }
command -v go >/dev/null || { say "Go is required to build the Pulumi toolchain and was not found on PATH"; exit 1; }

key=$( { cat "$here/build.sh" "$here/versions.env" "$here"/*/go.mod "$here"/*/go.sum; go env GOVERSION; } \
  | sha256sum | cut -c1-16)
cache=${AURIGRAPH_CACHE:-$HOME/.cache/aurigraph-infra}/toolchain/$key
tools=$root/.tools
if [ "$(cat "$tools/key" 2>/dev/null)" = "$key" ] && [ -x "$tools/bin/pulumi" ]; then
  say "up to date in $tools"
  exit 0
fi

module_version() { (cd "$here/$1" && go list -m -f '{{.Version}}' "$2"); }
json_dir() { sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'; }
module_dir() { (cd "$here/$1" && go mod download -json "$2" | json_dir); }

build_tool() { # dir package output [ldflags...]
  local dir=$1 pkg=$2 out=$3; shift 3
  (cd "$here/$dir" && go build -trimpath -tags osusergo,grpcnotrace -ldflags "-s -w $*" -o "$out" "$pkg")
}

build_all() {
  local out=$1 work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  mkdir -p "$out/bin"

  local cli_version sdk_dir
  cli_version=$(module_version pulumi-cli github.com/pulumi/pulumi/pkg/v3)
  say "building pulumi $cli_version"
  build_tool pulumi-cli github.com/pulumi/pulumi/pkg/v3/cmd/pulumi "$out/bin/pulumi" \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$cli_version"

  say "building pulumi-language-python (this project's host, on sdk $(module_version language-python github.com/pulumi/pulumi/sdk/v3))"
  build_tool language-python . "$out/bin/pulumi-language-python" \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$cli_version"

  # The exec script and the dynamic-provider plugin are scripts shipped in the sdk module of the CLI's
  # release; module zips drop file modes, hence the chmod.
  sdk_dir=$(module_dir pulumi-cli github.com/pulumi/pulumi/sdk/v3)
  install -m 0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$out/bin/"
  install -m 0755 "$sdk_dir/python/dist/pulumi-resource-pulumi-python" "$out/bin/"

  say "building pulumi-resource-docker-build $DOCKER_BUILD_VERSION"
  build_tool docker-build github.com/pulumi/pulumi-docker-build/provider/cmd/pulumi-resource-docker-build \
    "$out/bin/pulumi-resource-docker-build" \
    "-X github.com/pulumi/pulumi-docker-build/provider.Version=$DOCKER_BUILD_VERSION"

  # BuildKit and buildx at the versions the docker-build provider itself embeds (buildkit/go.mod).
  local buildkit_version buildx_version
  buildkit_version=$(module_version buildkit github.com/moby/buildkit)
  buildx_version=$(module_version buildkit github.com/docker/buildx)
  say "building buildkitd and buildctl $buildkit_version, docker-buildx $buildx_version"
  build_tool buildkit github.com/moby/buildkit/cmd/buildkitd "$out/bin/buildkitd" \
    "-X github.com/moby/buildkit/version.Version=$buildkit_version"
  build_tool buildkit github.com/moby/buildkit/cmd/buildctl "$out/bin/buildctl" \
    "-X github.com/moby/buildkit/version.Version=$buildkit_version"
  build_tool buildkit github.com/docker/buildx/cmd/buildx "$out/bin/docker-buildx" \
    "-X github.com/docker/buildx/version.Version=$buildx_version"

  local kubeconform_version kube_score_version
  kubeconform_version=$(module_version checkers github.com/yannh/kubeconform)
  kube_score_version=$(module_version checkers github.com/zegl/kube-score)
  say "building kubeconform $kubeconform_version and kube-score $kube_score_version"
  build_tool checkers github.com/yannh/kubeconform/cmd/kubeconform "$out/bin/kubeconform" \
    "-X main.version=$kubeconform_version"
  build_tool checkers github.com/zegl/kube-score/cmd/kube-score "$out/bin/kube-score" \
    "-X main.version=$kube_score_version"

  say "building pulumi-resource-kubernetes $KUBERNETES_PROVIDER_VERSION"
  local src=$work/kubernetes download
  # Downloaded outside any module, so no go.sum vouches for it: compare its hash with the recorded one.
  download=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json \
    "$KUBERNETES_PROVIDER_MODULE@$KUBERNETES_PROVIDER_PSEUDO_VERSION")
  grep -q "\"Sum\": \"$KUBERNETES_PROVIDER_MODULE_SUM\"" <<<"$download" || {
    say "the kubernetes provider module does not have the recorded hash $KUBERNETES_PROVIDER_MODULE_SUM:"
    say "$download"; return 1; }
  cp -r "$(json_dir <<<"$download")" "$src"
  chmod -R u+w "$src"
  # The published go.mod points the sdk at ../sdk, a directory outside the module zip; ours requires the
  # released sdk instead (see versions.env). The embedded schema files are generated, not committed upstream.
  cp "$here/kubernetes/go.mod" "$here/kubernetes/go.sum" "$src/"
  (cd "$src/cmd/pulumi-resource-kubernetes" && VERSION=$KUBERNETES_PROVIDER_VERSION go run generate.go >/dev/null)
  (cd "$src" && go build -trimpath -ldflags \
    "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$KUBERNETES_PROVIDER_VERSION" \
    -o "$out/bin/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes)
}

if [ ! -f "$cache/complete" ]; then
  started=$(date +%s)
  rm -rf "$cache.partial"
  build_all "$cache.partial"
  rm -rf "$cache" && mv "$cache.partial" "$cache"
  echo "$(( $(date +%s) - started ))" > "$cache/build-seconds"
  touch "$cache/complete"
  say "built in $(cat "$cache/build-seconds") s into $cache"
else
  say "using cached build $cache"
fi

# Install into the project. The CLI finds the language host and pulumi-resource-pulumi-python beside
# itself; providers go into PULUMI_HOME's plugin cache under the exact versions the Python SDKs request,
# so nothing is looked up on PATH and nothing is downloaded.
rm -rf "$tools/bin" "$tools/key"
mkdir -p "$tools/pulumi-home"
cp -a "$cache/bin" "$tools/bin"
export PULUMI_HOME=$tools/pulumi-home PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
"$tools/bin/pulumi" plugin install --reinstall resource kubernetes "$KUBERNETES_PROVIDER_VERSION" \
  --file "$tools/bin/pulumi-resource-kubernetes" >/dev/null
"$tools/bin/pulumi" plugin install --reinstall resource docker-build "$DOCKER_BUILD_VERSION" \
  --file "$tools/bin/pulumi-resource-docker-build" >/dev/null
rm "$tools/bin/pulumi-resource-kubernetes" "$tools/bin/pulumi-resource-docker-build"
echo "$key" > "$tools/key"
say "installed into $tools ($(du -sh "$tools" | cut -f1))"
