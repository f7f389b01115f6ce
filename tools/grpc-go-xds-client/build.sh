#!/usr/bin/env bash
# Builds the grpc-go proxyless test client (this folder; test tooling only) into
# $SKIFF_GRPC_GO_CLIENT_DIR, by default ~/.cache/skiff/grpc-go-xds-client-<grpc version>, with the
# google.golang.org/grpc version istio.io/istio pins in tools/istiod-reference/go.mod (and the same
# versions of the modules both need), so Go's module and build caches are shared with that build.
# A binary already there that reports this folder's source hash is kept: a rebuild happens only when
# go.mod, go.sum or a .go file changed (and then takes seconds with a warm build cache, about a minute
# cold on two cores). Prints the binary's path on its last line.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v go >/dev/null 2>&1; then
  echo "grpc-go-xds-client: Go is needed to build the grpc-go test client (test tooling only)" >&2
  exit 1
fi

grpc_version="$(go list -m -f '{{.Version}}' google.golang.org/grpc)"
istio_grpc="$(cd ../istiod-reference && go list -m -f '{{.Version}}' google.golang.org/grpc)"
if [ "$grpc_version" != "$istio_grpc" ]; then
  echo "grpc-go-xds-client: go.mod pins google.golang.org/grpc $grpc_version but tools/istiod-reference uses $istio_grpc; pin the same version" >&2
  exit 1
fi

# The hash the tests compute too (libs/e2e-tests/src/grpc-go-client.ts): sha256 over go.mod, go.sum and
# the .go files in byte order of their names, each preceded by its name and a newline.
source_hash() {
  local file
  for file in $(LC_ALL=C ls go.mod go.sum *.go); do
    printf '%s\n' "$file"
    cat "$file"
  done | sha256sum | cut -c1-16
}
hash="$(source_hash)"

dir="${SKIFF_GRPC_GO_CLIENT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/skiff/grpc-go-xds-client-${grpc_version}}"
binary="$dir/grpc-go-xds-client"
expected="grpc-go-xds-client grpc-go ${grpc_version} source ${hash}"
reports() {
  [ -x "$binary" ] || return 1
  local output
  output="$("$binary" -version 2>&1)" || return 1
  [ "$output" = "$expected" ]
}

if ! reports; then
  mkdir -p "$dir"
  echo "grpc-go-xds-client: building with google.golang.org/grpc ${grpc_version} into ${dir}" >&2
  # -trimpath: no build machine paths in the binary, and the same cache keys on every machine.
  go build -trimpath -ldflags "-X main.sourceHash=${hash}" -o "$binary" .
  reports || { echo "grpc-go-xds-client: $binary does not report \"$expected\"" >&2; exit 1; }
fi
echo "$binary"
