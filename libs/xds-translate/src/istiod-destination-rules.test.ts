/**
 * DestinationRule translation against istiod itself: Istio's own YAML with DestinationRules
 * (libs/model/testdata/istio) and this package's golden inputs with rules (testdata/destination-rules), translated with each host's
 * rule, must give the clusters and assignments the istiod reference served for that YAML
 * (libs/istiod-parity/testdata/istiod, recorded from istiod 1.30 by `tools/istiod-reference` in both
 * flag settings).
 * Every cluster of a host whose rule applies to the proxy is compared, for the sidecar and the
 * proxyless gRPC proxies the reference asked as (always with sidecar naming: the reference asks as
 * no sni-dnat router).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import { loadIstioConfig } from '@skiff/model';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MESH_SETTINGS, meshSettingsFromEnvironment, translateResultToJson, type MeshSettings, type TranslateOptions } from './index.js';
import { destinationRulesOf, loadCase } from './test-support/load-case.js';

const ISTIO_YAML = fileURLToPath(new URL('../../model/testdata/istio/', import.meta.url));
const TRANSLATE_YAML = fileURLToPath(new URL('../testdata/destination-rules/in/', import.meta.url));
const ISTIOD_GOLDENS = fileURLToPath(new URL('../../istiod-parity/testdata/istiod/', import.meta.url));

/** The two istiod flag settings the goldens were recorded with (libs/istiod-parity/src/goldens.ts `FLAG_SETTINGS`). */
const SETTINGS: readonly (readonly [name: string, mesh: MeshSettings])[] = [
  ['default', DEFAULT_MESH_SETTINGS],
  [
    'flipped',
    meshSettingsFromEnvironment({
      DISABLE_TRACK_REMAINING_CB_METRICS: 'false',
      PILOT_AUTO_SEND_UNHEALTHY_ENDPOINTS: 'false',
      PILOT_DNS_JITTER_DURATION: '250ms',
      PILOT_DNS_CARES_UDP_MAX_QUERIES: '10',
      PILOT_ENABLE_METADATA_EXCHANGE: 'false',
    }),
  ],
];

/** YAML file and the istiod-parity corpus name of its istiod answer. */
const CASES: readonly (readonly [yaml: string, corpusName: string])[] = [
  ...['destination-rule-all', 'egress-rule-google-apis', 'external_services', 'se-example'].map((name) => [`${ISTIO_YAML}${name}.yaml`, `istio-${name}`] as const),
  ...readdirSync(TRANSLATE_YAML)
    .filter((file) => file.startsWith('dr-') && file.endsWith('.yaml'))
    .map((file) => [`${TRANSLATE_YAML}${file}`, `translate-${basename(file, '.yaml')}`] as const),
];

interface ReferenceProxy {
  readonly name: string;
  readonly clusters: JsonObject[];
  readonly endpoints: JsonObject[];
}

function byName(resources: readonly JsonValue[], key: 'name' | 'clusterName'): Map<string, JsonObject> {
  return new Map(resources.map((resource) => [(resource as JsonObject)[key] as string, resource as JsonObject]));
}

/**
 * The deliberate deviation for proxyless gRPC (docs/istio-compatibility.md#what-skiff-does-differently-on-purpose):
 * a load balancer grpc-js-xds NACKs becomes ROUND_ROBIN (the proto default, so no `lbPolicy`).
 */
const GRPC_REFUSED_LB_POLICIES = new Set(['LEAST_REQUEST', 'MAGLEV']);
function asGrpcClientTakesIt(cluster: JsonObject): { cluster: JsonObject; rewritten: boolean } {
  if (!GRPC_REFUSED_LB_POLICIES.has(cluster['lbPolicy'] as string)) return { cluster, rewritten: false };
  const { lbPolicy: _lbPolicy, maglevLbConfig: _maglev, leastRequestLbConfig: _leastRequest, ...rest } = cluster;
  return { cluster: rest, rewritten: true };
}

/** `outbound|PORT|SUBSET|HOST` -> HOST. */
const hostOf = (clusterName: string): string => clusterName.split('|')[3] ?? '';

describe.each(SETTINGS.flatMap(([setting, mesh]) => CASES.map(([yamlPath, corpusName]) => [`${setting}/${corpusName}`, yamlPath, mesh] as const)))('istiod reference: %s', (goldenName, yamlPath, mesh) => {
  const yaml = readFileSync(yamlPath, 'utf8');
  const file = basename(yamlPath);
  const reference = JSON.parse(readFileSync(`${ISTIOD_GOLDENS}${goldenName}.json`, 'utf8')) as { proxies: ReferenceProxy[] };
  const rules = destinationRulesOf(loadIstioConfig(yaml, file));

  it.each(reference.proxies.map((proxy) => [proxy.name, proxy] as const))('%s', (_name, proxy) => {
    const flavor = proxy.name.startsWith('grpc@') ? 'grpc' : 'envoy';
    const namespace = proxy.name.slice(proxy.name.indexOf('@') + 1);
    // A rule with a workloadSelector applies only to proxies of its namespace (the harness's selectors select every proxy).
    const ruleHosts = new Set(rules.filter((rule) => rule.workloadSelector === null || rule.namespace === namespace).map((rule) => rule.host));
    const options: TranslateOptions = { flavor, naming: 'sidecar', mesh };
    const result = loadCase(yaml, file, options);
    const skiff = translateResultToJson(result);
    const reported = new Set(result.errors.filter((error) => error.code === 'GRPC_UNSUPPORTED_LB_POLICY').map((error) => error.clusterName));
    const skiffClusters = byName(skiff['clusters'] as JsonValue[], 'name');
    const skiffEndpoints = byName(skiff['endpoints'] as JsonValue[], 'clusterName');
    const istiodEndpoints = byName(proxy.endpoints, 'clusterName');
    // The clusters istiod served for hosts with a rule; the gRPC client is only sent what it asked
    // for, which for se-example is none of them.
    const compared = proxy.clusters.filter((cluster) => ruleHosts.has(hostOf(cluster['name'] as string)));
    if (flavor === 'envoy') expect(compared.length).toBeGreaterThan(0);
    for (const istiodCluster of compared) {
      const name = istiodCluster['name'] as string;
      const { cluster, rewritten } = flavor === 'grpc' ? asGrpcClientTakesIt(istiodCluster) : { cluster: istiodCluster, rewritten: false };
      expect(reported.has(name), `${name}: GRPC_UNSUPPORTED_LB_POLICY reported exactly when istiod's load balancer is refused`).toBe(rewritten);
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
