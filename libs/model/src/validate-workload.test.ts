/** docs/istio-behaviour.md#workloadentry-validation: WorkloadEntry (`ValidateWorkloadEntry`, FQDN addresses allowed) and WorkloadGroup rules. */
import { describe, expect, test } from 'vitest';
import { findings } from './test-support/objects.js';

const we = (spec: unknown) => findings('WorkloadEntry', spec);
const wg = (spec: unknown) => findings('WorkloadGroup', spec);

describe('WorkloadEntry', () => {
  test.each([{ address: '10.0.0.1' }, { address: '2001:db8::1' }, { address: 'vm.example.com' }, { address: 'unix://@abstract' }, { address: 'unix:///var/run/a.sock' }])(
    '%j is valid',
    (spec) => expect(we(spec)).toEqual({ errors: [], warnings: [] }),
  );

  test('an address or a network is required; a network alone warns', () => {
    expect(we({}).errors).toEqual([['spec.address', 'address is required']]);
    expect(we({ address: '' }).errors).toEqual([['spec.address', 'address is required']]);
    expect(we({ network: 'net-1' })).toEqual({ errors: [], warnings: [['spec.address', 'address is unset with network "net-1"']] });
  });

  test('istiod stops at a missing address: nothing else is reported', () => {
    expect(we({ ports: { 'bad name': 0 } }).errors).toEqual([['spec.address', 'address is required']]);
  });

  test('hostnames must be FQDNs', () => {
    expect(we({ address: 'bad_host' }).errors).toEqual([['spec.address', 'endpoint address "bad_host" is not a valid FQDN or an IP address']]);
    expect(we({ address: 'example.123' }).errors).toEqual([['spec.address', 'endpoint address "example.123" is not a valid FQDN or an IP address']]);
  });

  test('unix sockets: absolute file path or abstract, no ports', () => {
    expect(we({ address: 'unix://' }).errors).toEqual([['spec.address', 'unix address must not be empty']]);
    expect(we({ address: 'unix://rel/a.sock', ports: { http: 80 } }).errors).toEqual([
      ['spec.address', 'rel/a.sock is not an absolute path to a file'],
      ['spec.ports', 'unix endpoint unix://rel/a.sock must not include ports'],
    ]);
  });

  test('ports: DNS label names, numbers 1..65535 (no ServiceEntry to check names against)', () => {
    expect(we({ address: '1.1.1.1', ports: { http: 8080, grpc: 9090 } }).errors).toEqual([]);
    expect(we({ address: '1.1.1.1', ports: { 'not/valid': 0 } }).errors).toEqual([
      ['spec.ports["not/valid"]', 'invalid port name: not/valid'],
      ['spec.ports["not/valid"]', 'port number 0 must be in the range 1..65535'],
    ]);
  });

  test('labels', () => {
    expect(we({ address: '1.1.1.1', labels: { app: 'web', '-x': 'y', k: 'v v' } }).errors).toEqual([
      ['spec.labels["-x"]', 'invalid tag key: "-x"'],
      ['spec.labels.k', 'invalid tag value: "v v"'],
    ]);
  });

  test('structure: weight is a uint32 and has no webhook bound', () => {
    expect(we({ address: '1.1.1.1', weight: 4294967295 }).errors).toEqual([]);
    expect(we({ address: '1.1.1.1', weight: -1, ports: { http: '80' }, labels: { v: 1 } }).errors).toEqual([
      ['spec.ports.http', 'must be an integer, not a string ("80")'],
      ['spec.labels.v', 'must be a string, not a number (1)'],
      ['spec.weight', 'must be an integer between 0 and 4294967295, not -1'],
    ]);
  });
});

describe('WorkloadGroup', () => {
  const template = { serviceAccount: 'sa' };

  test('a template is required; its address is not', () => {
    expect(wg({}).errors).toEqual([['spec.template', 'template is required']]);
    expect(wg({ template: {} }).errors).toEqual([]);
  });

  test('metadata labels must be labels', () => {
    expect(wg({ template, metadata: { labels: { '@': 'x' }, annotations: { any: 'thing' } } }).errors).toEqual([
      ['spec.metadata.labels["@"]', 'invalid labels: invalid tag key: "@"'],
    ]);
  });

  test('probe counters must be non-negative', () => {
    const probe = { periodSeconds: -1, initialDelaySeconds: -1, timeoutSeconds: -1, successThreshold: -1, failureThreshold: -1, tcpSocket: { port: 80 } };
    expect(wg({ template, probe }).errors).toEqual([
      ['spec.probe.periodSeconds', 'periodSeconds must be non-negative'],
      ['spec.probe.initialDelaySeconds', 'initialDelaySeconds must be non-negative'],
      ['spec.probe.timeoutSeconds', 'timeoutSeconds must be non-negative'],
      ['spec.probe.successThreshold', 'successThreshold must be non-negative'],
      ['spec.probe.failureThreshold', 'failureThreshold must be non-negative'],
    ]);
  });

  test('httpGet probes', () => {
    expect(wg({ template, probe: { httpGet: { port: 8080, scheme: 'HTTPS', httpHeaders: [{ name: 'X-Check', value: '1' }] } } }).errors).toEqual([]);
    expect(wg({ template, probe: { httpGet: { scheme: 'ftp', httpHeaders: [null, { name: '' }, { name: 'x_y' }] } } }).errors).toEqual([
      ['spec.probe.httpGet.port', 'port number 0 must be in the range 1..65535'],
      ['spec.probe.httpGet.scheme', 'httpGet.scheme must be one of "HTTPS", "HTTP"'],
      ['spec.probe.httpGet.httpHeaders[0]', 'invalid nil header'],
      ['spec.probe.httpGet.httpHeaders[1].name', 'header name cannot be empty'],
      ['spec.probe.httpGet.httpHeaders[2].name', 'header name x_y is not a valid header name'],
    ]);
  });

  test('exec probes need a command', () => {
    expect(wg({ template, probe: { exec: { command: ['check'] } } }).errors).toEqual([]);
    expect(wg({ template, probe: { exec: {} } }).errors).toEqual([['spec.probe.exec.command', 'exec.command is required']]);
  });

  test('istiod has no case for gRPC probes or for a probe without a method', () => {
    expect(wg({ template, probe: { grpc: { port: 9090 } } }).errors).toEqual([['spec.probe.grpc', 'unknown health check method *v1alpha3.ReadinessProbe_Grpc']]);
    expect(wg({ template, probe: { periodSeconds: 5 } }).errors).toEqual([['spec.probe', 'unknown health check method <nil>']]);
  });

  test('one health check method at most', () => {
    expect(wg({ template, probe: { tcpSocket: { port: 80 }, exec: { command: ['x'] } } }).errors).toEqual([
      ['spec.probe', 'only one of httpGet, tcpSocket, exec, grpc may be set, found tcpSocket and exec'],
    ]);
  });

  test('the template is read structurally only (istiod does not validate it as a WorkloadEntry)', () => {
    expect(wg({ template: { address: 'not an address!', ports: { http: 99999 } } }).errors).toEqual([]);
    expect(wg({ template: { ports: { http: 'x' } } }).errors).toEqual([['spec.template.ports.http', 'must be an integer, not a string ("x")']]);
  });
});
