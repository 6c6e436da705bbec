#!/usr/bin/env bash
# Makes the images of what the kind cluster runs for monitoring, offline (docs/kind.md): what kube-prometheus-stack
# would install (its chart repository and image registries cannot be reached here), which tools/cluster.py loads
# into the nodes and applies at `make k8s-up`.
#
#   Go modules (modules/*/go.mod, pinned with go.sum): the Prometheus Operator and its config reloader (the release
#     whose CRDs tools/crds.py reads from the same module), kube-state-metrics, metrics-server.
#   Debian 13: Prometheus itself (versions.env).
#
# The programs are cached under ${AURIGRAPH_CACHE:-~/.cache/aurigraph-infra}/kind-monitoring/<key> (programs.sh,
# its key hashes that script, the modules and the Go version); the images are rebuilt when their inputs change
# (they carry their key as a label). Writes .tools/kind/monitoring-images.json: each program's image reference and
# version, what tools/cluster.py deploys. `build.sh --programs-only` makes only the programs' entry (no Docker).
# Environment: DOCKER (client, default /usr/bin/docker), AURIGRAPH_CACHE.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
# shellcheck source=../versions.env
. "$here/../versions.env"
# shellcheck source=../../cache.sh
. "$root/tools/cache.sh"
docker_cli=${DOCKER:-/usr/bin/docker}
listing=$root/.tools/kind/monitoring-images.json

say() { printf 'kind-monitoring: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }

command -v go >/dev/null || fail "Go is required and was not found on PATH"
programs_key=$( { cat "$here/programs.sh"; find "$here/modules" -type f | LC_ALL=C sort | xargs cat;
  go env GOVERSION; } | sha256sum | cut -c1-16)
# Once: a second run (CI starts one early in the background, `--programs-only`) waits for the first.
cache_build kind-monitoring "$programs_key" "$here/programs.sh"
programs=$cache_entry
[ "${1:-}" = "--programs-only" ] && exit 0

"$docker_cli" info >/dev/null 2>&1 || fail "no Docker engine answers: make docker-engine first"
bases_key=$("$docker_cli" image inspect --format '{{index .Config.Labels "io.aurigraph.bases.key"}}' "$DEBIAN_IMAGE" \
  2>/dev/null) || fail "$DEBIAN_IMAGE is missing: make bases first"
key=$( { cat "$here/build.sh" "$here/Dockerfile" "$here/versions.env"; echo "$programs_key $bases_key"; } \
  | sha256sum | cut -c1-16)

# Image target -> release: the programs' (programs.sh lists them), then Prometheus. An image's tag is its release and
# this build's key, so that a rebuilt image is a changed pod spec: the cluster rolls it out.
declare -A versions
targets=()
while read -r program version; do versions[$program]=$version; targets+=("$program"); done < "$programs/bin/versions"
versions[prometheus]=$PROMETHEUS_VERSION
targets+=(prometheus)
reference() { printf '%s/%s:%s-%s' "$IMAGE_PREFIX" "$1" "${versions[$1]}" "${key:0:8}"; }

started=$(date +%s)
work=$(mktemp -d /var/tmp/aurigraph-kind-monitoring.XXXXXX)
trap 'rm -rf "$work"' EXIT
cache_install "$programs/bin" "$work/bin"
built=()
for target in "${targets[@]}"; do
  if ! "$docker_cli" image inspect "$(reference "$target")" >/dev/null 2>&1; then
    DOCKER_BUILDKIT=1 "$docker_cli" build --quiet --target "$target" \
      --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" --build-arg "RUNTIME_IMAGE=$RUNTIME_IMAGE" \
      -f "$here/Dockerfile" -t "$(reference "$target")" "$work" >/dev/null
    built+=("$target")
  fi
  # Older builds' tags go (the image stays while a cluster node holds it).
  "$docker_cli" images --format '{{.Repository}}:{{.Tag}}' "$IMAGE_PREFIX/$target" \
    | grep -vxF "$(reference "$target")" | xargs -r "$docker_cli" rmi >/dev/null 2>&1 || true
done
# Debian's package must hold the release the operator is told (it reports `2.53.3+ds1`, its upstream version).
reported=$("$docker_cli" run --rm "$(reference prometheus)" --version 2>&1 \
  | sed -n 's/^prometheus, version \([^ ]*\).*/\1/p')
[ "v${reported%%+*}" = "$PROMETHEUS_VERSION" ] \
  || fail "Debian's Prometheus is now '$reported', not $PROMETHEUS_VERSION (versions.env): update versions.env"

mkdir -p "$(dirname "$listing")"
{
  printf '{\n'
  for target in "${targets[@]}"; do
    separator=','; [ "$target" = "${targets[-1]}" ] && separator=''
    printf '  "%s": {"image": "%s", "version": "%s"}%s\n' "$target" "$(reference "$target")" "${versions[$target]}" \
      "$separator"
  done
  printf '}\n'
} > "$listing"
if [ "${#built[@]}" -eq 0 ]; then
  say "images current ($key)"
else
  say "built ${built[*]} in $(( $(date +%s) - started )) s ($key)"
fi
for target in "${targets[@]}"; do
  say "$(reference "$target")  $("$docker_cli" image inspect --format '{{.Size}}' "$(reference "$target")" \
    | awk '{printf "%.0f MB", $1 / 1e6}')"
done
