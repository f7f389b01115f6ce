import { loadIstioConfig } from '@skiff/model';
import { describe, expect, it } from 'vitest';
import { analyze, atLeast, formatMessage } from './analyze.js';

/** One YAML document of `kind` followed by a separator. */
const doc = (kind: string) => (name: string, namespace: string, extra: string) => `apiVersion: networking.istio.io/v1
kind: ${kind}
metadata: {name: ${name}, namespace: ${namespace}}
spec:
${extra}
---
`;
const se = doc('ServiceEntry');
const we = doc('WorkloadEntry');
const dr = doc('DestinationRule');

const run = (text: string) => analyze(loadIstioConfig(text, 'mesh.yaml')).map(formatMessage);

describe('analyze', () => {
  it('is silent for a consistent mesh', () => {
    const text =
      se('api', 'shop', '  hosts: [api.shop]\n  addresses: [10.9.0.1]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: STATIC\n  workloadSelector: {labels: {app: api}}') +
      we('api-1', 'shop', '  address: 10.0.0.1\n  labels: {app: api}\n  ports: {http: 8080}');
    expect(run(text)).toEqual([]);
  });

  it('warns about a selector that selects nothing, and says why matching workloads are excluded', () => {
    const text =
      se('api', 'shop', '  hosts: [api.shop]\n  addresses: [10.9.0.1]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: STATIC\n  workloadSelector: {labels: {app: api}}') +
      we('by-name', 'shop', '  address: vm1.example.com\n  labels: {app: api}') +
      we('other-ns', 'elsewhere', '  address: 10.0.0.2\n  labels: {app: api}');
    expect(run(text)).toEqual([
      'Warning [SKF0101] (ServiceEntry shop/api mesh.yaml:1 (document 1)) workloadSelector app=api selects no WorkloadEntry in namespace shop; 1 WorkloadEntry has matching labels but is unhealthy or has a hostname address, which only DNS resolution selects',
      'Info [SKF0102] (WorkloadEntry shop/by-name mesh.yaml:11 (document 2)) no ServiceEntry selects this WorkloadEntry',
      'Info [SKF0102] (WorkloadEntry elsewhere/other-ns mesh.yaml:18 (document 3)) no ServiceEntry selects this WorkloadEntry',
    ]);
  });

  it('reports ports maps naming a port the selecting ServiceEntry does not define', () => {
    const text =
      se('api', 'shop', '  hosts: [api.shop]\n  addresses: [10.9.0.1]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: STATIC\n  workloadSelector: {labels: {app: api}}') +
      we('api-1', 'shop', '  address: 10.0.0.1\n  labels: {app: api}\n  ports: {grpc: 9090}');
    const [message] = analyze(loadIstioConfig(text, 'mesh.yaml'));
    expect(message).toMatchObject({ code: 'SKF0104', level: 'Warning' });
    expect(message?.message).toBe('ports.grpc is not a port name of ServiceEntry shop/api, which selects it; the mapping is ignored there');
    expect(message?.objects.map((o) => `${o.kind} ${o.namespace}/${o.name}`)).toEqual(['WorkloadEntry shop/api-1', 'ServiceEntry shop/api']);
  });

  it('reports the same host and port claimed with conflicting protocols or resolutions, oldest first', () => {
    const created = (year: number) => `, creationTimestamp: "${year}-01-01T00:00:00Z"`;
    const text =
      se('new', 'team-b', '  hosts: [db.example.com]\n  ports: [{number: 5432, name: tcp, protocol: TCP}]\n  resolution: DNS').replace('namespace: team-b', `namespace: team-b${created(2024)}`) +
      se('old', 'team-a', '  hosts: [db.example.com]\n  ports: [{number: 5432, name: pg, protocol: TLS}]\n  resolution: DNS').replace('namespace: team-a', `namespace: team-a${created(2020)}`) +
      se('same', 'team-c', '  hosts: [db.example.com]\n  ports: [{number: 5432, name: tls, protocol: TLS}]\n  resolution: DNS').replace('namespace: team-c', `namespace: team-c${created(2023)}`);
    const conflicts = analyze(loadIstioConfig(text, 'mesh.yaml')).filter((m) => m.code === 'SKF0103');
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]?.message).toBe('db.example.com:5432 is claimed by 3 ServiceEntries with conflicting protocols TCP, TLS; each proxy uses only one of them');
    expect(conflicts[0]?.objects.map((o) => `${o.namespace}/${o.name}`)).toEqual(['team-a/old', 'team-c/same', 'team-b/new']);
  });

  it('does not report claims no namespace sees together', () => {
    const text =
      se('a', 'team-a', '  hosts: [db.example.com]\n  exportTo: [.]\n  ports: [{number: 5432, name: tcp, protocol: TCP}]\n  resolution: DNS') +
      se('b', 'team-b', '  hosts: [db.example.com]\n  exportTo: [.]\n  ports: [{number: 5432, name: tls, protocol: TLS}]\n  resolution: DNS') +
      se('c', 'team-c', '  hosts: [db.example.com]\n  exportTo: [team-a]\n  ports: [{number: 5432, name: tls, protocol: TLS}]\n  resolution: DNS');
    const conflicts = analyze(loadIstioConfig(text, 'mesh.yaml')).filter((m) => m.code === 'SKF0103');
    // team-a sees a (its own) and c (exported to team-a): those conflict; b is private to team-b.
    expect(conflicts.map((m) => m.objects.map((o) => `${o.namespace}/${o.name}`))).toEqual([['team-a/a', 'team-c/c']]);
  });

  it('turns validation errors, warnings and unparseable documents into Istio-coded messages', () => {
    const text = se('bad', 'shop', '  hosts: ["*"]\n  resolution: STATIC') + 'kind: [oops\n';
    const messages = analyze(loadIstioConfig(text, 'mesh.yaml'));
    expect(messages.map((m) => `${m.level} ${m.code} ${m.message}`)).toEqual([
      expect.stringMatching(/^Error SKF0001 invalid YAML/),
      'Error IST0106 spec.hosts[0]: invalid host *',
    ]);
    // The file is named as given, not as `File /mesh.yaml`.
    expect(formatMessage(messages[0]!)).toMatch(/^Error \[SKF0001\] \(File mesh\.yaml\) invalid YAML: [^\n]*[^:]$/);
  });

  it('orders levels for the failure threshold', () => {
    expect(atLeast('Error', 'Warning')).toBe(true);
    expect(atLeast('Info', 'Warning')).toBe(false);
    expect(atLeast('Warning', 'Warning')).toBe(true);
  });
});

