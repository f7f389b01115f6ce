import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { anyUnpack, type Any } from '@bufbuild/protobuf/wkt';
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { envoyRegistry } from '@skiff/protos';
import { BootstrapSchema } from '@skiff/protos/gen/envoy/config/bootstrap/v3/bootstrap_pb.js';
import { HttpProtocolOptionsSchema } from '@skiff/protos/gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js';
import { UpstreamTlsContextSchema } from '@skiff/protos/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import { HttpConnectionManagerSchema } from '@skiff/protos/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { Helm } from './helm.js';
import { at, isRecord, parseManifests } from './manifests.js';
import { containerPolicyViolations, rbacViolations } from './policy.js';
import { CHART_DIRECTORY, INSTALL_GUIDE } from './repository.js';

// No Envoy, cluster or registry runs here, so the guide's bootstraps are checked against Envoy's own
// protobuf schema and the client's rules, and its values files and --set keys against the real chart.
const guide = readFileSync(INSTALL_GUIDE, 'utf8');
const NAMESPACE = 'skiff-system';
const ADS_ADDRESS = `skiff.${NAMESPACE}.svc`;
/** Istio's node id: `<type>~<ip>~<workload>.<namespace>~<namespace>.svc.cluster.local` (pkg/model/proxy.go). */
const ISTIO_NODE_ID = /^(sidecar|router)~[0-9a-f.:]+~[^~.]+\.([^~.]+)~([^~.]+)\.svc\.cluster\.local$/;

interface FencedBlock {
  readonly language: string;
  /** The words after the language on the opening fence: a file name, or `values`. */
  readonly label: string;
  readonly text: string;
}

const blocks: FencedBlock[] = [...guide.matchAll(/^```(\w+)[ \t]*([^\n]*)\n([\s\S]*?)^```[ \t]*$/gm)].map((match) => ({
  language: match[1] ?? '',
  label: (match[2] ?? '').trim(),
  text: match[3] ?? '',
}));

function block(label: string): string {
  const found = blocks.filter((candidate) => candidate.label === label);
  if (found.length !== 1) throw new Error(`expected one block labelled ${label} in docs/install.md, found ${found.length}`);
  return found[0]?.text ?? '';
}

function expectIstioNodeId(id: string, namespace: unknown): void {
  const match = ISTIO_NODE_ID.exec(id);
  expect(match, `${id} is not an Istio node id`).not.toBeNull();
  expect(match?.[2]).toBe(namespace);
  expect(match?.[3]).toBe(namespace);
}

