import { create, toBinary } from '@bufbuild/protobuf';
import { DiscoveryRequestSchema } from '@skiff/protos/gen/envoy/service/discovery/v3/discovery_pb.js';
import { describe, expect, it } from 'vitest';
import { entryDigest, ResourceSetHash } from './resource-set-hash.js';
import { Subscription, type SubscriptionChange } from './subscription.js';
import { SubscriptionIndex } from './subscription-index.js';

/** A change without the sets it moved between, for comparing with a literal. */
function withoutSets({ namesBefore: _before, namesAfter: _after, ...change }: SubscriptionChange) {
  return change;
}

describe('Subscription, state of the world', () => {
  it('is subscribed to nothing before the first request', () => {
    const subscription = new Subscription(true);
    expect(subscription.wildcard).toBe(false);
    expect(subscription.covers('a')).toBe(false);
  });

  it('reads empty names as the wildcard until the stream names something, then as unsubscribe-all', () => {
    const subscription = new Subscription(true);
    expect(withoutSets(subscription.replace([]))).toEqual({ added: [], removed: [], wildcardBefore: false, wildcardAfter: true });
    expect(withoutSets(subscription.replace([]))).toEqual({ added: [], removed: [], wildcardBefore: true, wildcardAfter: true });
    expect(withoutSets(subscription.replace(['a', 'b']))).toEqual({ added: ['a', 'b'], removed: [], wildcardBefore: true, wildcardAfter: false });
    expect(withoutSets(subscription.replace([]))).toEqual({ added: [], removed: ['a', 'b'], wildcardBefore: false, wildcardAfter: false });
    expect(subscription.covers('a')).toBe(false);
  });

  it('never applies the legacy wildcard to types without it; `*` works everywhere', () => {
    const subscription = new Subscription(false);
    expect(subscription.replace([]).wildcardAfter).toBe(false);
    expect(subscription.replace(['*', 'x']).wildcardAfter).toBe(true);
    expect([...subscription.names]).toEqual(['x']);
    expect(subscription.covers('anything')).toBe(true);
    expect(withoutSets(subscription.replace(['x']))).toEqual({ added: [], removed: [], wildcardBefore: true, wildcardAfter: false });
  });
});

describe('Subscription, shared name sets', () => {
  it('gives subscriptions with the same names one set, whatever the order, and changes none in place', () => {
    const first = new Subscription(false);
    const second = new Subscription(false);
    const third = new Subscription(false);
    first.replace(['shared-a', 'shared-b', 'shared-c']);
    second.replace(['shared-c', 'shared-a', 'shared-b', 'shared-a']);
    third.update(['shared-b', 'shared-c'], []);
    third.update(['shared-a', 'shared-d'], ['shared-d']);
    expect(second.names).toBe(first.names);
    expect(third.names).toBe(first.names);
    expect(second.sortedNames).toEqual(['shared-a', 'shared-b', 'shared-c']);
    expect(first.sortedNames).toBe(second.sortedNames);
    // One of them moving on leaves the others as they were.
    expect(withoutSets(second.replace(['shared-a']))).toEqual({ added: [], removed: ['shared-b', 'shared-c'], wildcardBefore: false, wildcardAfter: false });
    third.update([], ['shared-c']);
    expect([...first.names].sort()).toEqual(['shared-a', 'shared-b', 'shared-c']);
    expect([...second.names]).toEqual(['shared-a']);
    expect([...third.names].sort()).toEqual(['shared-a', 'shared-b']);
    expect(first.covers('shared-c') && !second.covers('shared-c') && !third.covers('shared-c')).toBe(true);
  });

  it('keeps sets with long names apart by content', () => {
    const long = 'x'.repeat(300);
    const one = new Subscription(false);
    const other = new Subscription(false);
    one.replace([`${long}1`, `${long}2`]);
    other.replace([`${long}1`, `${long}3`]);
    expect(other.names).not.toBe(one.names);
    expect([...other.names]).toEqual([`${long}1`, `${long}3`]);
  });
});

