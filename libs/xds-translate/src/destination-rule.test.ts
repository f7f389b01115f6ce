import { describe, expect, it } from 'vitest';
import { destinationRuleConfigPath, durationFromGo, mergeSubsetTrafficPolicy, portLevelTrafficPolicy, type TrafficPolicyJson } from './destination-rule.js';

const rulePolicy: TrafficPolicyJson = {
  loadBalancer: { simple: 'RANDOM' },
  connectionPool: { tcp: { maxConnections: 10 } },
  proxyProtocol: { version: 'V1' },
  portLevelSettings: [
    { port: { number: 443 }, tls: { mode: 'SIMPLE' } },
    { port: { number: 443 }, tls: { mode: 'MUTUAL' } },
  ],
};

describe('portLevelTrafficPolicy (GetPortLevelTrafficPolicy)', () => {
  it('keeps the policy for a port without settings, and replaces it wholesale with the first entry for the port', () => {
    expect(portLevelTrafficPolicy(rulePolicy, 80)).toEqual({ policy: rulePolicy, portLevel: false });
    expect(portLevelTrafficPolicy(rulePolicy, 443)).toEqual({ policy: { tls: { mode: 'SIMPLE' } }, portLevel: true });
    expect(portLevelTrafficPolicy(undefined, 443)).toEqual({ policy: undefined, portLevel: false });
  });
});

describe('mergeSubsetTrafficPolicy (MergeSubsetTrafficPolicy, MergeTrafficPolicy)', () => {
  it("overrides the rule's components with the subset's set ones", () => {
    const merged = mergeSubsetTrafficPolicy(rulePolicy, { loadBalancer: { simple: 'ROUND_ROBIN' }, outlierDetection: null } as unknown as TrafficPolicyJson, 80);
    expect(merged).toEqual({ loadBalancer: { simple: 'ROUND_ROBIN' }, connectionPool: { tcp: { maxConnections: 10 } }, proxyProtocol: { version: 'V1' } });
  });

  it("lets a subset port-level entry replace the four port-level components, set or not, and keeps the rest of the rule's", () => {
    const merged = mergeSubsetTrafficPolicy(rulePolicy, { portLevelSettings: [{ port: { number: 80 }, outlierDetection: { consecutive5xxErrors: 1 } }] }, 80);
    expect(merged).toEqual({ outlierDetection: { consecutive5xxErrors: 1 }, proxyProtocol: { version: 'V1' } });
  });

  it('uses the subset policy alone when the rule has none, and the rule port policy when the subset has none', () => {
    expect(mergeSubsetTrafficPolicy(undefined, { tls: { mode: 'DISABLE' } }, 80)).toEqual({ tls: { mode: 'DISABLE' } });
    expect(mergeSubsetTrafficPolicy(rulePolicy, undefined, 443)).toEqual({ tls: { mode: 'SIMPLE' } });
  });
});

describe('destinationRuleConfigPath (AddConfigInfoMetadata)', () => {
  it('names the first rule merged into the applied one', () => {
    const rule = { namespace: 'b', name: 'merged' } as Parameters<typeof destinationRuleConfigPath>[0]['rule'];
    expect(destinationRuleConfigPath({ rule, from: [{ namespace: 'a', name: 'first' }, { namespace: 'b', name: 'merged' }] })).toBe(
      '/apis/networking.istio.io/v1/namespaces/a/destination-rule/first',
    );
  });
});

describe('durationFromGo', () => {
  it('reads Go durations into seconds and nanos', () => {
    expect(durationFromGo('1m30.5s')).toMatchObject({ seconds: 90n, nanos: 500_000_000 });
    expect(durationFromGo('8ms')).toMatchObject({ seconds: 0n, nanos: 8_000_000 });
  });
});
