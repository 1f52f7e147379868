// The address helpers the codecs have always exported, now thin wrappers over @ironlb/core's one
// address module (addr.ts there): same names and behaviour, except that IPv4-mapped IPv6 bytes
// format as "::ffff:192.0.2.1" (RFC 5952 §5, as core always did) instead of "::ffff:c000:201".
// Per-frame code (responder.ts, conflict.ts) calls core's DataView functions directly, with one
// view per frame; these wrappers make a view per call and suit the string codecs and tests.
import { type IPText, type MacText, formatIPv4At, formatIPv6At, formatMacAt, parseIPAddress, parseIPBytes, parseIPv4U32, parseIPv6Into, parseMac as parseMacOrNull, viewOf } from '@ironlb/core';
import { CodecError } from './errors.js';

export type { Family, IPText, MacText } from '@ironlb/core';

/** The Ethernet broadcast address. */
export const BROADCAST_MAC: MacText = formatMacAt(viewOf(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), 0);
/** The all-zero MAC, used as the unknown target hardware address in ARP requests. */
export const ZERO_MAC: MacText = formatMacAt(viewOf(new Uint8Array(6)), 0);

/** Parses "aa:bb:cc:dd:ee:ff" (or with '-') into 6 bytes; throws CodecError otherwise. */
export function parseMac(s: string): Uint8Array {
  const b = parseMacOrNull(s);
  if (b === null) throw new CodecError('badAddress', `invalid MAC address "${s}"`);
  return b;
}

/** Formats 6 bytes at `off` as a lower-case colon-separated MAC. */
export function formatMac(b: Uint8Array, off = 0): MacText {
  return formatMacAt(viewOf(b), off);
}

/** Parses a dotted-quad IPv4 address into 4 bytes, or returns null. */
export function tryParseIPv4(s: string): Uint8Array | null {
  const n = parseIPv4U32(s);
  return n < 0 ? null : Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
}

/** Parses a dotted-quad IPv4 address into 4 bytes; throws CodecError otherwise. */
export function parseIPv4(s: string): Uint8Array {
  const b = tryParseIPv4(s);
  if (b === null) throw new CodecError('badAddress', `invalid IPv4 address "${s}"`);
  return b;
}

/** Formats 4 bytes at `off` as a dotted quad. */
export function formatIPv4(b: Uint8Array, off = 0): IPText {
  return formatIPv4At(viewOf(b), off);
}

/** Parses an IPv6 address (with '::' and an optional dotted IPv4 tail, no zone) into 16 bytes, or null. */
export function tryParseIPv6(s: string): Uint8Array | null {
  const out = new Uint8Array(16);
  return parseIPv6Into(s, out) ? out : null;
}

/** Parses an IPv6 address into 16 bytes; throws CodecError otherwise. */
export function parseIPv6(s: string): Uint8Array {
  const b = tryParseIPv6(s);
  if (b === null) throw new CodecError('badAddress', `invalid IPv6 address "${s}"`);
  return b;
}

/** Formats 16 bytes at `off` in RFC 5952 canonical form (longest zero run of ≥ 2 groups as '::', mapped IPv4 dotted). */
export function formatIPv6(b: Uint8Array, off = 0): IPText {
  return formatIPv6At(viewOf(b), off);
}

/** An IP address string normalised for use as a key, with its family; null if not an IP. */
export interface NormalizedIp {
  /** 4 or 6 (the IP version; core's `Family` spells it "ipv4" | "ipv6"). */
  readonly family: 4 | 6;
  /** Canonical text form. */
  readonly text: IPText;
  /** Network-order bytes (4 or 16). */
  readonly bytes: Uint8Array;
}

/** Normalises an IPv4 or IPv6 string (IPv6 to RFC 5952), or returns null if it is neither. */
export function normalizeIp(s: string): NormalizedIp | null {
  const p = parseIPAddress(s);
  const bytes = p === null ? null : parseIPBytes(p.text);
  if (p === null || bytes === null) return null;
  return { family: p.family === 'ipv4' ? 4 : 6, text: p.text, bytes };
}
