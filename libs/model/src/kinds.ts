/**
 * Which Kubernetes kinds Skiff reads, which real Istio kinds it knowingly ignores, and which it rejects.
 *
 * Versions: istiod serves ServiceEntry, WorkloadEntry, WorkloadGroup, DestinationRule, Sidecar, Gateway and VirtualService as
 * `networking.istio.io/v1`, `v1beta1` and `v1alpha3` with one schema
 * (`manifests/charts/base/files/crd-all.gen.yaml`); Skiff accepts exactly those three.
 */
import type { SkiffKind } from './objects.js';

export const NETWORKING_GROUP = 'networking.istio.io';

/** The `networking.istio.io` versions Skiff reads. */
export const SUPPORTED_VERSIONS: readonly string[] = ['v1', 'v1beta1', 'v1alpha3'];

export const SKIFF_KINDS: readonly SkiffKind[] = ['ServiceEntry', 'WorkloadEntry', 'WorkloadGroup', 'DestinationRule', 'Sidecar', 'Gateway', 'VirtualService'];

/**
 * Istio kinds that appear in real Istio YAML but configure routing, security or telemetry, which Skiff
 * does not serve (istio `pkg/config/schema/metadata.yaml`).
 */
const IGNORED_ISTIO_KINDS: Readonly<Record<string, readonly string[]>> = {
  'networking.istio.io': ['EnvoyFilter', 'ProxyConfig'],
  'security.istio.io': ['AuthorizationPolicy', 'PeerAuthentication', 'RequestAuthentication'],
  'telemetry.istio.io': ['Telemetry'],
  'extensions.istio.io': ['WasmPlugin', 'TrafficExtension'],
};

/** Kubernetes API versions look like `v1`, `v1beta1`, `v2alpha3`. */
const KUBERNETES_VERSION = /^v\d+((alpha|beta)\d+)?$/;

export type KindClass =
  | { readonly type: 'skiff'; readonly kind: SkiffKind }
  | { readonly type: 'ignored' }
  | { readonly type: 'unknown'; readonly reason: string };

function isSkiffKind(kind: string): kind is SkiffKind {
  return (SKIFF_KINDS as readonly string[]).includes(kind);
}

/** Classifies an `apiVersion` + `kind` pair. */
export function classifyKind(apiVersion: string, kind: string): KindClass {
  const slash = apiVersion.indexOf('/');
  const group = slash === -1 ? '' : apiVersion.slice(0, slash);
  const version = slash === -1 ? apiVersion : apiVersion.slice(slash + 1);
  if (group === NETWORKING_GROUP && isSkiffKind(kind)) {
    if (SUPPORTED_VERSIONS.includes(version)) return { type: 'skiff', kind };
    return {
      type: 'unknown',
      reason: `unsupported apiVersion "${apiVersion}" for ${kind}: Skiff reads ${SUPPORTED_VERSIONS.map((v) => `${NETWORKING_GROUP}/${v}`).join(', ')}`,
    };
  }
  const ignored = IGNORED_ISTIO_KINDS[group];
  if (ignored !== undefined && ignored.includes(kind) && KUBERNETES_VERSION.test(version)) return { type: 'ignored' };
  return {
    type: 'unknown',
    reason: `unknown kind "${kind}" (apiVersion "${apiVersion}"): Skiff reads ${NETWORKING_GROUP} ${SKIFF_KINDS.join(', ')}`,
  };
}