describe('Subscription, a request whose names came as bytes', () => {
  /** The names' fields as a request sends them, and a reader that counts its reads. */
  function requested(names: string[]) {
    const read = { count: 0 };
    return { fields: Buffer.from(toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { resourceNames: names }))).toString('latin1'), names: () => (read.count++, names), read };
  }

  it('does not read names that repeat those the set was made from, and changes nothing', () => {
    const subscription = new Subscription(false);
    const first = requested(['ack-a', 'ack-b']);
    expect(withoutSets(subscription.replaceRequested(first.fields, first.names))).toEqual({ added: ['ack-a', 'ack-b'], removed: [], wildcardBefore: false, wildcardAfter: false });
    const ack = requested(['ack-a', 'ack-b']);
    expect(withoutSets(subscription.replaceRequested(ack.fields, ack.names))).toEqual({ added: [], removed: [], wildcardBefore: false, wildcardAfter: false });
    expect(ack.read.count).toBe(0);
    // Another stream asking for the same names shares the set, and its ACKs are not read either.
    const other = new Subscription(false);
    other.replaceRequested(requested(['ack-a', 'ack-b']).fields, () => ['ack-a', 'ack-b']);
    const otherAck = requested(['ack-a', 'ack-b']);
    other.replaceRequested(otherAck.fields, otherAck.names);
    expect(otherAck.read.count).toBe(0);
    expect(other.names).toBe(subscription.names);
  });

  it('reads names in another order, or with `*`, and applies them', () => {
    const subscription = new Subscription(false);
    const first = requested(['order-a', 'order-b']);
    subscription.replaceRequested(first.fields, first.names);
    const reordered = requested(['order-b', 'order-a']);
    expect(withoutSets(subscription.replaceRequested(reordered.fields, reordered.names))).toEqual({ added: [], removed: [], wildcardBefore: false, wildcardAfter: false });
    expect(reordered.read.count).toBe(1);
    // The same names with `*`: the wildcard is applied, and a repeat of the plain names removes it again.
    const withWildcard = requested(['*', 'order-a', 'order-b']);
    expect(subscription.replaceRequested(withWildcard.fields, withWildcard.names).wildcardAfter).toBe(true);
    const plain = requested(['order-a', 'order-b']);
    expect(withoutSets(subscription.replaceRequested(plain.fields, plain.names))).toEqual({ added: [], removed: [], wildcardBefore: true, wildcardAfter: false });
    expect(plain.read.count).toBe(1);
    expect(subscription.covers('elsewhere')).toBe(false);
  });

  it('never takes a request with `*` for a repeat, even one that made the shared set', () => {
    const withWildcard = new Subscription(false);
    const first = requested(['*', 'star-a']);
    withWildcard.replaceRequested(first.fields, first.names);
    const plain = new Subscription(false);
    plain.replaceRequested(requested(['star-a']).fields, () => ['star-a']);
    expect(plain.names).toBe(withWildcard.names);
    const again = requested(['*', 'star-a']);
    expect(withoutSets(plain.replaceRequested(again.fields, again.names))).toEqual({ added: [], removed: [], wildcardBefore: false, wildcardAfter: true });
  });
});

describe('Subscription, delta', () => {
  it('starts on the legacy wildcard with an empty first subscribe and leaves it when a name is subscribed', () => {
    const subscription = new Subscription(true);
    expect(subscription.update([], []).wildcardAfter).toBe(true);
    expect(withoutSets(subscription.update(['a'], []))).toEqual({ added: ['a'], removed: [], wildcardBefore: true, wildcardAfter: false });
  });

  it('adds and removes names, keeps `*` apart, and ignores phantom unsubscribes', () => {
    const subscription = new Subscription(false);
    expect(withoutSets(subscription.update(['*', 'a', 'a'], []))).toEqual({ added: ['a'], removed: [], wildcardBefore: false, wildcardAfter: true });
    expect(withoutSets(subscription.update([], ['never']))).toEqual({ added: [], removed: [], wildcardBefore: true, wildcardAfter: true });
    expect(withoutSets(subscription.update([], ['a']))).toEqual({ added: [], removed: ['a'], wildcardBefore: true, wildcardAfter: true });
    expect(subscription.covers('a')).toBe(true);
    expect(withoutSets(subscription.update([], ['*']))).toEqual({ added: [], removed: [], wildcardBefore: true, wildcardAfter: false });
    expect(subscription.covers('a')).toBe(false);
  });
});

