/**
 * One parity case end to end: istiod's answer (from the reference, or its committed golden) against
 * Skiff's answer for the same YAML and proxies, plus the objects each refused.
 */
import { meshSettingsFromMeshConfigYaml, type MeshSettings } from '@skiff/xds-translate';
import { compareProxy, isServiceCluster, type Difference } from './compare.js';
import { resourceName } from './resources.js';
import { multiAddressHosts, sharedAddressHosts, type ParityCase } from './corpus.js';
import { maskSharedAddressDomains, maskUnpredictableAddresses, rewriteRefusedAnswers } from './deviations.js';
import type { ReferenceCaseResult } from './reference.js';
import { runSkiff } from './skiff.js';

export interface CaseReport {
  readonly name: string;
  readonly differences: readonly Difference[];
  /** Resources compared over every proxy. */
  readonly compared: number;
  /** istiod clusters left out of the comparison (not service clusters), over every proxy. */
  readonly skipped: number;
  /** istiod answers rewritten because the proxy would refuse them (deviations.ts), as `proxy resource: deviation`. */
  readonly deviations: readonly string[];
}

/** Skiff against istiod on one case; the case's MeshConfig, if any, applies on top of `mesh` (istiod's flags). */
export async function compareCase(testCase: ParityCase, istiod: ReferenceCaseResult, mesh: MeshSettings): Promise<CaseReport> {
  if (istiod.error !== undefined && istiod.error !== '') {
    return { name: testCase.name, differences: [{ path: 'istiod', istiod: `failed: ${istiod.error}`, skiff: '' }], compared: 0, skipped: 0, deviations: [] };
  }
  const skiff = await runSkiff(testCase, testCase.meshConfig === undefined ? mesh : meshSettingsFromMeshConfigYaml(testCase.meshConfig, mesh).mesh);
  const differences: Difference[] = [];
  let compared = 0;
  let skipped = 0;
  const deviations: string[] = [];
  const unpredictable = multiAddressHosts(testCase.config);
  const shared = sharedAddressHosts(testCase.config);
  const masked = (resources: Parameters<typeof maskUnpredictableAddresses>[0]) => maskSharedAddressDomains(maskUnpredictableAddresses(resources, unpredictable), shared);

  // Objects refused: only kinds Skiff reads are comparable (it ignores the rest, as istiod's
  // ServiceEntry registry ignores what it does not use).
  const refusedBy = (list: readonly { kind: string; namespace: string; name: string }[]) =>
    new Set(list.filter((r) => skiff.kindsRead.has(r.kind)).map((r) => `${r.kind} ${r.namespace}/${r.name}`));
  const istiodRefused = refusedBy(istiod.rejected);
  const skiffRefused = refusedBy(skiff.rejected);
  for (const object of [...new Set([...istiodRefused, ...skiffRefused])].sort()) {
    if (istiodRefused.has(object) === skiffRefused.has(object)) continue;
    const reason = (list: readonly { kind: string; namespace: string; name: string; error: string }[]) =>
      list.find((r) => `${r.kind} ${r.namespace}/${r.name}` === object)?.error ?? 'accepted';
    differences.push({ path: `rejected[${object}]`, istiod: reason(istiod.rejected), skiff: reason(skiff.rejected) });
  }

  for (const proxy of testCase.proxies) {
    const theirs = istiod.proxies.find((p) => p.name === proxy.name);
    const ours = skiff.proxies.find((p) => p.name === proxy.name);
    if (theirs === undefined || ours === undefined) {
      differences.push({ path: `${proxy.name}`, istiod: theirs === undefined ? 'no answer' : 'answered', skiff: ours === undefined ? 'no answer' : 'answered' });
      continue;
    }
    const rewritten = rewriteRefusedAnswers(proxy, theirs);
    for (const a of rewritten.applied) deviations.push(`${proxy.name} ${a.resource}: ${a.deviation.id}`);
    const comparison = compareProxy(masked(rewritten.resources), masked(ours.resources));
    compared += comparison.compared;
    skipped += comparison.skipped.length;
    for (const d of comparison.differences) differences.push({ ...d, path: `${proxy.name} ${d.path}` });
  }
  return { name: testCase.name, differences, compared, skipped, deviations };
}

/** Whether istiod served any proxy of the case anything compared (a service cluster, an assignment, a listener or a route). */
export function served(istiod: ReferenceCaseResult): boolean {
  return istiod.proxies.some(
    (proxy) => proxy.clusters.some((cluster) => isServiceCluster(resourceName('clusters', cluster))) || proxy.endpoints.length + proxy.listeners.length + proxy.routes.length > 0,
  );
}
