#!/usr/bin/env bash
# Builds actionlint (the workflow checker) from its Go module, pinned in this directory's go.mod, into
# .tools/workflow-lint/bin (make workflows-check). Separate from the Pulumi toolchain so that its cache key
# does not move when this tool does.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$root/.tools/workflow-lint/bin
key=$( { cat "$here/go.mod" "$here/go.sum"; go env GOVERSION; } | sha256sum | cut -c1-16)
if [ "$(cat "$out/.key" 2>/dev/null)" = "$key" ] && [ -x "$out/actionlint" ]; then
  exit 0
fi
export GOSUMDB=off GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0
version=$(cd "$here" && go list -m -f '{{.Version}}' github.com/rhysd/actionlint)
echo "workflow-lint: building actionlint $version" >&2
mkdir -p "$out"
(cd "$here" && go build -trimpath -ldflags "-s -w -X github.com/rhysd/actionlint.version=$version" \
  -o "$out/actionlint" github.com/rhysd/actionlint/cmd/actionlint)
echo "$key" > "$out/.key"
