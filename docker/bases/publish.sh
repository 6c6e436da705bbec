#!/usr/bin/env bash
# Publishes the builder and runtime bases (made by build.sh into the Docker engine) to a registry, so that
# BuildKit, which does not read the engine's images, can build FROM them: `publish.sh 127.0.0.1:5000` gives
# 127.0.0.1:5000/aurigraph/builder:trixie-jdk25 and 127.0.0.1:5000/aurigraph/runtime:trixie, the names the
# local stack's config gives as builderImage and runtimeImage. Layers the registry holds are not sent again.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=docker/bases/versions.env
. "$here/versions.env"
docker_cli="${DOCKER:-/usr/bin/docker}"
registry="${1:?usage: publish.sh REGISTRY_HOST:PORT}"

started=$(date +%s)
for image in "$BUILDER_IMAGE" "$RUNTIME_IMAGE"; do
    "$docker_cli" image inspect "$image" >/dev/null 2>&1 || { echo "bases: $image is missing: run docker/bases/build.sh" >&2; exit 1; }
    "$docker_cli" tag "$image" "$registry/$image"
    "$docker_cli" push --quiet "$registry/$image" >/dev/null \
        || { echo "bases: pushing $registry/$image failed (is a registry serving on $registry? make registry)" >&2; exit 1; }
done
echo "bases: published $BUILDER_IMAGE and $RUNTIME_IMAGE to $registry in $(( $(date +%s) - started )) s"
