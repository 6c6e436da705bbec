#!/usr/bin/env bash
# `make prune`: gives back the disk this project's runs leave behind on a shared machine, keeping what makes the
# next run fast. Removed: the Docker engine's images of the project's node repositories and the tests'
# throwaway ones (bases stay: docker/bases), dangling images and the engine's build cache; BuildKit's cache above
# its limit (tools/buildkitd.sh); the Go build cache (rebuilt on demand); older entries of
# ~/.cache/aurigraph-infra (tools/cache.sh keeps the newest two of each kind). Never stack state, never the kind
# cluster (make k8s-down), never the registry's storage of a checkout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=cache.sh
. "$root/tools/cache.sh"
docker_cli=${DOCKER:-/usr/bin/docker}
free() { df --output=avail -BM "$root" | tail -1 | tr -dc '0-9'; }
before=$(free)

if [ -x "$docker_cli" ] && "$docker_cli" info >/dev/null 2>&1; then
  "$docker_cli" images --format '{{.Repository}}:{{.Tag}} {{.ID}}' \
    | awk '$1 ~ /(^|\/)aurigraph(-test[a-z-]*)?\/(validator|business|slim)[:]/ { print $2 }' \
    | sort -u | xargs -r "$docker_cli" rmi -f >/dev/null 2>&1 || true
  "$docker_cli" image prune -f >/dev/null
  "$docker_cli" builder prune -af >/dev/null 2>&1 || true
fi
buildctl=("$root/.tools/bin/buildctl" --addr "${BUILDKIT_ADDR:-unix:///run/aurigraph-buildkit/buildkitd.sock}")
if [ -x "${buildctl[0]}" ] && "${buildctl[@]}" debug workers >/dev/null 2>&1; then
  "${buildctl[@]}" prune --keep-storage "${BUILDKIT_KEEP_STORAGE_MB:-6000}" >/dev/null
fi
command -v go >/dev/null && go clean -cache
for kind in toolchain supplychain kind-programs kind kind-monitoring; do
  [ -d "$(cache_root)/$kind" ] || continue
  # The newest entry stands for the one in use (an empty directory has none: grep then finds nothing).
  current=$(ls -1t "$(cache_root)/$kind" | { grep -v '\.partial$' || true; } | head -1)
  if [ -n "$current" ]; then cache_prune "$kind" "$current"; fi
done
echo "prune: $(( ($(free) - before) )) MB given back, $(( $(free) / 1024 )) GB free"
