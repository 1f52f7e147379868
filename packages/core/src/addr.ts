/**
 * IP and MAC addresses as bytes and as text: the one address representation every ironlb
 * package uses (core's IP arithmetic, layer2's ARP/NDP codecs, memberlist's wire addresses).
 *
 * Text that crosses a package boundary is branded (`IPText`, `MacText`) and only this module
 * makes it, so a value of those types is always canonical: dotted-quad IPv4, RFC 5952 IPv6
 * (§4: lower case, no leading zeros, the longest run of two or more zero groups as "::", the
 * first one on a tie; §5: an IPv4-mapped address keeps its dotted tail, "::ffff:192.0.2.1"),
 * lower-case colon-separated MACs. Equal addresses are equal strings, so they work as Map keys.
 *
 * The parsers never throw and never allocate on failure (ip-address builds an Error with a stack
 * trace for every rejected text), and the byte-level functions read through a DataView, so a
 * frame handler that makes one view per frame pays a few loads per address. They accept exactly
 * what Go's net.ParseIP and Node's net.isIP accept, minus zones: no leading-zero octets ("010"
 * is octal to some parsers and decimal to others), no "%zone", no "/len", no surrounding space.
 */

/** Address family, spelled like Kubernetes' `spec.ipFamilies` lowered: the one family type of ironlb. */
export type Family = 'ipv4' | 'ipv6';

/** Canonical IP address text; only this module's parsers and formatters produce it. */
export type IPText = string & { readonly __brand: 'IPText' };

/** Canonical MAC address text ("02:00:5e:00:53:01"); only this module's parsers and formatters produce it. */
export type MacText = string & { readonly __brand: 'MacText' };

/** A DataView over exactly the bytes of `b` (no copy), for the byte-level functions. */
export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** The family of canonical text: only IPv6 text holds a colon. */
export function familyOf(ip: IPText): Family {
  return ip.includes(':') ? 'ipv6' : 'ipv4';
}

// ---- IPv4 ----

/** Parses a dotted quad in s[start, end) to an unsigned 32-bit value, or -1. */
function scanIPv4(s: string, start: number, end: number): number {
  if (end - start < 7 || end - start > 15) return -1;
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      // No leading zeros: "010" is octal to some parsers and decimal to others.
      if (digits > 0 && part === 0) return -1;
      part = part * 10 + (c - 48);
      if (part > 255) return -1;
      digits++;
    } else if (c === 46 && digits > 0 && dots < 3) {
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}

/** Parses dotted-quad IPv4 text to its value as an unsigned 32-bit number, or -1 if it is not one. */
export function parseIPv4U32(text: string): number {
  return scanIPv4(text, 0, text.length);
}

