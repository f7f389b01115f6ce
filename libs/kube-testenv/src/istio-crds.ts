/**
 * Istio's ServiceEntry and WorkloadEntry CRDs, as vendored from istio.io/api into the chart
 * (deploy/helm/skiff/files/istio-crds, see its README.md), installed into a test control plane.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeControlPlane } from './control-plane.js';

/** The repository root (this file is libs/kube-testenv/src/istio-crds.ts, or dist/ once built). */
const REPOSITORY_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const ISTIO_CRDS_DIRECTORY = join(REPOSITORY_ROOT, 'deploy', 'helm', 'skiff', 'files', 'istio-crds');
export const ISTIO_CRD_NAMES = [
  'serviceentries.networking.istio.io',
  'workloadentries.networking.istio.io',
  'destinationrules.networking.istio.io',
  'sidecars.networking.istio.io',
  'gateways.networking.istio.io',
  'virtualservices.networking.istio.io',
] as const;

/** The CRDs as one multi-document YAML stream. */
export function istioCrdManifests(): string {
  return ISTIO_CRD_NAMES.map((name) => readFileSync(join(ISTIO_CRDS_DIRECTORY, `${name}.yaml`), 'utf8')).join('---\n');
}

/** Applies Istio's CRDs and waits until the API server serves them. */
export async function installIstioCrds(plane: KubeControlPlane): Promise<void> {
  await plane.apply(istioCrdManifests());
  await plane.kubectlOrThrow(['wait', '--for=condition=Established', '--timeout=60s', ...ISTIO_CRD_NAMES.map((name) => `crd/${name}`)]);
}
