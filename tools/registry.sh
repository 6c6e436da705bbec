#!/usr/bin/env bash
# Makes sure an OCI registry answers on loopback for the local stack: Debian's docker-registry (a real
# distribution registry), no authentication, storage under build/registry, at REGISTRY_ADDR (host:port; the
# Makefile reads it from the local stack's images.registry). The Docker engine and BuildKit (tools/buildkitd.sh)
# speak plain HTTP to it. With REGISTRY_UPSTREAM (http://host:port) it starts instead a pull-through mirror of that
# registry at REGISTRY_ADDR, with a cache of its own: how the nodes of a local kind cluster reach the loopback
# registry (tools/cluster.py), on their Docker network's gateway.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
addr="${REGISTRY_ADDR:?set REGISTRY_ADDR to host:port (make reads it from Pulumi.local.yaml)}"

answers() { curl -fs -o /dev/null --max-time 2 "http://$addr/v2/"; }

answers && exit 0
if ! command -v docker-registry >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "registry: docker-registry is missing; installing it needs root" >&2; exit 1; }
    echo "registry: installing docker-registry"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-registry >/dev/null
fi
name=${addr//[:.]/-}
data=$root/build/registry/data
[ -z "${REGISTRY_UPSTREAM:-}" ] || data=$root/build/registry/mirror-$name
mkdir -p "$data"
cat > "$root/build/registry/config-$name.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $data
  delete:
    enabled: true
http:
  addr: $addr
YAML
if [ -n "${REGISTRY_UPSTREAM:-}" ]; then
  printf 'proxy:\n  remoteurl: %s\n' "$REGISTRY_UPSTREAM" >> "$root/build/registry/config-$name.yml"
fi
nohup docker-registry serve "$root/build/registry/config-$name.yml" > "$root/build/registry/registry-$name.log" 2>&1 &
for _ in $(seq 1 30); do
    if answers; then
        echo "registry: serving on $addr (log: build/registry/registry-$name.log)"
        exit 0
    fi
    sleep 0.5
done
tail -20 "$root/build/registry/registry-$name.log" >&2
echo "registry: nothing answers on $addr after 15 s (log above)" >&2
exit 1
