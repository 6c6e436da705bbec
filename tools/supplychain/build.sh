#!/usr/bin/env bash
# Builds the supply-chain tools of the pipeline's build stage from their Go modules, pinned in scan/go.mod (syft,
# which writes each image's SBOM, and grype, the vulnerability gate that reads it) and sign/go.mod (cosign, which
# signs each image and attests its SBOM), and vulndb (scan/cmd/vulndb: grype's database builder run on advisories
# kept here, for the gate where the published database cannot be downloaded), into .tools/supplychain/bin. Cached under
# ~/.cache/aurigraph-infra/supplychain/<key>, keyed by the modules and the Go version; never required.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$root/.tools/supplychain/bin
key=$( { cat "$here/scan/cmd/vulndb/main.go" "$here/scan/go.mod" "$here/scan/go.sum" "$here/sign/go.mod" "$here/sign/go.sum" "$0"; go env GOVERSION; } \
  | sha256sum | cut -c1-16)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/aurigraph-infra/supplychain/$key
tools=(syft grype vulndb cosign)

have() { for tool in "${tools[@]}"; do [ -x "$1/$tool" ] || return 1; done; }
if [ "$(cat "$out/.key" 2>/dev/null)" = "$key" ] && have "$out"; then
  exit 0
fi
mkdir -p "$out"
if have "$cache"; then
  echo "supplychain: using cached build $cache" >&2
else
  export GOSUMDB=off GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0
  started=$(date +%s)
  mkdir -p "$cache.partial"
  version() { (cd "$here/$1" && go list -m -f '{{.Version}}' "$2"); }
  syft=$(version scan github.com/anchore/syft)
  grype=$(version scan github.com/anchore/grype)
  cosign=$(version sign github.com/sigstore/cosign/v2)
  echo "supplychain: building syft $syft, grype $grype and cosign $cosign (a few minutes, once)" >&2
  (cd "$here/scan" && go build -trimpath -ldflags "-s -w -X main.version=$syft" -o "$cache.partial/syft" \
    github.com/anchore/syft/cmd/syft)
  (cd "$here/scan" && go build -trimpath -ldflags "-s -w -X main.version=$grype -X main.syftVersion=$syft" \
    -o "$cache.partial/grype" github.com/anchore/grype/cmd/grype)
  (cd "$here/scan" && go build -trimpath -ldflags "-s -w" -o "$cache.partial/vulndb" ./cmd/vulndb)
  (cd "$here/sign" && go build -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/release-utils/version.gitVersion=$cosign" \
    -o "$cache.partial/cosign" github.com/sigstore/cosign/v2/cmd/cosign)
  rm -rf "$cache" && mv "$cache.partial" "$cache"
  echo "supplychain: built in $(( $(date +%s) - started )) s" >&2
fi
for tool in "${tools[@]}"; do cp "$cache/$tool" "$out/$tool"; done
echo "$key" > "$out/.key"
