/**
 * Field-by-field comparison of what istiod and Skiff served one proxy. Resources are matched by type
 * and name; a resource on one side only, and every field that differs, is one difference with its
 * path (`clusters[outbound|80||api.shop].circuitBreakers.thresholds[0].trackRemaining`).
 *
 * istiod also serves a sidecar clusters no ServiceEntry defines (`BlackHoleCluster`,
 * `PassthroughCluster`, `InboundPassthroughCluster`: its listeners' fallbacks; Skiff serves no
 * listeners to Envoy). Only outbound service clusters are compared; the rest are counted as skipped.
 */
import type { JsonValue } from '@bufbuild/protobuf';
import { canonicalJson, RESOURCE_KINDS, resourceName, type ResourceKind } from './resources.js';

export interface Difference {
  /** `<kind>[<name>]<field path>`. */
  readonly path: string;
  readonly istiod: string;
  readonly skiff: string;
}

export interface Comparison {
  readonly differences: readonly Difference[];
  /** Resources compared (matched by name on both sides, or on one side only). */
  readonly compared: number;
  /** istiod's clusters outside the compared set, by name. */
  readonly skipped: readonly string[];
}

/** Clusters built for services: `outbound|PORT|SUBSET|HOST` and the sni-dnat form `outbound_.PORT_.SUBSET_.HOST`. */
export function isServiceCluster(name: string): boolean {
  return name.startsWith('outbound|') || name.startsWith('outbound_.');
}

const ABSENT = '<absent>';

function show(value: JsonValue | undefined): string {
  if (value === undefined) return ABSENT;
  const text = JSON.stringify(value);
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
}

function isObject(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Appends the differences between two proto-JSON values under `path`. */
export function diffJson(path: string, istiod: JsonValue | undefined, skiff: JsonValue | undefined, out: Difference[]): void {
  if (isObject(istiod) && isObject(skiff)) {
    const keys = [...new Set([...Object.keys(istiod), ...Object.keys(skiff)])].sort();
    for (const key of keys) diffJson(`${path}.${key}`, istiod[key], skiff[key], out);
    return;
  }
  if (Array.isArray(istiod) && Array.isArray(skiff)) {
    if (istiod.length !== skiff.length) {
      out.push({ path: `${path}.length`, istiod: String(istiod.length), skiff: String(skiff.length) });
    }
    for (let i = 0; i < Math.max(istiod.length, skiff.length); i += 1) diffJson(`${path}[${i}]`, istiod[i], skiff[i], out);
    return;
  }
  if (JSON.stringify(istiod) !== JSON.stringify(skiff)) out.push({ path, istiod: show(istiod), skiff: show(skiff) });
}

function byName(kind: ResourceKind, resources: readonly JsonValue[]): Map<string, JsonValue> {
  return new Map(resources.map((resource) => [resourceName(kind, resource), resource]));
}

/**
 * Compares one proxy's resources. istiod's are Go proto-JSON, read back through Skiff's Envoy
 * types (`canonicalJson`); Skiff's are already its proto-JSON.
 */
export function compareProxy(
  istiod: Readonly<Record<ResourceKind, readonly JsonValue[]>>,
  skiff: Readonly<Record<ResourceKind, readonly JsonValue[]>>,
): Comparison {
  const differences: Difference[] = [];
  const skipped: string[] = [];
  let compared = 0;
  for (const kind of RESOURCE_KINDS) {
    const theirs = new Map<string, JsonValue>();
    for (const [name, resource] of byName(kind, istiod[kind])) {
      if (kind === 'clusters' && !isServiceCluster(name)) {
        skipped.push(name);
        continue;
      }
      try {
        theirs.set(name, canonicalJson(kind, resource));
      } catch (error) {
        differences.push({ path: `${kind}[${name}]`, istiod: `not readable with Skiff's Envoy API: ${error instanceof Error ? error.message : String(error)}`, skiff: '' });
        theirs.set(name, resource);
      }
    }
    const ours = byName(kind, skiff[kind]);
    const names = [...new Set([...theirs.keys(), ...ours.keys()])].sort();
    for (const name of names) {
      compared += 1;
      const a = theirs.get(name);
      const b = ours.get(name);
      if (a === undefined) differences.push({ path: `${kind}[${name}]`, istiod: ABSENT, skiff: 'served' });
      else if (b === undefined) differences.push({ path: `${kind}[${name}]`, istiod: 'served', skiff: ABSENT });
      else diffJson(`${kind}[${name}]`, a, b, differences);
    }
  }
  return { differences, compared, skipped: skipped.sort() };
}

/** A readable report: one line per difference, at most `limit`. */
export function formatDifferences(label: string, differences: readonly Difference[], limit = 60): string {
  const lines = differences.slice(0, limit).map((d) => `  ${d.path}\n      istiod: ${d.istiod}\n      skiff:  ${d.skiff}`);
  const more = differences.length > limit ? `\n  ... and ${differences.length - limit} more` : '';
  return `${label}: ${differences.length} difference(s)\n${lines.join('\n')}${more}`;
}
