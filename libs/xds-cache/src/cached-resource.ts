/**
 * One resource version as the gateway serves it. The `google.protobuf.Any` is encoded once, when the
 * version enters the cache, and every push of that version to any proxy reuses the same bytes
 * (go-control-plane `pkg/cache/v3/cached_resource.go` keeps marshaled bytes the same way). The
 * resource bytes are a view into the Any's own buffer (the value is its last field), so a version
 * costs one buffer, not two.
 */
import { encodeAny, type ServedResource } from '@skiff/ads-server';
import { resourceKey, type BuiltResource, type ResourceId } from '@skiff/store';
import type { LocalityLbPolicy } from '@skiff/xds-translate';
import { LocalityVariants } from './locality-variants.js';

export class CachedResource implements ServedResource {
  readonly typeUrl: string;
  readonly name: string;
  readonly variant: string;
  readonly version: string;
  /** `resourceKey` of the id, for the owner's map. */
  readonly key: string;
  readonly anyBytes: Uint8Array;
  readonly bytes: Uint8Array;
  /** For an assignment (or a DNS cluster's inline one) istiod rewrites per proxy: its per-locality copies (`locality-variants.ts`). */
  readonly locality: LocalityVariants | undefined;

  constructor(resource: BuiltResource, encoded?: { readonly anyBytes: Uint8Array; readonly bytes: Uint8Array }, locality?: { readonly policy: LocalityLbPolicy; readonly version: string }) {
    this.typeUrl = resource.typeUrl;
    this.name = resource.name;
    this.variant = resource.variant;
    this.version = resource.version;
    this.key = resourceKey(resource);
    if (encoded !== undefined) {
      this.anyBytes = encoded.anyBytes;
      this.bytes = encoded.bytes;
    } else {
      this.anyBytes = encodeAny(resource.typeUrl, resource.bytes);
      // The value is the Any's last field: its tail.
      this.bytes = this.anyBytes.subarray(this.anyBytes.length - resource.bytes.length);
    }
    this.locality = locality === undefined ? undefined : new LocalityVariants(this.typeUrl, this, locality.policy, locality.version);
  }

  /** The same version with another locality policy (or none), sharing the encoded bytes. */
  withLocality(locality: { readonly policy: LocalityLbPolicy; readonly version: string } | undefined): CachedResource {
    return new CachedResource({ typeUrl: this.typeUrl, name: this.name, variant: this.variant, version: this.version, bytes: this.bytes }, this, locality);
  }

  /** The id part, for store reads. */
  get id(): ResourceId {
    return { typeUrl: this.typeUrl, name: this.name, variant: this.variant };
  }
}
