import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { defaultReplicaId } from './replica-id.js';

describe('defaultReplicaId', () => {
  it('is POD_NAME when set, else the host name and process id, unique per process on one host', () => {
    expect(defaultReplicaId({ POD_NAME: 'skiff-gateway-7d9f-abcde' })).toBe('skiff-gateway-7d9f-abcde');
    expect(defaultReplicaId({ POD_NAME: '' }, 4242, 'vm-1')).toBe('vm-1-4242');
    expect(defaultReplicaId({}, 4243, 'vm-1')).not.toBe(defaultReplicaId({}, 4242, 'vm-1'));
    expect(defaultReplicaId({})).toBe(`${hostname()}-${process.pid}`);
  });
});
