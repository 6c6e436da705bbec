#!/usr/bin/env bash
# Makes sure the project's BuildKit daemon answers and is registered with buildx as the builder `aurigraph`.
#
# Every image of the program is built by it: `make images` through docker-buildx, and `pulumi up` through
# the docker-build provider, which needs a builder with a current BuildKit (the Docker engine's own is too
# old for several exports at once and for SOURCE_DATE_EPOCH) and cannot use the engine's `docker` driver.
# buildkitd, buildctl and docker-buildx come from the toolchain (tools/toolchain/build.sh), built from Go
# modules at the versions the docker-build provider embeds; runc comes from Debian (docker.io depends on it).
#
# The daemon runs as root with the OCI worker and the overlayfs snapshotter; its state (layers, the Maven
# cache mount) is under /var/lib/aurigraph-buildkit and its log in build/buildkit/buildkitd.log. Registries
# on loopback (REGISTRY_ADDR, the local stack's) are reached over plain HTTP, as the Docker engine does.
# Environment: BUILDKIT_ADDR (unix:///run/aurigraph-buildkit/buildkitd.sock), BUILDKIT_ROOT, REGISTRY_ADDR,
# BUILDKIT_KEEP_STORAGE_MB (6000: the cache is trimmed above it; the disk is shared, and a full build of
# the three images with the Maven cache mount needs about 3 GB).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools/bin"
addr="${BUILDKIT_ADDR:-unix:///run/aurigraph-buildkit/buildkitd.sock}"
state="${BUILDKIT_ROOT:-/var/lib/aurigraph-buildkit}"
registry="${REGISTRY_ADDR:-}"
builder=aurigraph

fail() { echo "buildkit: $*" >&2; exit 1; }
for tool in buildkitd buildctl docker-buildx; do
    [ -x "$tools/$tool" ] || fail "$tools/$tool is missing: build the toolchain first (make toolchain)"
done
answers() { "$tools/buildctl" --addr "$addr" debug workers >/dev/null 2>&1; }

register() {
    # buildx keeps builders in ~/.docker/buildx (BUILDX_CONFIG moves it); the docker-build provider reads
    # the same store. Re-registered when the address differs.
    if [ "$("$tools/docker-buildx" inspect "$builder" 2>/dev/null | sed -n 's/^Endpoint: *//p' | head -1)" != "$addr" ]; then
        "$tools/docker-buildx" rm "$builder" >/dev/null 2>&1 || true
        "$tools/docker-buildx" create --name "$builder" --driver remote "$addr" >/dev/null
        echo "buildkit: registered buildx builder '$builder' -> $addr"
    fi
}

if answers; then
    register
    exit 0
fi
[ "$(id -u)" = 0 ] || fail "no BuildKit daemon answers at $addr and starting one needs root"
case "$addr" in
    unix://*) mkdir -p "$(dirname "${addr#unix://}")" ;;
    *) fail "BUILDKIT_ADDR must be a unix:// socket to start a daemon here (got $addr)" ;;
esac
if ! command -v runc >/dev/null; then
    echo "buildkit: installing runc"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q runc >/dev/null
fi
mkdir -p "$root/build/buildkit" "$state"
cat > "$root/build/buildkit/buildkitd.toml" <<TOML
root = "$state"
[grpc]
  address = ["$addr"]
[worker.oci]
  enabled = true
  snapshotter = "overlayfs"
  gc = true
  # Explicit rules: the defaults keep cache mounts (the Maven repository) for 48 h and 512 MB at most, and
  # want a fifth of the disk free, which on a shared disk empties the cache after every build.
  [[worker.oci.gcpolicy]]
    filters = ["type==source.local", "type==exec.cachemount", "type==source.git.checkout"]
    keepDuration = "720h"
    maxUsedSpace = "4GB"
  [[worker.oci.gcpolicy]]
    all = true
    maxUsedSpace = "${BUILDKIT_KEEP_STORAGE_MB:-6000}MB"
[worker.containerd]
  enabled = false
TOML
if [ -n "$registry" ]; then
    printf '[registry."%s"]\n  http = true\n' "$registry" >> "$root/build/buildkit/buildkitd.toml"
fi
nohup "$tools/buildkitd" --config "$root/build/buildkit/buildkitd.toml" > "$root/build/buildkit/buildkitd.log" 2>&1 &
for _ in $(seq 1 60); do
    if answers; then
        echo "buildkit: buildkitd $("$tools/buildkitd" --version | awk '{print $3}') started at $addr (log: build/buildkit/buildkitd.log)"
        register
        exit 0
    fi
    sleep 0.5
done
tail -20 "$root/build/buildkit/buildkitd.log" >&2
fail "buildkitd did not answer at $addr within 30 s (log above)"
