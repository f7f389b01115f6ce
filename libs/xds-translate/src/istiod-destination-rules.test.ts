/**
 * DestinationRule translation against istiod itself: Istio's own YAML with DestinationRules
 * (libs/model/testdata/istio), translated with each host's rule, must give the clusters and
 * assignments the istiod reference served for that YAML (libs/istiod-parity/testdata/istiod/default,
 * recorded from istiod 1.30 by `tools/istiod-reference`). Every cluster of a host with a rule is
 * compared, for the sidecar and the proxyless gRPC proxies the reference asked as.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import { loadIstioConfig } from '@skiff/model';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MESH_SETTINGS, translateResultToJson, type TranslateOptions } from './index.js';
import { destinationRulesOf, loadCase } from './test-support/load-case.js';

const ISTIO_YAML = fileURLToPath(new URL('../../model/testdata/istio/', import.meta.url));
const ISTIOD_GOLDENS = fileURLToPath(new URL('../../istiod-parity/testdata/istiod/default/', import.meta.url));

const CASES = ['destination-rule-all', 'egress-rule-google-apis', 'external_services', 'se-example'];

interface ReferenceProxy {
  readonly name: string;
  readonly clusters: JsonObject[];
  readonly endpoints: JsonObject[];
}

function byName(resources: readonly JsonValue[], key: 'name' | 'clusterName'): Map<string, JsonObject> {
  return new Map(resources.map((resource) => [(resource as JsonObject)[key] as string, resource as JsonObject]));
}

/** `outbound|PORT|SUBSET|HOST` -> HOST. */
const hostOf = (clusterName: string): string => clusterName.split('|')[3] ?? '';

describe.each(CASES)('istiod reference: %s', (caseName) => {
  const yaml = readFileSync(`${ISTIO_YAML}${caseName}.yaml`, 'utf8');
  const reference = JSON.parse(readFileSync(`${ISTIOD_GOLDENS}istio-${caseName}.json`, 'utf8')) as { proxies: ReferenceProxy[] };
  const ruleHosts = new Set(destinationRulesOf(loadIstioConfig(yaml, `${caseName}.yaml`)).map((rule) => rule.host));

  it.each(reference.proxies.map((proxy) => [proxy.name, proxy] as const))('%s', (_name, proxy) => {
    const flavor = proxy.name.startsWith('grpc@') ? 'grpc' : 'envoy';
    const options: TranslateOptions = { flavor, naming: 'sidecar', mesh: DEFAULT_MESH_SETTINGS };
    const skiff = translateResultToJson(loadCase(yaml, `${caseName}.yaml`, options));
    const skiffClusters = byName(skiff['clusters'] as JsonValue[], 'name');
    const skiffEndpoints = byName(skiff['endpoints'] as JsonValue[], 'clusterName');
    const istiodEndpoints = byName(proxy.endpoints, 'clusterName');
    // The clusters istiod served for hosts with a rule; the gRPC client is only sent what it asked
    // for, which for se-example is none of them.
    const compared = proxy.clusters.filter((cluster) => ruleHosts.has(hostOf(cluster['name'] as string)));
    if (flavor === 'envoy') expect(compared.length).toBeGreaterThan(0);
    for (const cluster of compared) {
      const name = cluster['name'] as string;
      expect({ name, cluster: skiffClusters.get(name) }).toEqual({ name, cluster });
      const assignment = istiodEndpoints.get(name);
      if (assignment !== undefined) expect({ name, assignment: skiffEndpoints.get(name) }).toEqual({ name, assignment });
    }
    // Nothing more for those hosts either, in the sidecar's full answer.
    if (flavor === 'envoy') {
      const skiffNames = [...skiffClusters.keys()].filter((name) => ruleHosts.has(hostOf(name))).sort();
      expect(skiffNames).toEqual(compared.map((cluster) => cluster['name'] as string).sort());
    }
  });
});
