/**
 * istiod's MeshConfig (`--meshConfig`, the `mesh` key of the `istio` ConfigMap) as Skiff settings: the
 * fields that shape CDS/EDS output for ServiceEntries, read as istiod reads them
 * (`pkg/config/mesh/mesh.go` `ApplyMeshConfig`: the YAML is decoded onto `DefaultMeshConfig`, and a
 * field the file sets replaces the default whole, lists and messages included; `null` keeps the
 * default) and checked as istiod checks them (`pkg/config/validation/agent/validation.go`
 * `ValidateMeshConfig`). A file istiod would refuse is refused, with the field named.
 *
 * Fields Skiff does not use are returned in `ignored` (istiod reads them for other output: listeners,
 * telemetry, ambient, ...; docs/istio-compatibility.md#meshconfig lists them), as are unknown fields
 * inside the settings read, which istiod skips too (`protomarshal.ApplyJSON` retries allowing unknown
 * fields).
 */
import { parseGoDuration } from '@skiff/model';
import { parse } from 'yaml';
import type { LocalityLbSettingJson, ZoneAwareLbSettingJson } from './destination-rule.js';
import { DEFAULT_MESH_SETTINGS, type MeshSettings } from './mesh.js';

/** A MeshConfig istiod would refuse: `field` is the path of the offending value (`localityLbSetting.failover[0].to`). */
export class MeshConfigError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`meshConfig ${field === '' ? '' : `${field}: `}${reason}`);
    this.name = 'MeshConfigError';
  }
}

export interface MeshConfigResult {
  readonly mesh: MeshSettings;
  /** Fields present in the file that Skiff does not read (top level, or inside a setting it reads), sorted. */
  readonly ignored: readonly string[];
}

/** Top-level MeshConfig fields Skiff reads. */
export const MESH_CONFIG_FIELDS_READ: readonly string[] = Object.freeze([
  'connectTimeout',
  'defaultServiceExportTo',
  'dnsRefreshRate',
  'enableAutoMtls',
  'localityLbSetting',
  'trustDomain',
  'zoneAwareLbSetting',
]);

const TOPOLOGY_LABELS = ['topology.kubernetes.io/region', 'topology.kubernetes.io/zone', 'topology.istio.io/subzone'];
const UINT32_MAX = 4_294_967_295;
const NANOS_PER_MS = 1_000_000n;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function join(path: string, key: string | number): string {
  return typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;
}

function object(value: unknown, path: string): JsonObject {
  if (!isObject(value)) throw new MeshConfigError(path, 'must be a mapping');
  return value;
}

function list(value: unknown, path: string): readonly unknown[] {
  if (!Array.isArray(value)) throw new MeshConfigError(path, 'must be a list');
  return value;
}

function text(value: unknown, path: string): string {
  if (typeof value !== 'string') throw new MeshConfigError(path, 'must be a string');
  return value;
}

function bool(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw new MeshConfigError(path, 'must be true or false');
  return value;
}

function uint32(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > UINT32_MAX) throw new MeshConfigError(path, 'must be an unsigned 32-bit integer');
  return value;
}

/** A proto Duration as istiod's decoder reads it (Go's `time.ParseDuration`), in nanoseconds. */
function duration(value: unknown, path: string): bigint {
  const nanos = typeof value === 'string' ? parseGoDuration(value) : undefined;
  if (nanos === undefined) throw new MeshConfigError(path, 'must be a duration such as 10s, 500ms or 1m30s');
  return nanos;
}

/** The keys of `value` not in `known`, as ignored field paths. */
function unknownKeys(value: JsonObject, known: readonly string[], path: string, ignored: string[]): void {
  for (const key of Object.keys(value)) if (!known.includes(key)) ignored.push(join(path, key));
}

/** `validateLocalities`: at most one trailing `*`, no empty parts, no locality covered by an earlier one. */
function validateLocalities(localities: readonly string[], path: string): void {
  const seen = new Map<string, Map<string, Set<string>>>();
  for (const locality of localities) {
    const stars = locality.split('*').length - 1;
    if (stars > 0 && (stars > 1 || !locality.endsWith('*'))) throw new MeshConfigError(path, `locality ${locality} wildcard '*' number can not exceed 1 and must be in the end`);
    const overlap = new MeshConfigError(path, `locality ${locality} overlap with previous specified ones`);
    if (seen.has('*')) throw overlap;
    const parts = locality.split('/');
    const items = parts.length > 3 ? [parts[0]!, parts[1]!, parts.slice(2).join('/')] : parts;
    if (items.some((item) => item === '')) throw new MeshConfigError(path, `locality ${locality} must not contain empty region/zone/subzone info`);
    const [region = '', zone = '', subZone = ''] = items;
    const zones = seen.get(region);
    if (items.length === 1) {
      if (zones !== undefined) throw overlap;
      seen.set(region, new Map([['*', new Set(['*'])]]));
    } else if (items.length === 2) {
      if (zones === undefined) seen.set(region, new Map([[zone, new Set(['*'])]]));
      else if (zones.has('*') || zones.has(zone)) throw overlap;
      else zones.set(zone, new Set(['*']));
    } else if (zones === undefined) {
      seen.set(region, new Map([[zone, new Set([subZone])]]));
    } else {
      if (zones.has('*')) throw overlap;
      const subZones = zones.get(zone);
      if (subZones === undefined) zones.set(zone, new Set([subZone]));
      else if (subZones.has('*') || subZones.has(subZone)) throw overlap;
      else subZones.add(subZone);
    }
  }
}