describe('DestinationRule checks (istioctl pkg/config/analysis/analyzers/destinationrule)', () => {
  const api =
    se('api', 'shop', '  hosts: [api.shop.svc.cluster.local]\n  addresses: [10.9.0.1]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: STATIC\n  workloadSelector: {labels: {app: api}}') +
    we('api-1', 'shop', '  address: 10.0.0.1\n  labels: {app: api, version: v1}');

  it('is silent for a rule whose host and subsets exist, short host included', () => {
    expect(run(api + dr('api', 'shop', '  host: api\n  subsets: [{name: v1, labels: {version: v1}}]'))).toEqual([]);
  });

  it('IST0174 for a host no visible ServiceEntry defines; a wildcard ServiceEntry host covers it', () => {
    expect(run(api + dr('ghost', 'shop', '  host: ghost.example.com'))).toEqual([
      'Warning [IST0174] (DestinationRule shop/ghost mesh.yaml:18 (document 3)) The host ghost.example.com defined in the DestinationRule does not match any services in the mesh.',
    ]);
    const wild = se('wild', 'shop', '  hosts: ["*.example.com"]\n  ports: [{number: 443, name: tls, protocol: TLS}]\n  resolution: NONE');
    expect(run(wild + dr('ghost', 'shop', '  host: ghost.example.com'))).toEqual([]);
    // Exported only to another namespace: not visible to a rule in `shop`.
    const hidden = se('hidden', 'other', '  hosts: [hidden.example.com]\n  exportTo: [elsewhere]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DNS');
    expect(run(hidden + dr('r', 'shop', '  host: hidden.example.com')).map((line) => line.slice(0, 17))).toEqual(['Warning [IST0174]']);
  });

  it('IST0173 for a subset whose labels, with the ServiceEntry selector, select no workload', () => {
    expect(run(api + dr('api', 'shop', '  host: api.shop.svc.cluster.local\n  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]'))).toEqual([
      'Error [IST0173] (DestinationRule shop/api mesh.yaml:18 (document 3)) The Subset v2 defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream).',
    ]);
  });

  it('IST0128 and IST0129 for SIMPLE or MUTUAL TLS without caCertificates', () => {
    const rule = dr(
      'api',
      'shop',
      '  host: api.shop.svc.cluster.local\n  trafficPolicy:\n    tls: {mode: SIMPLE}\n    portLevelSettings:\n    - port: {number: 80}\n      tls: {mode: MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem}\n    - port: {number: 81}\n      tls: {mode: SIMPLE, caCertificates: /ca.pem}',
    );
    expect(run(api + rule)).toEqual([
      'Warning [IST0128] (DestinationRule shop/api mesh.yaml:18 (document 3)) DestinationRule shop/api in namespace shop has TLS mode set to SIMPLE but no caCertificates are set to validate server identity for host: api.shop.svc.cluster.local',
      'Warning [IST0129] (DestinationRule shop/api mesh.yaml:18 (document 3)) DestinationRule shop/api in namespace shop has TLS mode set to MUTUAL but no caCertificates are set to validate server identity for host: api.shop.svc.cluster.local at port number:80',
    ]);
  });
});
