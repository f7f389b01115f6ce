#!/usr/bin/env bash
# Builds the test tools pinned in this folder's go.mod: the istiod reference (this module) and
# istioctl, both from the same istio.io/istio version, into $ISTIO_TOOLS_BIN (default:
# ~/.cache/skiff/istio-<version>). Go's module and build caches make a rebuild take seconds; a cold build
# takes about 15 minutes on 2 cores. Prints the directory holding both binaries.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v go >/dev/null 2>&1; then
  echo "istiod-reference: Go is needed to build the istiod reference and istioctl (test tooling only)" >&2
  exit 1
fi

istio_version="$(go list -m -f '{{.Version}}' istio.io/istio)"
bin="${ISTIO_TOOLS_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/skiff/istio-${istio_version}}"
mkdir -p "$bin"
# istioctl's client version names the pinned module (a plain build says "unknown").
version_flags="-X istio.io/istio/pkg/version.buildVersion=${istio_version} -X istio.io/istio/pkg/version.buildStatus=Clean"
echo "istiod-reference: building istio.io/istio ${istio_version} tools into ${bin}" >&2
go build -o "$bin/istiod-reference" .
go build -ldflags "$version_flags" -o "$bin/istioctl" istio.io/istio/istioctl/cmd/istioctl
echo "$bin"
