#!/usr/bin/env bash
# Makes sure a Docker engine answers: starts Debian's dockerd (installing docker.io when it is missing) if
# none does. Its log goes to build/dockerd.log. The client used everywhere is /usr/bin/docker (Debian's),
# which builds with BuildKit. On a host whose capability bounding set is incomplete, the engine's default runtime
# is tools/runc-bounded (privileged containers, kind's nodes, would not start otherwise).
set -euo pipefail
docker_cli="${DOCKER:-/usr/bin/docker}"
root="$(cd "$(dirname "$0")/.." && pwd)"

if [ -x "$docker_cli" ] && "$docker_cli" info >/dev/null 2>&1 && command -v debootstrap >/dev/null; then
    exit 0
fi
missing=()
{ command -v dockerd >/dev/null && [ -x "$docker_cli" ]; } || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" = 0 ] || { echo "docker-engine: ${missing[*]} missing; installing needs root" >&2; exit 1; }
    echo "docker-engine: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi
if "$docker_cli" info >/dev/null 2>&1; then
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "docker-engine: no engine answers and starting dockerd needs root" >&2; exit 1; }
mkdir -p "$root/build"
# Where this process's capability bounding set is incomplete (these machines run without CAP_SYS_RESOURCE), this
# engine version would give privileged containers (kind's nodes) capabilities runc cannot apply: its default
# runtime is then tools/runc-bounded, installed outside the checkout so that it outlives it.
engine_args=()
bounding=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
full=$(( (1 << ($(cat /proc/sys/kernel/cap_last_cap) + 1)) - 1 ))
if [ "$(( 16#$bounding ))" -ne "$full" ]; then
    install -D -m 0755 "$root/tools/runc-bounded" /usr/local/lib/aurigraph/runc-bounded
    engine_args+=(--add-runtime aurigraph-runc=/usr/local/lib/aurigraph/runc-bounded --default-runtime aurigraph-runc)
    echo "docker-engine: capability bounding set $bounding is incomplete: default runtime tools/runc-bounded"
fi
nohup dockerd "${engine_args[@]}" > "$root/build/dockerd.log" 2>&1 &
for _ in $(seq 1 60); do
    if "$docker_cli" info >/dev/null 2>&1; then
        echo "docker-engine: dockerd started (log: build/dockerd.log)"
        exit 0
    fi
    sleep 1
done
tail -20 "$root/build/dockerd.log" >&2
echo "docker-engine: dockerd did not answer within 60 s (log above)" >&2
exit 1
