#!/usr/bin/env bash
# Makes the kind node image of the project's local Kubernetes clusters with no container registry, and the kind
# CLI and kubectl that drive it (into .tools/kind/bin). docs/kind.md tells where every piece comes from.
#
#   Go modules (modules/*/go.mod, pinned with go.sum): Kubernetes (kubelet, kubeadm, kubectl, the control plane,
#     kube-proxy) from k8s.io/kubernetes with its staging modules at their published versions; etcd; CoreDNS;
#     crictl; rancher's local-path provisioner; the kind CLI; aurigraph-kindnet, the pod network (ours: kind's
#     kindnetd cannot be fetched). pause is compiled from its C source in the Kubernetes module.
#   Debian 13 packages (tools/kind/packages.lock): systemd, containerd, runc and the CNI plugins, in a node base
#     made from the project's Debian base (docker/bases) and kind's node files (the kind module's images/base).
#   Images: each program on the project's runtime or Debian base, tagged as kubeadm and kind expect, imported
#     into the node's containerd (pinned) the way `kind build node-image` does, which itself would fetch them.
#
# Two caches under ${AURIGRAPH_CACHE:-~/.cache/aurigraph-infra}: kind-programs/<key> holds the programs
# (programs.sh, the long part: its key hashes that script, versions.env, the modules and the Go version), and
# kind/<key> the node image as a docker archive with the kind CLI and kubectl (its key hashes every input, the
# programs' key among them). A cached run only loads; changing an image or a manifest rebuilds only the images.
# `build.sh --programs-only` makes only the programs' entry (no Docker needed).
# Environment: DOCKER (client, default /usr/bin/docker), AURIGRAPH_CACHE, AURIGRAPH_KIND_UPDATE_LOCK=1 (accept
# other Debian package versions than packages.lock and rewrite it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
# shellcheck source=../cache.sh
. "$root/tools/cache.sh"
docker_cli=${DOCKER:-/usr/bin/docker}
out=$root/.tools/kind/bin