/** `failover` entries: a region each side, different, without wildcard (`what` is istiod's wording of the setting). */
function failoverOf(value: unknown, path: string, what: string, ignored: string[]): { from: string; to: string }[] {
  return list(value, path).map((item, index) => {
    const at = join(path, index);
    const entry = object(item, at);
    unknownKeys(entry, ['from', 'to'], at, ignored);
    const from = entry['from'] === undefined || entry['from'] === null ? '' : text(entry['from'], join(at, 'from'));
    const to = entry['to'] === undefined || entry['to'] === null ? '' : text(entry['to'], join(at, 'to'));
    if (from === to) throw new MeshConfigError(at, `${what} failover settings must specify different regions`);
    if (from.includes('/') || to.includes('/')) throw new MeshConfigError(at, `${what} failover only specify region`);
    if (from.includes('*') || to.includes('*')) throw new MeshConfigError(at, `${what} failover region should not contain '*' wildcard`);
    return { from, to };
  });
}

function stringList(value: unknown, path: string): string[] {
  return list(value, path).map((item, index) => text(item, join(path, index)));
}

/** `localityLbSetting` (`ValidateLocalityLbSetting` with outlier detection assumed, as for the mesh). */
function localityLbSettingOf(value: unknown, path: string, ignored: string[]): LocalityLbSettingJson {
  const setting = object(value, path);
  unknownKeys(setting, ['enabled', 'distribute', 'failover', 'failoverPriority'], path, ignored);
  const out: { enabled?: boolean; distribute?: { from: string; to: Record<string, number> }[]; failover?: { from: string; to: string }[]; failoverPriority?: string[] } = {};
  const present = (key: string): boolean => setting[key] !== undefined && setting[key] !== null;
  if (present('enabled')) out.enabled = bool(setting['enabled'], join(path, 'enabled'));
  if (present('distribute')) {
    const at = join(path, 'distribute');
    out.distribute = list(setting['distribute'], at).map((item, index) => {
      const itemPath = join(at, index);
      const rule = object(item, itemPath);
      unknownKeys(rule, ['from', 'to'], itemPath, ignored);
      const from = rule['from'] === undefined || rule['from'] === null ? '' : text(rule['from'], join(itemPath, 'from'));
      const to: Record<string, number> = {};
      if (rule['to'] !== undefined && rule['to'] !== null) {
        for (const [locality, weight] of Object.entries(object(rule['to'], join(itemPath, 'to')))) to[locality] = uint32(weight, join(join(itemPath, 'to'), locality));
      }
      return { from, to };
    });
  }
  if (present('failover')) out.failover = failoverOf(setting['failover'], join(path, 'failover'), 'locality lb', ignored);
  if (present('failoverPriority')) out.failoverPriority = stringList(setting['failoverPriority'], join(path, 'failoverPriority'));

  const distribute = out.distribute ?? [];
  const failover = out.failover ?? [];
  const failoverPriority = out.failoverPriority ?? [];
  if (distribute.length > 0 && failover.length > 0) throw new MeshConfigError(path, "can not simultaneously specify 'distribute' and 'failover'");
  if (failover.length > 0) {
    const topology = failoverPriority.find((label) => TOPOLOGY_LABELS.includes(label));
    if (topology !== undefined) throw new MeshConfigError(join(path, 'failoverPriority'), `can not simultaneously set 'failover' and topology label '${topology}' in 'failover_priority'`);
  }
  distribute.forEach((rule, index) => {
    const at = join(join(path, 'distribute'), index);
    let total = 0;
    for (const weight of Object.values(rule.to)) {
      if (weight <= 0 || weight > 100) throw new MeshConfigError(join(at, 'to'), 'locality weight must be in range [1, 100]');
      total += weight;
    }
    if (total !== 100) throw new MeshConfigError(join(at, 'to'), `total locality weight ${total} != 100`);
    validateLocalities(Object.keys(rule.to), join(at, 'to'));
  });
  validateLocalities(
    distribute.map((rule) => rule.from),
    join(path, 'distribute'),
  );
  return out;
}

