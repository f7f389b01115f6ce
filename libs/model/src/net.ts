/**
 * Address helpers without `node:net`: the model stays free of I/O modules, and these run on every
 * endpoint, so they are plain string checks.
 */

const IPV4_OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`^${IPV4_OCTET}(\\.${IPV4_OCTET}){3}$`);

/** True for a dotted-quad IPv4 literal (no leading zeros, like Go's `netip.ParseAddr`). */
export function isIPv4(address: string): boolean {
  return IPV4.test(address);
}

/** True for an IPv6 literal, including `::` compression, an embedded IPv4 tail and a `%zone`. */
export function isIPv6(address: string): boolean {
  let text = address;
  const zone = text.indexOf('%');
  if (zone !== -1) {
    if (zone === text.length - 1) return false;
    text = text.slice(0, zone);
  }
  if (!text.includes(':')) return false;
  let groups = 8;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!isIPv4(tail)) return false;
    text = `${text.slice(0, lastColon + 1)}0`;
    groups = 7;
  }
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const parse = (part: string): string[] | null => {
    if (part === '') return [];
    const items = part.split(':');
    return items.every((h) => /^[0-9a-fA-F]{1,4}$/.test(h)) ? items : null;
  };
  const head = parse(halves[0] ?? '');
  if (head === null) return false;
  if (halves.length === 1) return head.length === groups;
  const rest = parse(halves[1] ?? '');
  if (rest === null) return false;
  return head.length + rest.length < groups;
}

/** True for an IPv4 or IPv6 literal. */
export function isIP(address: string): boolean {
  return isIPv4(address) || isIPv6(address);
}
