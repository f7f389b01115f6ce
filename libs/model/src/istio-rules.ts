/**
 * istiod's shared validation rules, each returning istiod's exact message (or `undefined` when valid).
 * Sources, all istio/istio (1.30 and HEAD agree on every rule here):
 * - `pkg/config/validation/agent/validation.go`: ValidatePort, CheckDNS1123Preconditions,
 *   ValidateDNS1123Labels, ValidateFQDN, ValidateWildcardDomain, ValidatePartialWildCard,
 *   ValidateIPAddress, ValidateIPSubnet, ValidateDuration;
 * - `pkg/config/labels/instance.go`: IsDNS1123Label, IsWildcardDNS1123Label, Instance.Validate;
 * - `pkg/config/visibility/visibility.go` and `validation.go` validateExportTo;
 * - `validation.go`: ValidateUnixAddress, ValidatePortName, ValidatePercent.
 */
import { isIP, isIPv4, isIPv6 } from './net.js';

/** Go's `%q`: a double-quoted string with Go escapes (`strconv.Quote`). */
export function goQuote(value: string): string {
  let out = '"';
  for (const char of value) {
    const code = char.codePointAt(0) ?? 0;
    switch (char) {
      case '"':
        out += '\\"';
        break;
      case '\\':
        out += '\\\\';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\t':
        out += '\\t';
        break;
      default:
        if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
        else out += char;
    }
  }
  return `${out}"`;
}

/** Byte length in UTF-8: Go's `len(string)`, which istiod's length limits count. */
export function utf8Length(value: string): number {
  let bytes = 0;
  for (const char of value) {
    const code = char.codePointAt(0) ?? 0;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
  }
  return bytes;
}

const DNS1123_LABEL_FORMAT = '[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?';
const DNS1123_LABEL = new RegExp(`^${DNS1123_LABEL_FORMAT}$`);
/** `*`, a label with a leading `*` or `*-`, or a plain label. */
const WILDCARD_LABEL = new RegExp(`^(\\*|(\\*|\\*-)?${DNS1123_LABEL_FORMAT})$`);
const DNS1123_LABEL_MAX_LENGTH = 63;

/** A DNS-1123 label (upper case allowed, as istiod allows it). */
export function isDNS1123Label(value: string): boolean {
  return value.length <= DNS1123_LABEL_MAX_LENGTH && DNS1123_LABEL.test(value);
}

export function isWildcardDNS1123Label(value: string): boolean {
  return value.length <= DNS1123_LABEL_MAX_LENGTH && WILDCARD_LABEL.test(value);
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** Whether Go's `strconv.Atoi` parses `value` (sign allowed, 64-bit range). */
function goAtoiSucceeds(value: string): boolean {
  if (!/^[+-]?\d+$/.test(value)) return false;
  const number = BigInt(value);
  return number >= INT64_MIN && number <= INT64_MAX;
}

export function validatePort(port: number): string | undefined {
  return port >= 1 && port <= 65535 ? undefined : `port number ${port} must be in the range 1..65535`;
}

export function validatePortName(name: string): string | undefined {
  return isDNS1123Label(name) ? undefined : `invalid port name: ${name}`;
}

function checkDNS1123Preconditions(name: string): string | undefined {
  if (utf8Length(name) > 255) return `domain name ${goQuote(name)} too long (max 255)`;
  if (name.length === 0) return 'empty domain name not allowed';
  return undefined;
}

function validateDNS1123Labels(domain: string): string | undefined {
  const labels = domain.split('.');
  const topLevelDomain = labels[labels.length - 1] ?? '';
  if (goAtoiSucceeds(topLevelDomain)) {
    return `domain name ${goQuote(domain)} invalid (top level domain ${goQuote(topLevelDomain)} cannot be all-numeric)`;
  }
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i] ?? '';
    // A trailing dot (`istio.io.`) leaves an empty last label, which is allowed.
    if (i === labels.length - 1 && label === '') return undefined;
    if (!isDNS1123Label(label)) return `domain name ${goQuote(domain)} invalid (label ${goQuote(label)} invalid)`;
  }
  return undefined;
}