/** `zoneAwareLbSetting` (`ValidateZoneAwareLbSetting`). */
function zoneAwareLbSettingOf(value: unknown, path: string, ignored: string[]): ZoneAwareLbSettingJson {
  const setting = object(value, path);
  unknownKeys(setting, ['enabled', 'failover', 'failoverPriority', 'minClusterSize'], path, ignored);
  const out: { enabled?: boolean; failover?: { from: string; to: string }[]; failoverPriority?: string[]; minClusterSize?: number } = {};
  const present = (key: string): boolean => setting[key] !== undefined && setting[key] !== null;
  if (present('enabled')) out.enabled = bool(setting['enabled'], join(path, 'enabled'));
  if (present('failoverPriority')) {
    out.failoverPriority = stringList(setting['failoverPriority'], join(path, 'failoverPriority'));
    const topology = out.failoverPriority.find((label) => TOPOLOGY_LABELS.includes(label));
    if (topology !== undefined) {
      throw new MeshConfigError(join(path, 'failoverPriority'), `'failover_priority' for zone aware lb must not use topology label '${topology}'; region- and zone-level routing are handled automatically`);
    }
  }
  if (present('failover')) out.failover = failoverOf(setting['failover'], join(path, 'failover'), 'zone aware lb', ignored);
  if (present('minClusterSize')) out.minClusterSize = uint32(setting['minClusterSize'], join(path, 'minClusterSize'));
  return out;
}

/**
 * `base` with the MeshConfig `config` (already parsed from YAML or JSON) applied. Throws
 * `MeshConfigError` on a value istiod would refuse, naming the field.
 */
export function meshSettingsFromMeshConfig(config: unknown, base: MeshSettings = DEFAULT_MESH_SETTINGS): MeshConfigResult {
  if (config === null || config === undefined) return { mesh: base, ignored: [] };
  const root = object(config, '');
  const ignored: string[] = [];
  const settings: { -readonly [K in keyof MeshSettings]: MeshSettings[K] } = { ...base };
  unknownKeys(root, MESH_CONFIG_FIELDS_READ, '', ignored);
  const value = (key: string): unknown => (root[key] === null ? undefined : root[key]);

  if (value('connectTimeout') !== undefined) {
    const nanos = duration(value('connectTimeout'), 'connectTimeout');
    // `ValidateConnectTimeout`: whole milliseconds, between 1ms and 1h.
    if (nanos % NANOS_PER_MS !== 0n) throw new MeshConfigError('connectTimeout', 'only durations to ms precision are supported');
    if (nanos < NANOS_PER_MS || nanos > 3_600_000n * NANOS_PER_MS) throw new MeshConfigError('connectTimeout', 'must be between 1ms and 1h');
    settings.connectTimeoutMs = Number(nanos / NANOS_PER_MS);
  }
  if (value('dnsRefreshRate') !== undefined) {
    const nanos = duration(value('dnsRefreshRate'), 'dnsRefreshRate');
    // istiod passes it on unchecked; Envoy refuses a `dns_refresh_rate` under 1ms, and Skiff keeps milliseconds.
    if (nanos < NANOS_PER_MS || nanos % NANOS_PER_MS !== 0n) throw new MeshConfigError('dnsRefreshRate', 'must be whole milliseconds, at least 1ms (Envoy refuses less)');
    settings.dnsRefreshRateMs = Number(nanos / NANOS_PER_MS);
  }
  if (value('defaultServiceExportTo') !== undefined) settings.defaultServiceExportTo = stringList(value('defaultServiceExportTo'), 'defaultServiceExportTo');
  if (value('trustDomain') !== undefined) settings.trustDomain = text(value('trustDomain'), 'trustDomain');
  // `ValidateTrustDomain`: DNS-1123 labels, a trailing dot allowed.
  const labels = settings.trustDomain.split('.');
  if (settings.trustDomain === '') throw new MeshConfigError('trustDomain', 'empty domain name not allowed');
  labels.forEach((label, index) => {
    if (index === labels.length - 1 && label === '') return;
    if (label.length > 63 || !DNS1123_LABEL.test(label)) throw new MeshConfigError('trustDomain', `trust domain name "${settings.trustDomain}" invalid`);
  });
  if (value('enableAutoMtls') !== undefined) settings.enableAutoMtls = bool(value('enableAutoMtls'), 'enableAutoMtls');
  if (value('localityLbSetting') !== undefined) settings.localityLbSetting = localityLbSettingOf(value('localityLbSetting'), 'localityLbSetting', ignored);
  if (value('zoneAwareLbSetting') !== undefined) settings.zoneAwareLbSetting = zoneAwareLbSettingOf(value('zoneAwareLbSetting'), 'zoneAwareLbSetting', ignored);
  return { mesh: settings, ignored: ignored.sort() };
}

/** `meshSettingsFromMeshConfig` on MeshConfig YAML (the ConfigMap's `mesh` key, or the file istiod's `--meshConfig` names). */
export function meshSettingsFromMeshConfigYaml(yaml: string, base: MeshSettings = DEFAULT_MESH_SETTINGS): MeshConfigResult {
  let config: unknown;
  try {
    config = parse(yaml);
  } catch (error) {
    throw new MeshConfigError('', `is not YAML: ${error instanceof Error ? error.message : String(error)}`);
  }
  return meshSettingsFromMeshConfig(config, base);
}
