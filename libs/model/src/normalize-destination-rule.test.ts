import { describe, expect, test } from 'vitest';
import { loadIstioConfig } from './load.js';
import { checkNormalizedDestinationRule } from './normalized.js';
import { normalizeDestinationRule } from './normalize.js';
import type { DestinationRuleObject } from './objects.js';

function normalizedRules(yaml: string) {
  const result = loadIstioConfig(yaml, 'rules.yaml');
  expect(result.rejected).toEqual([]);
  return result.accepted.filter((a) => a.kind === 'DestinationRule').map((a) => normalizeDestinationRule(a.object as DestinationRuleObject));
}

describe('normalizeDestinationRule', () => {
  test('keeps host, exportTo, selector, policies and subsets as the spec wrote them', () => {
    const [rule] = normalizedRules(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: shop, creationTimestamp: "2026-01-02T03:04:05Z" }
spec:
  host: reviews.example.com
  exportTo: ["."]
  workloadSelector: { matchLabels: { app: web } }
  trafficPolicy:
    connectionPool: { tcp: { connectTimeout: 6s } }
    tls: { mode: SIMPLE, sni: reviews.example.com }
  subsets:
  - name: v1
    labels: { version: v1 }
  - name: v2
    labels: { version: v2 }
    trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN } }
`);
    expect(rule).toEqual({
      schemaVersion: 1,
      namespace: 'shop',
      name: 'reviews',
      creationTime: Date.parse('2026-01-02T03:04:05Z'),
      host: 'reviews.example.com',
      exportTo: ['.'],
      workloadSelector: { app: 'web' },
      trafficPolicy: { connectionPool: { tcp: { connectTimeout: '6s' } }, tls: { mode: 'SIMPLE', sni: 'reviews.example.com' } },
      subsets: [
        { name: 'v1', labels: { version: 'v1' }, trafficPolicy: null },
        { name: 'v2', labels: { version: 'v2' }, trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' } } },
      ],
    });
    expect(checkNormalizedDestinationRule(rule)).toEqual({ valid: true, value: rule });
  });

  test('a rule without policy, subsets or selector stores nulls and empty lists', () => {
    const [rule] = normalizedRules(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: plain, namespace: default }
spec:
  host: "*.example.com"
`);
    expect(rule).toMatchObject({ host: '*.example.com', creationTime: 0, exportTo: [], workloadSelector: null, trafficPolicy: null, subsets: [] });
    expect(checkNormalizedDestinationRule(rule).valid).toBe(true);
  });

  test('the store reader refuses a rule it does not know how to read', () => {
    const checked = checkNormalizedDestinationRule({ schemaVersion: 2, namespace: 'a', name: 'b' });
    expect(checked.valid).toBe(false);
  });
});