export function validateFQDN(fqdn: string): string | undefined {
  return checkDNS1123Preconditions(fqdn) ?? validateDNS1123Labels(fqdn);
}

/** A valid FQDN whose first label may be a wildcard (`*`, `*.foo`, `*foo`, `*-foo`). */
export function validateWildcardDomain(domain: string): string | undefined {
  const precondition = checkDNS1123Preconditions(domain);
  if (precondition !== undefined) return precondition;
  const dot = domain.indexOf('.');
  const first = dot === -1 ? domain : domain.slice(0, dot);
  if (!isWildcardDNS1123Label(first)) return `domain name ${goQuote(domain)} invalid (label ${goQuote(first)} invalid)`;
  // istiod checks the rest as its own domain, so its messages name only the rest.
  return dot === -1 ? undefined : validateDNS1123Labels(domain.slice(dot + 1));
}

/** Warning text for a wildcard that is not `*` or a leading `*.` label. */
export function validatePartialWildcard(host: string): string | undefined {
  return host.includes('*') && host.length !== 1 && !host.startsWith('*.') ? `partial wildcard ${goQuote(host)} not allowed` : undefined;
}

/** Go's `netip.ParsePrefix`: an address without a zone, `/`, and a bit count without leading zeros. */
export function isIPPrefix(value: string): boolean {
  const slash = value.lastIndexOf('/');
  if (slash === -1) return false;
  const address = value.slice(0, slash);
  const bits = value.slice(slash + 1);
  if (address.includes('%')) return false;
  if (!/^(0|[1-9]\d{0,2})$/.test(bits)) return false;
  const count = Number(bits);
  if (isIPv4(address)) return count <= 32;
  if (isIPv6(address)) return count <= 128;
  return false;
}

/** A ServiceEntry address: an IP, or a CIDR block when it has exactly one `/`. */
export function validateIPSubnet(subnet: string): string | undefined {
  if (subnet.split('/').length === 2) return isIPPrefix(subnet) ? undefined : `${subnet} is not a valid CIDR block`;
  return isIP(subnet) ? undefined : `${subnet} is not a valid IP`;
}

/** The path part of a `unix://` address. */
export function validateUnixAddress(address: string): string | undefined {
  if (address.length === 0) return 'unix address must not be empty';
  // Abstract sockets (`@name`) are fine; anything else must be an absolute path to a file.
  if (address.startsWith('@')) return undefined;
  if (!address.startsWith('/') || address.endsWith('/')) return `${address} is not an absolute path to a file`;
  return undefined;
}

const QUALIFIED_NAME_FORMAT = '(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const DNS_NAME_PREFIX_FORMAT = `${DNS1123_LABEL_FORMAT}(?:\\.${DNS1123_LABEL_FORMAT})*/`;
const LABEL_KEY = new RegExp(`^(${DNS_NAME_PREFIX_FORMAT})?(${QUALIFIED_NAME_FORMAT})$`);
const LABEL_VALUE = new RegExp(`^(${QUALIFIED_NAME_FORMAT})?$`);
const DNS_NAME_PREFIX_MAX_LENGTH = 253;

/** A label key without a DNS prefix, which is most of them: `LABEL_KEY` without its prefix group. */
const UNPREFIXED_LABEL_KEY = new RegExp(`^${QUALIFIED_NAME_FORMAT}$`);

function validateLabelKey(key: string): string | undefined {
  // Tested without the match array first: every label of every WorkloadEntry comes through here.
  if (key.length <= DNS1123_LABEL_MAX_LENGTH && UNPREFIXED_LABEL_KEY.test(key)) return undefined;
  const match = LABEL_KEY.exec(key);
  if (match === null) return `invalid tag key: ${goQuote(key)}`;
  const prefix = match[1] ?? '';
  if (prefix.length > 0 && prefix.length - 1 > DNS_NAME_PREFIX_MAX_LENGTH) return `invalid tag key: ${goQuote(key)} (DNS prefix is too long)`;
  if ((match[2] ?? '').length > DNS1123_LABEL_MAX_LENGTH) return `invalid tag key: ${goQuote(key)} (name is too long)`;
  return undefined;
}

