/** VirtualService rules (istiod `ValidateVirtualService`; cases after `pkg/config/validation/validation_test.go` `TestValidateVirtualService`, `TestValidateHTTPRoute`). */
import { describe, expect, test } from 'vitest';
import { normalizeVirtualService } from './normalize.js';
import { checkNormalizedVirtualService } from './normalized.js';
import { findings, validate } from './test-support/objects.js';

const virtualService = (spec: unknown, metadata: Record<string, unknown> = {}) => findings('VirtualService', spec, metadata);
const destination = { destination: { host: 'foo.bar.com' } };
const http = (fields: Record<string, unknown>) => virtualService({ hosts: ['foo.bar.com'], http: [{ route: [destination], ...fields }] });

describe('hosts and gateways', () => {
  test('a mesh VirtualService with one route is valid and normalizes to its routes', () => {
    const spec = { hosts: ['foo.bar.com'], http: [{ match: [{ uri: { prefix: '/a' }, port: 80 }], route: [destination], timeout: '2s' }] };
    expect(virtualService(spec)).toEqual({ errors: [], warnings: [] });
    const result = validate('VirtualService', spec, { namespace: 'ns' });
    if (!result.valid || result.object.kind !== 'VirtualService') throw new Error('not valid');
    const normalized = normalizeVirtualService(result.object);
    expect(normalized).toMatchObject({ namespace: 'ns', name: 'test', hosts: ['foo.bar.com'], gateways: [], exportTo: [], http: spec.http });
    expect(checkNormalizedVirtualService(normalized).valid).toBe(true);
  });
  test('the mesh may not take every host; duplicate and invalid hosts are refused; IPs are allowed', () => {
    expect(virtualService({ hosts: ['*'], http: [{ route: [destination] }] }).errors).toEqual([
      ['spec.hosts[0]', 'wildcard host * is not allowed for virtual services bound to the mesh gateway'],
    ]);
    expect(virtualService({ hosts: ['*.foo.com', 'a.foo.com'], http: [{ route: [destination] }] }).errors).toEqual([
      ['spec.hosts', 'duplicate hosts in virtual service: *.foo.com & a.foo.com'],
    ]);
    expect(virtualService({ hosts: ['10.0.0.1', 'foo'], http: [{ route: [destination] }] }).errors).toEqual([]);
    expect(virtualService({ hosts: ['foo.bar.com'] }).errors).toEqual([['spec', 'http, tcp or tls must be provided in virtual service']]);
  });
  test('gateway names; a delegate (no hosts) names none', () => {
    expect(virtualService({ hosts: ['foo.bar.com'], gateways: ['ns/Bad_Name'], http: [{ route: [destination] }] }).errors).toEqual([
      ['spec.gateways[0]', 'invalid value for gateway name: "Bad_Name"'],
    ]);
    expect(virtualService({ gateways: ['mesh'], http: [{ route: [destination] }] }).errors).toEqual([
      ['spec.gateways', 'delegate virtual service must have no gateways specified'],
    ]);
  });
  test('JWT claims only route at gateways', () => {
    expect(http({ match: [{ headers: { '@request.auth.claims.group': { exact: 'a' } } }] }).errors).toEqual([
      ['spec.http[0].match[0].headers["@request.auth.claims.group"]', 'JWT claim based routing (key: @request.auth.claims.group) is only supported for gateway, found no gateways: []'],
    ]);
  });
  test('exportTo follows the rules of every Istio config kind', () => {
    expect(virtualService({ hosts: ['foo.bar.com'], exportTo: ['*', 'a'], http: [{ route: [destination] }] }).errors).toEqual([
      ['spec.exportTo', 'cannot have both public (*) and non-public exportTo values for a resource'],
    ]);
  });
});

describe('http routes', () => {
  test('a route needs a destination, redirect or direct response, and not two of them', () => {
    expect(virtualService({ hosts: ['foo.bar.com'], http: [{}] }).errors).toEqual([['spec.http[0]', 'HTTP route, redirect or direct_response is required']]);
    expect(http({ redirect: { uri: '/x' } }).errors).toEqual([['spec.http[0]', 'HTTP route cannot contain both route and redirect']]);
  });
  test('matches: empty prefixes, bad regexes, header names, ports and source namespaces', () => {
    expect(
      http({
        match: [{ uri: { prefix: '' }, method: { prefix: '' }, headers: { 'bad header': { exact: 'x' } }, authority: { regex: '(' }, port: 70000, sourceNamespace: 'Not_A_Label' }],
      }).errors,
    ).toEqual([
      ['spec.http[0].match[0].headers["bad header"]', 'header name bad header is not a valid header name'],
      ['spec.http[0].match[0].method', '"method": prefix string match should not be empty'],
      [
        'spec.http[0].match[0].authority',
        expect.stringMatching(/^"authority": .*; Istio uses RE2 style regex-based match \(https:\/\/github.com\/google\/re2\/wiki\/Syntax\)$/) as unknown as string,
      ],
      ['spec.http[0].match[0].port', 'port number 70000 must be in the range 1..65535'],
      ['spec.http[0].match[0].sourceNamespace', 'sourceNamespace match Not_A_Label is invalid'],
    ]);
  });
  test('destinations: weights, subsets, ports', () => {
    expect(
      virtualService({
        hosts: ['foo.bar.com'],
        http: [{ route: [{ destination: { host: 'a.com', subset: 'V_1' }, weight: 0 }, { destination: { host: '*', port: { number: 0 } }, weight: 0 }] }],
      }).errors,
    ).toEqual([
      ['spec.http[0].route[0].destination.subset', 'subset name is invalid: V_1'],
      ['spec.http[0].route[1].destination.host', 'invalid destination host *'],
      ['spec.http[0].route[1].destination.port.number', 'port number 0 must be in the range 1..65535'],
      ['spec.http[0].route', 'total destination weight = 0'],
    ]);
  });
  test('retries, timeouts and faults', () => {
    expect(http({ retries: { attempts: 0, retryOn: '5xx' }, timeout: '0.5ms' }).errors).toEqual([
      ['spec.http[0].retries', 'http retry policy configured when attempts are set to 0 (disabled)'],
      ['spec.http[0].timeout', 'duration must be greater than 1ms'],
    ]);
    expect(http({ retries: { attempts: 3, retryOn: 'gateway-error,503,bogus' } }).errors).toEqual([['spec.http[0].retries.retryOn', '"bogus" is not a valid retryOn policy']]);
    expect(http({ mirror: { host: 'copy.example' }, mirrorPercent: 150 })).toEqual({
      errors: [['spec.http[0].mirrorPercent', 'mirror_percent must have a max value of 100 (it has 150)']],
      warnings: [['spec.http[0].mirrorPercent', 'using deprecated setting "mirrorPercent", use "mirrorPercentage" instead']],
    });
    expect(http({ fault: {} }).errors).toEqual([['spec.http[0].fault', 'HTTP fault injection must have an abort and/or a delay']]);
    expect(http({ fault: { abort: { grpcStatus: 'NOPE', percentage: { value: 150 } } } }).errors).toEqual([
      ['spec.http[0].fault.abort.percentage', 'percentage 150 is neither 0.0, nor in range [0.0001, 100.0]'],
      [
        'spec.http[0].fault.abort.grpcStatus',
        `gRPC status "NOPE" is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, for example 'NOT_FOUND'`,
      ],
    ]);
  });
});