/** Formats an unsigned 32-bit value as dotted-quad text. */
export function formatIPv4U32(n: number): IPText {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}` as IPText;
}

/** Formats the 4 bytes at `off` as dotted-quad text (RangeError past the view's end). */
export function formatIPv4At(v: DataView, off: number): IPText {
  return formatIPv4U32(v.getUint32(off));
}

// ---- IPv6 ----

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 32;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/**
 * Parses IPv6 text ("::" at most once, standing for one or more zero groups; an optional dotted
 * IPv4 tail; no zone) into the 16 bytes at out[off]. Returns false, with those bytes undefined,
 * when the text is not an IPv6 address.
 */
export function parseIPv6Into(text: string, out: Uint8Array, off = 0): boolean {
  const s = text;
  const n = s.length;
  // 45 = "0000:0000:0000:0000:0000:ffff:255.255.255.255", the longest valid text.
  if (n < 2 || n > 45 || out.length < off + 16) return false;
  let i = 0;
  let g = 0; // groups written
  let gap = -1; // group index where "::" stands, or -1
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return false;
    gap = 0;
    i = 2;
  }
  while (i < n) {
    if (g === 8) return false;
    const start = i;
    let v = 0;
    for (; i < n; i++) {
      const d = hexDigit(s.charCodeAt(i));
      if (d < 0) break;
      if (i - start === 4) return false; // a fifth digit
      v = (v << 4) | d;
    }
    if (i === start) return false; // an empty group: ":::", ":x", "x::y::"...
    if (i < n && s.charCodeAt(i) === 46) {
      // An IPv4 tail: the last two groups, written as a dotted quad that ends the text.
      if (g > 6) return false;
      const v4 = scanIPv4(s, start, n);
      if (v4 < 0) return false;
      out[off + 2 * g] = v4 >>> 24;
      out[off + 2 * g + 1] = (v4 >>> 16) & 255;
      out[off + 2 * g + 2] = (v4 >>> 8) & 255;
      out[off + 2 * g + 3] = v4 & 255;
      g += 2;
      break;
    }
    out[off + 2 * g] = v >> 8;
    out[off + 2 * g + 1] = v & 255;
    g++;
    if (i === n) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i === n) return false; // a trailing single ":"
    if (s.charCodeAt(i) === 58) {
      if (gap >= 0) return false; // a second "::"
      gap = g;
      i++;
    }
  }
  if (gap < 0) return g === 8;
  if (g > 7) return false; // "::" stands for at least one group
  // Move the groups after "::" to the end and zero the ones it stands for.
  const tail = 2 * (g - gap);
  out.copyWithin(off + 16 - tail, off + 2 * gap, off + 2 * g);
  out.fill(0, off + 2 * gap, off + 16 - tail);
  return true;
}

/** Whether the 16 bytes at `off` are an IPv4-mapped IPv6 address (::ffff:0:0/96). */
export function isIPv4MappedAt(v: DataView, off: number): boolean {
  return v.getUint32(off) === 0 && v.getUint32(off + 4) === 0 && v.getUint32(off + 8) === 0xffff;
}

/**
 * Formats the 16 bytes at `off` in RFC 5952 canonical form; an IPv4-mapped address keeps its
 * dotted tail (§5). Runs once per NDP frame on the receive path: no arrays, one string built.
 */
export function formatIPv6At(v: DataView, off: number): IPText {
  if (isIPv4MappedAt(v, off)) return `::ffff:${formatIPv4U32(v.getUint32(off + 12))}` as IPText;
  // §4.2: the longest run of zero groups, at least two long; the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (v.getUint16(off + 2 * i) !== 0) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < 8 && v.getUint16(off + 2 * j) === 0) j++;
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
    // A separator before every group but the first and the one right after "::".
    if (i > 0 && i !== bestStart + bestLen) s += ':';
    s += v.getUint16(off + 2 * i).toString(16);
  }
  return s as IPText;
}

// ---- either family ----

/** Parses IPv4 text to 4 bytes or IPv6 text to 16 (an IPv4-mapped text stays 16); null otherwise. */
export function parseIPBytes(text: string): Uint8Array | null {
  // Pick the family by the colon: a failed IPv4 scan first would only cost time.
  if (!text.includes(':')) {
    const n = parseIPv4U32(text);
    if (n < 0) return null;
    return Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
  }
  const out = new Uint8Array(16);
  return parseIPv6Into(text, out) ? out : null;
}

/** Formats 4 bytes as IPv4 or 16 as IPv6 (RFC 5952, mapped addresses with a dotted tail); null for other lengths. */
export function formatIPBytes(b: Uint8Array): IPText | null {
  if (b.length === 4) return formatIPv4At(viewOf(b), 0);
  if (b.length === 16) return formatIPv6At(viewOf(b), 0);
  return null;
}

// One scratch buffer for text → canonical text: synchronous, so never shared by two calls.
const scratch = new Uint8Array(16);
const scratchView = viewOf(scratch);

/** The canonical text of an IPv4 or IPv6 address, or null when `text` is not one. */
export function parseIPText(text: string): IPText | null {
  if (!text.includes(':')) {
    const n = parseIPv4U32(text);
    return n < 0 ? null : formatIPv4U32(n);
  }
  return parseIPv6Into(text, scratch) ? formatIPv6At(scratchView, 0) : null;
}

/** An address as text and family, for callers that key maps by the text and branch on the family. */
export interface ParsedIP {
  /** "ipv4" or "ipv6" (IPv4-mapped IPv6 text is IPv6). */
  readonly family: Family;
  /** Canonical text. */
  readonly text: IPText;
}

/** parseIPText with the family; null when `text` is not an address. */
export function parseIPAddress(text: string): ParsedIP | null {
  const t = parseIPText(text);
  return t === null ? null : { family: familyOf(t), text: t };
}

/** The value of IPv6 text as a 128-bit bigint, or -1n when it is not IPv6 text. */
export function parseIPv6BigInt(text: string): bigint {
  if (!parseIPv6Into(text, scratch)) return -1n;
  return (scratchView.getBigUint64(0) << 64n) | scratchView.getBigUint64(8);
}

/** Formats a 128-bit value (taken modulo 2^128) as IPv6 text. */
export function formatIPv6BigInt(value: bigint): IPText {
  scratchView.setBigUint64(0, BigInt.asUintN(64, value >> 64n));
  scratchView.setBigUint64(8, BigInt.asUintN(64, value));
  return formatIPv6At(scratchView, 0);
}

// ---- MAC ----

/**
 * Parses six hex bytes separated by ':' or '-' ("02:00:5e:00:53:01", "2-0-5E-0-53-1") into the
 * 6 bytes at out[off]; false, with those bytes undefined, when the text is not a MAC.
 */
export function parseMacInto(text: string, out: Uint8Array, off = 0): boolean {
  const s = text;
  const n = s.length;
  if (n < 11 || n > 17 || out.length < off + 6) return false;
  let k = 0; // bytes written
  let i = 0;
  for (;;) {
    const hi = hexDigit(s.charCodeAt(i));
    if (hi < 0) return false;
    const lo = i + 1 < n ? hexDigit(s.charCodeAt(i + 1)) : -1;
    if (lo < 0) {
      out[off + k] = hi;
      i += 1;
    } else {
      out[off + k] = (hi << 4) | lo;
      i += 2;
    }
    k++;
    if (k === 6) return i === n;
    const c = s.charCodeAt(i);
    if (c !== 58 && c !== 45) return false;
    i++;
  }
}

/** Parses a MAC (see parseMacInto) into 6 new bytes, or null. */
export function parseMac(text: string): Uint8Array | null {
  const out = new Uint8Array(6);
  return parseMacInto(text, out) ? out : null;
}

const HEX2: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hex2(b: number): string {
  // HEX2 has all 256 entries; the fallback only satisfies noUncheckedIndexedAccess.
  return HEX2[b] ?? '00';
}

/** Formats the 6 bytes at `off` as a lower-case colon-separated MAC (RangeError past the view's end). */
export function formatMacAt(v: DataView, off: number): MacText {
  return `${hex2(v.getUint8(off))}:${hex2(v.getUint8(off + 1))}:${hex2(v.getUint8(off + 2))}:${hex2(v.getUint8(off + 3))}:${hex2(v.getUint8(off + 4))}:${hex2(v.getUint8(off + 5))}` as MacText;
}

/** The canonical text of a MAC, or null when `text` is not one. */
export function parseMacText(text: string): MacText | null {
  return parseMacInto(text, scratch) ? formatMacAt(scratchView, 0) : null;
}
