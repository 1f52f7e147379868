// Address helpers shared by the codecs. Addresses cross module boundaries as canonical strings
// (lower-case MAC, dotted IPv4, RFC 5952 IPv6) so they can be Map keys, and as bytes only
// inside the codecs.
import { CodecError } from './errors.js';

/** The Ethernet broadcast address. */
export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';
/** The all-zero MAC, used as the unknown target hardware address in ARP requests. */
export const ZERO_MAC = '00:00:00:00:00:00';

const HEX = '0123456789abcdef';

/** Parses "aa:bb:cc:dd:ee:ff" (or with '-') into 6 bytes; throws CodecError otherwise. */
export function parseMac(s: string): Uint8Array {
  const parts = s.split(/[:-]/);
  if (parts.length !== 6) throw new CodecError('badAddress', `invalid MAC address "${s}"`);
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) {
    const p = parts[i] ?? '';
    if (!/^[0-9a-fA-F]{1,2}$/.test(p)) throw new CodecError('badAddress', `invalid MAC address "${s}"`);
    out[i] = parseInt(p, 16);
  }
  return out;
}

/** Formats 6 bytes at `off` as a lower-case colon-separated MAC. */
export function formatMac(b: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < 6; i++) {
    const v = b[off + i] ?? 0;
    s += (i ? ':' : '') + HEX[v >> 4] + HEX[v & 15];
  }
  return s;
}

/** Parses a dotted-quad IPv4 address into 4 bytes, or returns null. */
export function tryParseIPv4(s: string): Uint8Array | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    // No leading zeros: "010" is octal to some parsers and decimal to others.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    out[i] = v;
  }
  return out;
}

/** Parses a dotted-quad IPv4 address into 4 bytes; throws CodecError otherwise. */
export function parseIPv4(s: string): Uint8Array {
  const b = tryParseIPv4(s);
  if (b === null) throw new CodecError('badAddress', `invalid IPv4 address "${s}"`);
  return b;
}

/** Formats 4 bytes at `off` as a dotted quad. */
export function formatIPv4(b: Uint8Array, off = 0): string {
  return `${b[off] ?? 0}.${b[off + 1] ?? 0}.${b[off + 2] ?? 0}.${b[off + 3] ?? 0}`;
}

/** Parses an IPv6 address (with '::' and an optional dotted IPv4 tail, no zone) into 16 bytes, or null. */
export function tryParseIPv6(s: string): Uint8Array | null {
  if (s.length < 2 || s.length > 45) return null;
  let text = s;
  const lastColon = text.lastIndexOf(':');
  if (lastColon < 0) return null;
  if (text.includes('.', lastColon)) {
    // Rewrite an embedded IPv4 tail ("::ffff:1.2.3.4") as two hex groups, then parse as usual.
    const v4 = tryParseIPv4(text.slice(lastColon + 1));
    if (v4 === null) return null;
    const hi = (((v4[0] ?? 0) << 8) | (v4[1] ?? 0)).toString(16);
    const lo = (((v4[2] ?? 0) << 8) | (v4[3] ?? 0)).toString(16);
    text = `${text.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parseGroups(halves[0] ?? '');
  const rest = halves.length === 2 ? parseGroups(halves[1] ?? '') : [];
  if (head === null || rest === null) return null;
  let groups: number[];
  if (halves.length === 2) {
    // '::' stands for at least one zero group.
    if (head.length + rest.length > 7) return null;
    groups = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  } else {
    if (head.length !== 8) return null;
    groups = head;
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** Parses an IPv6 address into 16 bytes; throws CodecError otherwise. */
export function parseIPv6(s: string): Uint8Array {
  const b = tryParseIPv6(s);
  if (b === null) throw new CodecError('badAddress', `invalid IPv6 address "${s}"`);
  return b;
}

/** Formats 16 bytes at `off` in RFC 5952 canonical form (longest zero run of ≥ 2 groups as '::'). */
export function formatIPv6(b: Uint8Array, off = 0): string {
  // Runs once per NDP frame on the receive path: no intermediate arrays.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if ((b[off + 2 * i] ?? 0) !== 0 || (b[off + 2 * i + 1] ?? 0) !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && (b[off + 2 * j] ?? 0) === 0 && (b[off + 2 * j + 1] ?? 0) === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      s += '::';
      i += bestLen - 1;
      continue;
    }
    if (s !== '' && !s.endsWith(':')) s += ':';
    s += (((b[off + 2 * i] ?? 0) << 8) | (b[off + 2 * i + 1] ?? 0)).toString(16);
  }
  return s;
}

/** An IP address string normalised for use as a key, with its family; null if not an IP. */
export interface NormalizedIp {
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** Canonical text form. */
  readonly text: string;
  /** Network-order bytes (4 or 16). */
  readonly bytes: Uint8Array;
}

/** Normalises an IPv4 or IPv6 string (IPv6 to RFC 5952), or returns null if it is neither. */
export function normalizeIp(s: string): NormalizedIp | null {
  const v4 = tryParseIPv4(s);
  if (v4) return { family: 4, text: formatIPv4(v4), bytes: v4 };
  const v6 = tryParseIPv6(s);
  if (v6) return { family: 6, text: formatIPv6(v6), bytes: v6 };
  return null;
}