describe('the Envoy bootstrap in docs/install.md', () => {
  const bootstrap = fromJson(BootstrapSchema, parseYaml(block('envoy-bootstrap.yaml')) as JsonValue, { registry: envoyRegistry });

  it('identifies the proxy the way Istio proxies do', () => {
    const namespace = bootstrap.node?.metadata?.['NAMESPACE'];
    expect(namespace).toBe('shop');
    expectIstioNodeId(bootstrap.node?.id ?? '', namespace);
  });

  it('takes clusters over ADS from the skiff Service on 15010, over HTTP/2', () => {
    const ads = bootstrap.dynamicResources?.adsConfig;
    expect(ads?.apiType).toBe(2 /* ApiConfigSource_ApiType.GRPC */);
    const target = ads?.grpcServices[0]?.targetSpecifier;
    expect(target?.case).toBe('envoyGrpc');
    const adsClusterName = target?.case === 'envoyGrpc' ? target.value.clusterName : undefined;
    expect(bootstrap.dynamicResources?.cdsConfig?.configSourceSpecifier.case).toBe('ads');

    const adsCluster = bootstrap.staticResources?.clusters.find((cluster) => cluster.name === adsClusterName);
    const address = adsCluster?.loadAssignment?.endpoints[0]?.lbEndpoints[0]?.hostIdentifier;
    const socket = address?.case === 'endpoint' && address.value.address?.address.case === 'socketAddress' ? address.value.address.address.value : undefined;
    expect(`${socket?.address}:${socket?.portSpecifier.value}`).toBe(`${ADS_ADDRESS}:15010`);

    const protocolOptions = adsCluster?.typedExtensionProtocolOptions['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
    const unpacked = protocolOptions && anyUnpack(protocolOptions, HttpProtocolOptionsSchema);
    const protocol = unpacked?.upstreamProtocolOptions;
    expect(protocol?.case === 'explicitHttpConfig' && protocol.value.protocolConfig.case).toBe('http2ProtocolOptions');
  });

  it('routes its listener to a cluster named as istiod names it', () => {
    const filter = bootstrap.staticResources?.listeners[0]?.filterChains[0]?.filters[0]?.configType;
    const manager = filter?.case === 'typedConfig' ? anyUnpack(filter.value, HttpConnectionManagerSchema) : undefined;
    const routeConfig = manager?.routeSpecifier.case === 'routeConfig' ? manager.routeSpecifier.value : undefined;
    const action = routeConfig?.virtualHosts[0]?.routes[0]?.action;
    const cluster = action?.case === 'route' && action.value.clusterSpecifier.case === 'cluster' ? action.value.clusterSpecifier.value : undefined;
    expect(cluster).toMatch(/^outbound\|\d+\|[^|]*\|[^|]+$/);
  });
});

describe('the gRPC bootstrap in docs/install.md', () => {
  const bootstrap = JSON.parse(block('grpc-bootstrap.json')) as Record<string, unknown>;

  it('reaches the skiff Service on 15010 in plaintext with xDS v3', () => {
    expect(at(bootstrap, 'xds_servers', 0, 'server_uri')).toBe(`${ADS_ADDRESS}:15010`);
    expect(at(bootstrap, 'xds_servers', 0, 'channel_creds', 0, 'type')).toBe('insecure');
    expect(at(bootstrap, 'xds_servers', 0, 'server_features')).toContain('xds_v3');
  });

  it('has what grpc-js-xds and Skiff need of the node: a locality, an Istio id, the gRPC generator', () => {
    // grpc-js-xds rejects a bootstrap without node.locality ("locality field missing in node element").
    expect(isRecord(at(bootstrap, 'node', 'locality'))).toBe(true);
    expect(at(bootstrap, 'node', 'metadata', 'GENERATOR')).toBe('grpc');
    expectIstioNodeId(String(at(bootstrap, 'node', 'id')), at(bootstrap, 'node', 'metadata', 'NAMESPACE'));
  });
});

describe('the mTLS Envoy bootstrap in docs/install.md', () => {
  const bootstrap = fromJson(BootstrapSchema, parseYaml(block('envoy-bootstrap-mtls.yaml')) as JsonValue, { registry: envoyRegistry });
  const xds = bootstrap.staticResources?.clusters.find((cluster) => cluster.name === 'skiff-xds');

  it('identifies the VM in the namespace and service account of its certificate', () => {
    expect(bootstrap.node?.metadata?.['NAMESPACE']).toBe('shop');
    expect(bootstrap.node?.metadata?.['SERVICE_ACCOUNT']).toBe('vm');
    expectIstioNodeId(bootstrap.node?.id ?? '', 'shop');
    expect(guide).toContain('(URI SAN spiffe://cluster.local/ns/shop/sa/vm)');
  });

  it('dials the skiff Service on 15012 over HTTP/2 with a client certificate, checking the gateway against the CA and its name', () => {
    const address = xds?.loadAssignment?.endpoints[0]?.lbEndpoints[0]?.hostIdentifier;
    expect(at(address, 'value', 'address', 'address', 'value', 'address')).toBe(ADS_ADDRESS);
    expect(at(address, 'value', 'address', 'address', 'value', 'portSpecifier', 'value')).toBe(15012);
    const protocol = anyUnpack(xds!.typedExtensionProtocolOptions['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']!, HttpProtocolOptionsSchema);
    expect(at(protocol, 'upstreamProtocolOptions', 'value', 'protocolConfig', 'case')).toBe('http2ProtocolOptions');
    const config = xds?.transportSocket?.configType;
    expect(config?.case).toBe('typedConfig');
    const tls = anyUnpack(config!.value as Any, UpstreamTlsContextSchema);
    expect(tls?.sni).toBe(ADS_ADDRESS);
    const context = tls?.commonTlsContext;
    expect(context?.alpnProtocols).toEqual(['h2']);
    expect(context?.tlsCertificates.map((certificate) => [at(certificate, 'certificateChain', 'specifier', 'value'), at(certificate, 'privateKey', 'specifier', 'value')])).toEqual([
      ['/etc/skiff-xds/tls.crt', '/etc/skiff-xds/tls.key'],
    ]);
    const validation = context?.validationContextType;
    expect(validation?.case).toBe('validationContext');
    expect(at(validation, 'value', 'trustedCa', 'specifier', 'value')).toBe('/etc/skiff-xds/ca.crt');
    expect(at(validation, 'value', 'matchTypedSubjectAltNames', 0, 'matcher', 'matchPattern', 'value')).toBe(ADS_ADDRESS);
  });
});

describe('the chart values in docs/install.md', () => {
  let helm: Helm;
  let scratch: string;
  beforeAll(() => {
    helm = Helm.locate();
    scratch = mkdtempSync(join(tmpdir(), 'skiff-install-guide-'));
  });
  afterAll(() => {
    helm?.dispose();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const valuesBlocks = blocks.filter((candidate) => candidate.label === 'values');

  it('has values files to check', () => {
    expect(valuesBlocks.length).toBeGreaterThanOrEqual(3);
  });

  it.each(valuesBlocks.map((valuesBlock) => [valuesBlock.text.split('\n')[0] ?? '', valuesBlock.text]))(
    '%s renders, lints and keeps the chart policies',
    (_title, text) => {
      const file = join(scratch, `values-${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(file, text);
      const objects = parseManifests(helm.template(CHART_DIRECTORY, { releaseName: 'skiff', namespace: NAMESPACE, valuesFiles: [file] }));
      expect(containerPolicyViolations(objects, { tcpProbeComponents: ['redis'] })).toEqual([]);
      expect(rbacViolations(objects, NAMESPACE)).toEqual([]);
      expect(helm.lint(CHART_DIRECTORY, { namespace: NAMESPACE, valuesFiles: [file], strict: true })).toContain('0 chart(s) failed');
    },
  );

  it('names only values the chart has in --set', () => {
    const chartValues: unknown = parseYaml(readFileSync(join(CHART_DIRECTORY, 'values.yaml'), 'utf8'));
    const keys = [...guide.matchAll(/--set(?:-string)?[ =]([\w.]+)=/g)].map((match) => match[1] ?? '');
    expect(keys.length).toBeGreaterThan(0);
    // eslint-disable-next-line no-restricted-syntax -- a dotted values key has a few segments
    expect(keys.filter((key) => at(chartValues, ...key.split('.')) === undefined)).toEqual([]);
  });
});

describe('docs/install.md', () => {
  it('says the image is not built in CI here', () => {
    expect(guide).toMatch(/image is \*\*not built in this repository's CI\*\*/);
  });

  it('shows both proxy-status commands: skiffctl on the monitoring Service, istioctl on the skiff Service', () => {
    expect(guide).toContain(`port-forward service/skiff-ads-gateway-monitoring 15014:15014`);
    expect(guide).toContain('skiffctl proxy-status --gateway http://127.0.0.1:15014');
    expect(guide).toContain(`skiffctl proxy-status --gateway http://skiff-ads-gateway-monitoring.${NAMESPACE}:15014 --token-file`);
    expect(guide).toContain('istioctl proxy-status --xds-address 127.0.0.1:15010 --plaintext');
    expect(guide).not.toContain('skiffctl proxy-status --xds-address');
  });

  it('links the threat model', () => {
    expect(guide).toContain('[security.md](security.md)');
  });
});
