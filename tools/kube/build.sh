#!/usr/bin/env bash
# Builds the pinned local Kubernetes control plane the tests run against (libs/kube-testenv):
#   etcd and etcdctl v3.7.3       (tools/kube/etcd/go.mod)
#   kube-apiserver and kubectl v1.37.2 (tools/kube/kubernetes/go.mod)
# into one directory, $SKIFF_KUBE_BIN_DIR or by default $(go env GOPATH)/bin/skiff-kube. A binary that
# is already there and reports the pinned version is kept; the rest are built with `go build`, which
# reuses Go's module and build caches (a cold build takes several minutes on two cores, a warm one
# seconds). Prints the directory on its last line.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

ETCD_VERSION=3.7.3
KUBERNETES_VERSION=v1.37.2

command -v go >/dev/null 2>&1 || { echo "tools/kube/build.sh: Go is needed to build etcd and kube-apiserver (https://go.dev/dl/)" >&2; exit 1; }
bin="${SKIFF_KUBE_BIN_DIR:-$(go env GOPATH | cut -d: -f1)/bin/skiff-kube}"
mkdir -p "$bin"

reports() { # binary, version-args, expected substring
  [ -x "$bin/$1" ] || return 1
  local output
  # Captured first: with pipefail, `grep -q` closing the pipe early would fail the check.
  output="$("$bin/$1" $2 2>&1)" || return 1
  grep -qF "$3" <<<"$output"
}

# -trimpath: no build machine paths in the binaries (and the same cache keys on every machine).
# etcd's main packages are module roots (go.etcd.io/etcd/server/v3, go.etcd.io/etcd/etcdctl/v3), so each
# binary is named explicitly.
build_etcd() { # binary, package, version-args, expected
  reports "$1" "$3" "$4" && return 0
  echo "kube tools: building $1 $ETCD_VERSION ($2) into $bin" >&2
  (cd "$here/etcd" && go build -trimpath -o "$bin/$1" "$2")
  reports "$1" "$3" "$4" || { echo "kube tools: $bin/$1 does not report $ETCD_VERSION" >&2; exit 1; }
}
build_etcd etcd go.etcd.io/etcd/server/v3 --version "etcd Version: $ETCD_VERSION"
build_etcd etcdctl go.etcd.io/etcd/etcdctl/v3 version "etcdctl version: $ETCD_VERSION"

kube_missing=()
reports kube-apiserver --version "Kubernetes $KUBERNETES_VERSION" || kube_missing+=(k8s.io/kubernetes/cmd/kube-apiserver)
reports kubectl "version --client" "Client Version: $KUBERNETES_VERSION" || kube_missing+=(k8s.io/kubernetes/cmd/kubectl)
if [ "${#kube_missing[@]}" -gt 0 ]; then
  echo "kube tools: building Kubernetes $KUBERNETES_VERSION (${kube_missing[*]}) into $bin" >&2
  minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
  # The version a Go build of k8s.io/kubernetes reports unless told (hack/lib/version.sh sets the same).
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  (cd "$here/kubernetes" && go build -trimpath -ldflags "$ldflags" -o "$bin/" "${kube_missing[@]}")
  reports kube-apiserver --version "Kubernetes $KUBERNETES_VERSION" || { echo "kube tools: $bin/kube-apiserver does not report $KUBERNETES_VERSION" >&2; exit 1; }
  reports kubectl "version --client" "Client Version: $KUBERNETES_VERSION" || { echo "kube tools: $bin/kubectl does not report $KUBERNETES_VERSION" >&2; exit 1; }
fi
echo "$bin"