describe('ResourceSetHash', () => {
  it('depends on the set only, and undoes an entry when toggled again', () => {
    const one = new ResourceSetHash();
    const two = new ResourceSetHash();
    expect(one.toString()).toBe('0000000000000000');
    one.toggle(entryDigest('a', 'v1'));
    one.toggle(entryDigest('b', 'v2'));
    two.toggle(entryDigest('b', 'v2'));
    two.toggle(entryDigest('a', 'v1'));
    expect(one.toString()).toBe(two.toString());
    expect(one.toString()).toMatch(/^[0-9a-f]{16}$/);
    one.toggle(entryDigest('b', 'v2'));
    const onlyA = new ResourceSetHash();
    onlyA.toggle(entryDigest('a', 'v1'));
    expect(one.toString()).toBe(onlyA.toString());
  });

  it('tells the name and the version apart', () => {
    const left = new ResourceSetHash();
    const right = new ResourceSetHash();
    left.toggle(entryDigest('ab', 'c'));
    right.toggle(entryDigest('a', 'bc'));
    expect(left.toString()).not.toBe(right.toString());
  });
});

describe('SubscriptionIndex', () => {
  it('finds wildcard sessions for every name and named sessions for their names only', () => {
    const index = new SubscriptionIndex<string>();
    const wild = new Subscription(false);
    const named = new Subscription(false);
    const otherType = new Subscription(false);
    index.update('wild', 'T', wild.replace(['*']));
    index.update('named', 'T', named.replace(['a', 'b']));
    index.update('other-type', 'U', otherType.replace(['a']));
    expect(Object.fromEntries(index.interested('T', ['a', 'c']))).toEqual({ wild: ['a', 'c'], named: ['a'] });
    index.update('named', 'T', named.replace(['b']));
    expect(Object.fromEntries(index.interested('T', ['a']))).toEqual({ wild: ['a'] });
    index.remove('wild', [['T', wild]]);
    index.remove('named', [['T', named]]);
    index.remove('other-type', [['U', otherType]]);
    expect(index.size).toBe(0);
    expect(index.interested('T', ['a', 'b']).size).toBe(0);
  });

  it('files sessions with the same names together and keeps each one where its names are', () => {
    const index = new SubscriptionIndex<string>();
    const subscriptions = new Map<string, Subscription>();
    const subscribe = (session: string, names: string[]) => {
      let subscription = subscriptions.get(session);
      if (subscription === undefined) subscriptions.set(session, (subscription = new Subscription(false)));
      index.update(session, 'T', subscription.replace(names));
    };
    subscribe('one', ['g-a', 'g-b']);
    subscribe('two', ['g-b', 'g-a']);
    subscribe('three', ['g-a', 'g-b']);
    subscribe('four', ['g-b']);
    expect(index.size).toBe(7);
    expect(index.filed).toEqual({ names: 2, groups: 2 });
    expect(Object.fromEntries(index.interested('T', ['g-a', 'g-b']))).toEqual({ one: ['g-a', 'g-b'], two: ['g-a', 'g-b'], three: ['g-a', 'g-b'], four: ['g-b'] });
    // One session moving leaves the others of its group where they were.
    subscribe('two', ['g-b']);
    subscribe('three', []);
    expect(Object.fromEntries(index.interested('T', ['g-a']))).toEqual({ one: ['g-a'] });
    expect(Object.fromEntries(index.interested('T', ['g-b']))).toEqual({ one: ['g-b'], two: ['g-b'], four: ['g-b'] });
    expect(index.filed).toEqual({ names: 2, groups: 2 });
    for (const [session, subscription] of subscriptions) index.remove(session, [['T', subscription]]);
    expect(index.size).toBe(0);
    expect(index.filed).toEqual({ names: 0, groups: 0 });
    expect(index.interested('T', ['g-a', 'g-b']).size).toBe(0);
  });
});