say() { printf 'kind-image: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }

command -v go >/dev/null || fail "Go is required and was not found on PATH"
programs_key=$( { cat "$here/programs.sh" "$here/versions.env"; find "$here/modules" -type f | LC_ALL=C sort \
  | xargs cat; go env GOVERSION; } | sha256sum | cut -c1-16)
programs=$(cache_root)/kind-programs/$programs_key

# The programs into their cache entry, once: a second run (CI starts one early in the background, `--programs-only`)
# waits for the first and then finds the entry.
build_programs() { cache_build kind-programs "$programs_key" "$here/programs.sh"; }
if [ "${1:-}" = "--programs-only" ]; then
  build_programs
  exit 0
fi

"$docker_cli" info >/dev/null 2>&1 || fail "no Docker engine answers: make docker-engine first"
bases_key=$("$docker_cli" image inspect --format '{{index .Config.Labels "io.aurigraph.bases.key"}}' "$DEBIAN_IMAGE" \
  2>/dev/null) || fail "$DEBIAN_IMAGE is missing: make bases first"

inputs_key() {
  { cat "$here/build.sh" "$here/versions.env" "$here/packages.lock" "$here"/images/Dockerfile.* \
      "$here"/manifests/*.in; echo "$programs_key $bases_key"; } | sha256sum | cut -c1-16
}
key=$(inputs_key)
cache=$(cache_root)/kind/$key

node_current() {
  [ "$("$docker_cli" image inspect --format '{{index .Config.Labels "io.aurigraph.kind.key"}}' "$NODE_IMAGE" \
      2>/dev/null)" = "$key" ]
}
install_tools() {
  cache_install "$cache/bin" "$out"
  echo "$key" > "$out/.key"
  cache_prune kind "$key"
}

if [ -f "$cache/complete" ]; then
  if node_current; then
    say "$NODE_IMAGE is current ($key)"
  else
    started=$(date +%s)
    "$docker_cli" load --quiet --input "$cache/node.tar" >/dev/null
    node_current || fail "the cached $cache/node.tar does not hold $NODE_IMAGE of key $key; remove it and rerun"
    say "loaded $NODE_IMAGE from $cache in $(( $(date +%s) - started )) s"
  fi
  install_tools
  exit 0
fi

started=$(date +%s)
partial=$cache.partial
work=$(mktemp -d /var/tmp/aurigraph-kind.XXXXXX)
builder=aurigraph-kind-build-$key
transient=()
cleanup() {
  "$docker_cli" rm -f "$builder" >/dev/null 2>&1 || true
  [ "${#transient[@]}" -eq 0 ] || "$docker_cli" rmi "${transient[@]}" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
rm -rf "$partial"
mkdir -p "$partial/bin" "$work/context/bin"
bin=$work/context/bin

# --- Programs ----------------------------------------------------------------------------------------------------
build_programs
cache_install "$programs/bin" "$bin"
module_dir() { (cd "$here/modules/$1" && GOFLAGS=-mod=readonly GOSUMDB=off GOTOOLCHAIN=local go mod download -json "$2" \
  | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'); }

# --- The node base: what a Debian archive that moved on would stop -------------------------------------------------
image() { # dockerfile tag [program]
  DOCKER_BUILDKIT=1 "$docker_cli" build --quiet --label "io.aurigraph.kind.key=$key" \
    --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" --build-arg "BASE_IMAGE=$RUNTIME_IMAGE" --build-arg "PROGRAM=${3:-}" \
    -f "$here/images/Dockerfile.$1" -t "$2" "$work/context" >/dev/null
  transient+=("$2")
}
say "making the node base (Debian packages, kind $KIND_VERSION's node files)"
cp -r "$(module_dir kind sigs.k8s.io/kind)/images/base/files" "$work/context/files"
chmod -R u+w "$work/context/files"
base=aurigraph/kind-node-base:$key
image node-base "$base"
"$docker_cli" run --rm --entrypoint cat "$base" /kind/packages | LC_ALL=C sort > "$work/packages.lock"
if ! diff -u "$here/packages.lock" "$work/packages.lock" > "$work/lock.diff"; then
  if [ "${AURIGRAPH_KIND_UPDATE_LOCK:-}" = 1 ]; then
    cp "$work/packages.lock" "$here/packages.lock"
    key=$(inputs_key)
    cache=$(cache_root)/kind/$key
    rm -rf "$cache.partial" && mv "$partial" "$cache.partial"
    partial=$cache.partial
    say "packages.lock rewritten (commit it); the cache key is now $key"
  else
    cat "$work/lock.diff" >&2
    fail "the Debian archive serves other versions than tools/kind/packages.lock (diff above); accept them with" \
         "AURIGRAPH_KIND_UPDATE_LOCK=1"
  fi
fi

# --- Images ---------------------------------------------------------------------------------------------------------
say "making the images kubeadm and the cluster's addons run"
for program in kube-apiserver kube-controller-manager kube-scheduler; do
  image binary "registry.k8s.io/$program:$KUBERNETES_VERSION" "$program"
done
image network "registry.k8s.io/kube-proxy:$KUBERNETES_VERSION" kube-proxy
image binary "registry.k8s.io/etcd:$ETCD_IMAGE_TAG" etcd
image coredns "registry.k8s.io/coredns/coredns:$COREDNS_IMAGE_TAG"
for version in $PAUSE_VERSIONS; do image pause "registry.k8s.io/pause:$version"; done
image network "$KINDNET_IMAGE" aurigraph-kindnet
image binary "$LOCAL_PATH_IMAGE" local-path-provisioner
# The provisioner's helper pods only run sh, mkdir and rm: the Debian base has them.
"$docker_cli" tag "$DEBIAN_IMAGE" "$LOCAL_PATH_HELPER_IMAGE"
transient+=("$LOCAL_PATH_HELPER_IMAGE")

# --- The node image, as kind's node-image builder assembles it -------------------------------------------------------
say "assembling $NODE_IMAGE"
"$docker_cli" rm -f "$builder" >/dev/null 2>&1 || true
"$docker_cli" run -d --name "$builder" --entrypoint sleep --security-opt seccomp=unconfined "$base" infinity >/dev/null
for program in kubelet kubeadm kubectl; do "$docker_cli" cp "$bin/$program" "$builder:/usr/bin/$program"; done
"$docker_cli" exec "$builder" sh -c "echo $KUBERNETES_VERSION > /kind/version && mkdir -p /kind/manifests"
for manifest in default-cni default-storage; do
  sed -e "s|@KINDNET_IMAGE@|$KINDNET_IMAGE|g" -e "s|@LOCAL_PATH_IMAGE@|$LOCAL_PATH_IMAGE|g" \
      -e "s|@LOCAL_PATH_HELPER_IMAGE@|$LOCAL_PATH_HELPER_IMAGE|g" "$here/manifests/$manifest.yaml.in" \
    > "$work/$manifest.yaml"
  "$docker_cli" cp "$work/$manifest.yaml" "$builder:/kind/manifests/$manifest.yaml"
done
"$docker_cli" exec "$builder" sh -c 'nohup containerd > /var/log/containerd-build.log 2>&1 &'
for _ in $(seq 1 60); do
  "$docker_cli" exec "$builder" ctr version >/dev/null 2>&1 && break
  sleep 0.5
done
"$docker_cli" exec "$builder" ctr version >/dev/null || fail "containerd did not start in the build container"
for tag in "${transient[@]}"; do
  [ "$tag" = "$base" ] && continue
  "$docker_cli" save "$tag" | "$docker_cli" exec -i "$builder" ctr -n k8s.io images import --no-unpack - >/dev/null
  # containerd names it as Docker would: a first part without a dot or colon is a Docker Hub path.
  reference=$tag
  case "${reference%%/*}" in *.*|*:*|localhost) ;; *) reference=docker.io/$reference ;; esac
  # Pinned: the kubelet's image garbage collection never removes them (nothing could pull them back).
  "$docker_cli" exec "$builder" ctr -n k8s.io images label "$reference" io.cri-containerd.pinned=pinned >/dev/null
done
"$docker_cli" exec "$builder" ctr -n k8s.io images ls -q | LC_ALL=C sort > "$work/imported"
say "imported $(wc -l < "$work/imported") images: $(tr '\n' ' ' < "$work/imported")"
# The build container's init is `sleep`, which reaps nothing: containerd stays a zombie, so only live states count.
"$docker_cli" exec "$builder" sh -c 'pkill -x containerd; while pgrep -x --runstates D,R,S,T containerd >/dev/null; do
  sleep 0.2; done'
"$docker_cli" commit --change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' \
  --change "LABEL io.aurigraph.kind.key=$key" "$builder" "$NODE_IMAGE" >/dev/null
"$docker_cli" rm -f "$builder" >/dev/null

"$docker_cli" save "$NODE_IMAGE" > "$partial/node.tar"
cp "$bin/kind" "$bin/kubectl" "$partial/bin/"
echo "$(( $(date +%s) - started ))" > "$partial/build-seconds"
rm -rf "$cache" && mv "$partial" "$cache"
touch "$cache/complete"
size=$("$docker_cli" image inspect --format '{{.Size}}' "$NODE_IMAGE")
say "built $NODE_IMAGE ($(( size / 1000000 )) MB) in $(cat "$cache/build-seconds") s into $cache"
install_tools