/** istiod's label rules (`labels.Instance.Validate`): one message per bad key or value. */
export function validateLabels(labels: Readonly<Record<string, string>>): { key: string; reason: string }[] {
  const out: { key: string; reason: string }[] = [];
  for (const key in labels) {
    const keyError = validateLabelKey(key);
    if (keyError !== undefined) out.push({ key, reason: keyError });
    const value = labels[key] ?? '';
    if (!LABEL_VALUE.test(value)) out.push({ key, reason: `invalid tag value: ${goQuote(value)}` });
  }
  return out;
}

/** Selector labels: no empty key, no `*` anywhere (`ValidateAlphaWorkloadSelector`, `validateWorkloadSelector`). */
export function validateSelectorLabels(labels: Readonly<Record<string, string>>): { key: string; reason: string }[] {
  const out: { key: string; reason: string }[] = [];
  for (const [key, value] of Object.entries(labels)) {
    const pair = goQuote(`${key}=${value}`);
    if (key === '') out.push({ key, reason: `empty key is not supported in selector: ${pair}` });
    if (key.includes('*') || value.includes('*')) out.push({ key, reason: `wildcard is not supported in selector: ${pair}` });
  }
  return out;
}

export function validatePercent(value: number): string | undefined {
  return value < 0 || value > 100 ? `percentage ${value} is not in range 0..100` : undefined;
}

const MILLISECOND = 1_000_000n;

/** A proto duration in nanoseconds must be at least 1ms and whole milliseconds. */
export function validateDuration(nanos: bigint): string | undefined {
  if (nanos < MILLISECOND) return 'duration must be greater than 1ms';
  if (nanos % MILLISECOND !== 0n) return 'only durations to ms precision are supported';
  return undefined;
}

/** An exportTo finding: `index` names the offending entry, absent for findings about the whole list. */
export interface ExportToFinding {
  readonly index?: number;
  readonly reason: string;
}

function validateVisibility(value: string): string | undefined {
  if (value === '.' || value === '*') return undefined;
  if (value === '~') return 'exportTo ~ (none) is not allowed for Istio configuration objects';
  return isDNS1123Label(value) ? undefined : 'only .,*, or a valid DNS 1123 label is allowed as exportTo entry';
}

/**
 * istiod `validateExportTo`: `.`, `*`, a namespace, or `~` (ServiceEntry only); no duplicates (`.` counts
 * as the object's own namespace); `*` and `~` only alone.
 */
export function validateExportTo(
  namespace: string,
  exportTo: readonly string[],
  isServiceEntry: boolean,
  isDestinationRuleWithSelector: boolean,
): ExportToFinding[] {
  const findings: ExportToFinding[] = [];
  if (exportTo.length === 0) return findings;
  const seen = new Set<string>();
  exportTo.forEach((entry, index) => {
    const key = entry === '.' ? namespace : entry;
    if (seen.has(key)) {
      findings.push({
        index,
        reason: key !== entry ? `duplicate entries in exportTo: . and current namespace ${namespace}` : `duplicate entries in exportTo for entry ${entry}`,
      });
    } else if (isServiceEntry && entry === '~') {
      seen.add(key);
    } else {
      const reason = validateVisibility(key);
      if (reason === undefined) seen.add(key);
      else findings.push({ index, reason });
    }
  });
  if (isDestinationRuleWithSelector && seen.size > 0) {
    if (!seen.has(namespace)) findings.push({ reason: 'destination rule with workload selector cannot have exportTo beyond current namespace' });
    else if (seen.size > 1) findings.push({ reason: 'destination rule with workload selector cannot have multiple entries in exportTo' });
  }
  if (seen.has('*') && exportTo.length > 1) findings.push({ reason: 'cannot have both public (*) and non-public exportTo values for a resource' });
  if (seen.has('~') && exportTo.length > 1) findings.push({ reason: 'cannot export service entry to no one (~) and someone' });
  return findings;
}
