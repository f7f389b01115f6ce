/** Which routers an AUTO_PASSTHROUGH Gateway selects (istiod `mergeGateways`, `ContainsAutoPassthroughGateways`). */
import { describe, expect, it } from 'vitest';
import type { NormalizedGateway } from '@skiff/model';
import { AutoPassthroughIndex } from './auto-passthrough.js';

type Server = NormalizedGateway['servers'][number];

function gateway(name: string, selector: Record<string, string> | null, servers: Server[], namespace = 'istio-system', creationTime = 0): NormalizedGateway {
  return { schemaVersion: 1, namespace, name, creationTime, selector, servers };
}

const autoPassthrough = (hosts = ['*.local'], port = 15443): Server => ({ port, bind: '', hosts, tlsMode: 'AUTO_PASSTHROUGH' });
const router = (labels: Record<string, string>, namespace = 'istio-system') => ({ namespace, labels });

describe('AutoPassthroughIndex', () => {
  it('selects routers whose labels contain the selector; no selector selects every router', () => {
    const index = new AutoPassthroughIndex();
    index.set(gateway('cross-network', { istio: 'eastwestgateway' }, [autoPassthrough()]));
    expect(index.autoPassthrough(router({ istio: 'eastwestgateway', app: 'x' }))).toBe(true);
    expect(index.autoPassthrough(router({ istio: 'ingressgateway' }))).toBe(false);
    expect(index.autoPassthrough(router({}))).toBe(false);
    index.set(gateway('everyone', null, [autoPassthrough(['*.mesh'])], 'other'));
    expect(index.autoPassthrough(router({}, 'elsewhere'))).toBe(true);
    expect(index.selecting(router({ istio: 'eastwestgateway' })).map((g) => g.name)).toEqual(['cross-network', 'everyone']);
  });

  it('counts only AUTO_PASSTHROUGH servers', () => {
    const index = new AutoPassthroughIndex();
    index.set(gateway('passthrough', null, [{ port: 443, bind: '', hosts: ['a.com'], tlsMode: 'PASSTHROUGH' }, { port: 80, bind: '', hosts: ['*'], tlsMode: null }]));
    expect(index.autoPassthrough(router({}))).toBe(false);
  });

  it('with PILOT_SCOPE_GATEWAY_TO_NAMESPACE, only the router namespace Gateways apply', () => {
    const index = new AutoPassthroughIndex({ scopeToNamespace: true });
    index.set(gateway('cross-network', null, [autoPassthrough()], 'istio-system'));
    expect(index.autoPassthrough(router({}, 'istio-system'))).toBe(true);
    expect(index.autoPassthrough(router({}, 'gateways'))).toBe(false);
  });

  it('skips a TLS server whose hosts an older Gateway already took on its port and bind (CheckDuplicates)', () => {
    const index = new AutoPassthroughIndex();
    index.set(gateway('older', null, [{ port: 15443, bind: '', hosts: ['*.local'], tlsMode: 'PASSTHROUGH' }], 'istio-system', 1_000));
    index.set(gateway('newer', null, [autoPassthrough()], 'istio-system', 2_000));
    expect(index.autoPassthrough(router({}))).toBe(false);
    // Another bind, or another port, is no duplicate.
    index.set(gateway('newer', null, [{ ...autoPassthrough(), bind: '10.0.0.1' }], 'istio-system', 2_000));
    expect(index.autoPassthrough(router({}))).toBe(true);
    index.set(gateway('newer', null, [autoPassthrough(['*.local'], 15444)], 'istio-system', 2_000));
    expect(index.autoPassthrough(router({}))).toBe(true);
    // Oldest first: when the AUTO_PASSTHROUGH Gateway is the older one, it wins the hosts.
    index.set(gateway('older', null, [{ port: 15443, bind: '', hosts: ['*.local'], tlsMode: 'PASSTHROUGH' }], 'istio-system', 3_000));
    index.set(gateway('newer', null, [autoPassthrough()], 'istio-system', 2_000));
    expect(index.autoPassthrough(router({}))).toBe(true);
  });

  it('reports whether a write, delete or reload changed anything', () => {
    const index = new AutoPassthroughIndex();
    const value = gateway('cross-network', null, [autoPassthrough()]);
    expect(index.set(value)).toBe(true);
    expect(index.set({ ...value })).toBe(false);
    expect(index.replaceAll([value])).toBe(false);
    expect(index.delete(value)).toBe(true);
    expect(index.delete(value)).toBe(false);
    expect(index.replaceAll([value])).toBe(true);
    expect(index.replaceAll([])).toBe(true);
    expect(index.size).toBe(0);
  });
});
