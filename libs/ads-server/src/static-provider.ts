/**
 * A `ResourceProvider` over plain maps: resources set by hand, the same for every proxy unless a
 * visibility rule says otherwise. For tests, the conformance suite, and serving a fixed set of
 * resources; the gateway's cache is the production provider.
 */
import { istioProxyProfile } from './node.js';
import type { ProxyNode, ProxyProfile, ProxyResourceView, ResourceChange, ResourceProvider, ServedResource } from './provider.js';
import { servedResource } from './served-resource.js';

/** A resource to serve: its type, name and serialized message. */
export interface StaticResource {
  readonly typeUrl: string;
  readonly name: string;
  readonly bytes: Uint8Array;
  /** Defaults to the content hash of `bytes`. */
  readonly version?: string;
}

export interface StaticResourceProviderOptions {
  /** Whether `isReady()` starts true. Default true. */
  readonly ready?: boolean;
  /** Default `istioProxyProfile`. */
  readonly profileOf?: (node: ProxyNode) => ProxyProfile;
  /** Which resources a profile may see. Default: all. */
  readonly isVisible?: (profile: ProxyProfile, typeUrl: string, name: string) => boolean;
}

const EMPTY: ReadonlyMap<string, ServedResource> = new Map();

export class StaticResourceProvider implements ResourceProvider {
  private readonly resources = new Map<string, Map<string, ServedResource>>();
  private readonly listeners = new Set<(changes: readonly ResourceChange[]) => void>();
  private readonly profileFor: (node: ProxyNode) => ProxyProfile;
  private readonly isVisible: ((profile: ProxyProfile, typeUrl: string, name: string) => boolean) | undefined;
  private ready: boolean;

  constructor(options: StaticResourceProviderOptions = {}) {
    this.ready = options.ready ?? true;
    this.profileFor = options.profileOf ?? istioProxyProfile;
    this.isVisible = options.isVisible;
  }

  profileOf(node: ProxyNode): ProxyProfile {
    return this.profileFor(node);
  }

  viewFor(profile: ProxyProfile): ProxyResourceView {
    const isVisible = this.isVisible;
    if (isVisible === undefined) {
      return { all: (typeUrl) => this.resources.get(typeUrl) ?? EMPTY, get: (typeUrl, name) => this.resources.get(typeUrl)?.get(name) };
    }
    return {
      all: (typeUrl) => {
        const visible = new Map<string, ServedResource>();
        for (const [name, resource] of this.resources.get(typeUrl) ?? EMPTY) if (isVisible(profile, typeUrl, name)) visible.set(name, resource);
        return visible;
      },
      get: (typeUrl, name) => (isVisible(profile, typeUrl, name) ? this.resources.get(typeUrl)?.get(name) : undefined),
    };
  }

  onChange(listener: (changes: readonly ResourceChange[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  isReady(): boolean {
    return this.ready;
  }

  setReady(ready: boolean): void {
    this.ready = ready;
  }

  /**
   * Adds or replaces resources, each wrapped in its `Any` once, and announces them in one batch.
   * A resource set again at the same version changes nothing and is not announced.
   */
  upsert(resources: readonly StaticResource[]): void {
    const changed = new Map<string, string[]>();
    for (const input of resources) {
      const resource = servedResource(input.typeUrl, input.name, input.bytes, input.version);
      let byName = this.resources.get(input.typeUrl);
      if (byName === undefined) this.resources.set(input.typeUrl, (byName = new Map()));
      if (byName.get(input.name)?.version === resource.version) continue;
      byName.set(input.name, resource);
      addChange(changed, input.typeUrl, input.name);
    }
    this.announce(changed);
  }

  /** Removes resources by name and announces them in one batch. */
  remove(typeUrl: string, names: readonly string[]): void {
    const changed = new Map<string, string[]>();
    const byName = this.resources.get(typeUrl);
    for (const name of names) if (byName?.delete(name) === true) addChange(changed, typeUrl, name);
    this.announce(changed);
  }

  /** Announces names whose visibility changed (the `isVisible` rule's answer), without changing resources. */
  touch(typeUrl: string, names: readonly string[]): void {
    this.announce(new Map([[typeUrl, [...names]]]));
  }

  /** The served resource, for tests that compare bytes. */
  get(typeUrl: string, name: string): ServedResource | undefined {
    return this.resources.get(typeUrl)?.get(name);
  }

  private announce(changed: ReadonlyMap<string, string[]>): void {
    if (changed.size === 0) return;
    const since = performance.now();
    const changes: ResourceChange[] = [...changed].map(([typeUrl, names]) => ({ typeUrl, names, since }));
    for (const listener of this.listeners) listener(changes);
  }
}

function addChange(changed: Map<string, string[]>, typeUrl: string, name: string): void {
  const names = changed.get(typeUrl);
  if (names === undefined) changed.set(typeUrl, [name]);
  else names.push(name);
}
