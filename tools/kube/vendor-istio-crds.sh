#!/usr/bin/env bash
# Copies Istio's ServiceEntry, WorkloadEntry, DestinationRule, Sidecar, Gateway and VirtualService CustomResourceDefinitions, verbatim, from the istio.io/api
# Go module into the chart (deploy/helm/skiff/files/istio-crds), with Istio's license. The chart installs
# them when crds.install=true, and the tests install them into the local control plane, so the API server
# checks objects against Istio's own OpenAPI schemas and CEL rules.
#
#   tools/kube/vendor-istio-crds.sh            # the pinned version
#   ISTIO_API_VERSION=v1.33.0 tools/kube/vendor-istio-crds.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

version="${ISTIO_API_VERSION:-v1.32.0}"
out=deploy/helm/skiff/files/istio-crds
module_dir="$(go mod download -json "istio.io/api@${version}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
source_file="$module_dir/kubernetes/customresourcedefinitions.gen.yaml"
[ -f "$source_file" ] || { echo "istio.io/api@${version} has no kubernetes/customresourcedefinitions.gen.yaml" >&2; exit 1; }

mkdir -p "$out"
for crd in serviceentries.networking.istio.io workloadentries.networking.istio.io destinationrules.networking.istio.io sidecars.networking.istio.io gateways.networking.istio.io virtualservices.networking.istio.io; do
  # The generated file is a stream of YAML documents separated by "---"; keep the one named $crd.
  awk -v name="  name: $crd" '
    /^---$/ { if (keep) printf "%s", doc; doc = ""; keep = 0; next }
    { doc = doc $0 "\n"; if ($0 == name) keep = 1 }
    END { if (keep) printf "%s", doc }
  ' "$source_file" | sed '/^# DO NOT EDIT/d' > "$out/$crd.yaml"
  grep -q "^kind: CustomResourceDefinition$" "$out/$crd.yaml" || { echo "$crd not found in $source_file" >&2; exit 1; }
done
cp "$module_dir/LICENSE" "$out/LICENSE"
chmod 644 "$out"/*
echo "vendored $(ls "$out" | tr '\n' ' ')from istio.io/api@${version}"
