import { describe, expect, it } from 'vitest';
import { typeFirst } from './json.js';

describe('typeFirst', () => {
  it('moves @type to the front of every object that has one, at any depth, and keeps the other keys in order', () => {
    const json = {
      name: 'c',
      transportSocket: { name: 'tls', typedConfig: { sni: 'a', nested: [{ x: 1, '@type': 'type.googleapis.com/B' }], '@type': 'type.googleapis.com/A' } },
      metadata: { filterMetadata: { istio: { '@type': 'kept first' } } },
    };
    const out = typeFirst(json);
    expect(JSON.stringify(out)).toBe(
      JSON.stringify({
        name: 'c',
        transportSocket: { name: 'tls', typedConfig: { '@type': 'type.googleapis.com/A', sni: 'a', nested: [{ '@type': 'type.googleapis.com/B', x: 1 }] } },
        metadata: { filterMetadata: { istio: { '@type': 'kept first' } } },
      }),
    );
  });
});
