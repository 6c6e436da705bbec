#!/usr/bin/env bash
# Makes the base images of the Aurigraph images from Debian 13 packages, with no container registry:
#   aurigraph/debian:trixie          debootstrap --variant=minbase, imported (used to make the two below)
#   aurigraph/builder:trixie-jdk25   + a JDK and Maven                        (docker/bases/Dockerfile.builder)
#   aurigraph/runtime:trixie         distroless-style, no shell, user 10001   (docker/bases/Dockerfile.runtime)
# The package versions that went in are compared with docker/bases/packages.lock: a Debian archive that
# has moved on stops the build (AURIGRAPH_BASES_UPDATE_LOCK=1 accepts the new versions and rewrites the
# lock). Results are cached under ~/.cache/aurigraph-infra/bases/<key>, keyed by this directory's files.
#
# Environment: DEBIAN_MIRROR (default: the host's apt source, else Debian's main mirror; a snapshot archive
# URL pins a date for online users), AURIGRAPH_CACHE (cache root), DOCKER (client, default /usr/bin/docker).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=docker/bases/versions.env
. "$here/versions.env"
docker_cli="${DOCKER:-/usr/bin/docker}"
cache_root="${AURIGRAPH_CACHE:-$HOME/.cache/aurigraph-infra}/bases"
images=("$DEBIAN_IMAGE" "$BUILDER_IMAGE" "$RUNTIME_IMAGE")

fail() { echo "bases: $*" >&2; exit 1; }

"$docker_cli" info >/dev/null 2>&1 || fail "no Docker engine answers ($docker_cli info failed); start dockerd first"

# Extra certificate authorities of this host (see Dockerfile.builder); AURIGRAPH_EXTRA_CA_DIR overrides.
extra_ca_dir="${AURIGRAPH_EXTRA_CA_DIR:-/usr/local/share/ca-certificates}"
key="$(cat "$here/build.sh" "$here/versions.env" "$here/Dockerfile.builder" "$here/Dockerfile.runtime" \
        "$here/packages.lock" "$extra_ca_dir"/*.crt 2>/dev/null | sha256sum | cut -c1-16)"
cache="$cache_root/$key"

present() {
    for image in "${images[@]}"; do
        [ "$("$docker_cli" image inspect --format '{{index .Config.Labels "io.aurigraph.bases.key"}}' "$image" 2>/dev/null)" = "$key" ] \
            || return 1
    done
}

if present; then
    echo "bases: ${images[*]} are current ($key)"
    exit 0
fi
if [ -f "$cache/images.tar" ]; then
    started=$(date +%s)
    "$docker_cli" load --quiet --input "$cache/images.tar" >/dev/null
    present || fail "the cached $cache/images.tar does not hold the expected images; remove it and rerun"
    echo "bases: loaded from $cache in $(( $(date +%s) - started )) s"
    exit 0
fi

mirror="${DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
    mirror="$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)"
    mirror="${mirror:-http://deb.debian.org/debian}"
fi
command -v debootstrap >/dev/null || fail "debootstrap is missing (apt-get install -y debootstrap)"

started=$(date +%s)
work="$(mktemp -d /var/tmp/aurigraph-bases.XXXXXX)"
trap 'rm -rf "$work"' EXIT
echo "bases: debootstrap $DEBIAN_SUITE (minbase) from the configured Debian mirror"
debootstrap --variant=minbase "$DEBIAN_SUITE" "$work/rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap failed (log above)"; }
printf 'deb %s %s main\n' "$mirror" "$DEBIAN_SUITE" > "$work/rootfs/etc/apt/sources.list"
rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/log/"*
# Fixed timestamps: the imported layer depends only on the files' contents.
find "$work/rootfs" -newermt "@$SOURCE_DATE_EPOCH" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +
tar --numeric-owner --sort=name -C "$work/rootfs" -c . \
    | "$docker_cli" import --change "LABEL io.aurigraph.bases.key=$key" --change 'CMD ["/bin/bash"]' - "$DEBIAN_IMAGE" >/dev/null

mkdir -p "$work/context/extra-ca"
cp "$here/Dockerfile.builder" "$here/Dockerfile.runtime" "$work/context/"
cp "$extra_ca_dir"/*.crt "$work/context/extra-ca/" 2>/dev/null || true
build() {
    DOCKER_BUILDKIT=1 "$docker_cli" build --quiet --label "io.aurigraph.bases.key=$key" \
        --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" --build-arg "JDK_PACKAGE=$JDK_PACKAGE" \
        -f "$work/context/$1" -t "$2" "$work/context" >/dev/null
}
build Dockerfile.builder "$BUILDER_IMAGE"
build Dockerfile.runtime "$RUNTIME_IMAGE"

# What went in, against the lock.
{
    "$docker_cli" run --rm --entrypoint dpkg-query "$BUILDER_IMAGE" -W -f 'builder ${Package} ${Version}\n'
    "$docker_cli" create --name "aurigraph-bases-$key" "$RUNTIME_IMAGE" /none >/dev/null
    "$docker_cli" cp "aurigraph-bases-$key:/usr/share/aurigraph-base-packages" - | tar -xO | sed 's/^/runtime /'
    "$docker_cli" rm "aurigraph-bases-$key" >/dev/null
} | sort > "$work/packages.lock"
if ! diff -u "$here/packages.lock" "$work/packages.lock" > "$work/lock.diff" 2>&1; then
    if [ "${AURIGRAPH_BASES_UPDATE_LOCK:-}" = 1 ]; then
        cp "$work/packages.lock" "$here/packages.lock"
        echo "bases: packages.lock rewritten; commit it (the cache key changes with it)"
        key_changed=1
    else
        head -40 "$work/lock.diff" >&2
        # Leave nothing behind that a later run could take for current bases.
        "$docker_cli" rmi "${images[@]}" >/dev/null 2>&1 || true
        fail "the Debian archive serves other package versions than docker/bases/packages.lock (diff above);" \
             "point DEBIAN_MIRROR at a snapshot of the lock's date, or accept them with AURIGRAPH_BASES_UPDATE_LOCK=1"
    fi
fi

if [ -z "${key_changed:-}" ]; then
    mkdir -p "$cache"
    "$docker_cli" save "${images[@]}" > "$cache/images.tar.part"
    mv "$cache/images.tar.part" "$cache/images.tar"
    # One entry is enough (1.5 GB each, mostly the JDK's debug symbols in the builder): drop older keys.
    find "$cache_root" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +
fi
for image in "${images[@]}"; do
    printf 'bases: %-32s %s MB\n' "$image" \
        "$(( $("$docker_cli" image inspect --format '{{.Size}}' "$image") / 1000000 ))"
done
echo "bases: built in $(( $(date +%s) - started )) s"
