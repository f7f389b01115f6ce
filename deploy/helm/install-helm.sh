#!/usr/bin/env bash
# Makes helm v3 available for the chart tests (libs/chart-tests), which look for it on PATH and in
# $(go env GOPATH)/bin. Does nothing when a helm v3 is already in either place; otherwise builds the
# pinned release with the Go toolchain (cached in the Go module and build caches, so CI reruns are fast).
set -euo pipefail

HELM_MODULE_VERSION="${HELM_MODULE_VERSION:-v3.21.4}"

is_helm_v3() {
  [ -x "$1" ] && "$1" version --short 2>/dev/null | grep -q '^v3\.'
}

if command -v helm >/dev/null 2>&1 && is_helm_v3 "$(command -v helm)"; then
  echo "helm: $(command -v helm) ($(helm version --short))"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "helm v3 is missing and so is Go to build it; install Go, or put helm v3 on PATH" >&2
  exit 1
fi

gobin="$(go env GOPATH | cut -d: -f1)/bin"
if is_helm_v3 "$gobin/helm"; then
  echo "helm: $gobin/helm ($("$gobin/helm" version --short))"
  exit 0
fi

echo "helm: installing helm.sh/helm/v3/cmd/helm@${HELM_MODULE_VERSION} into $gobin"
GOBIN="$gobin" go install "helm.sh/helm/v3/cmd/helm@${HELM_MODULE_VERSION}"
is_helm_v3 "$gobin/helm" || { echo "helm: $gobin/helm does not report a v3 version" >&2; exit 1; }
echo "helm: $gobin/helm ($("$gobin/helm" version --short))"
