/**
 * IP arithmetic on BigInt values. Every address is `{family, value}`; ranges are inclusive
 * `[first, last]` so CIDRs and `start-end` ranges share one representation and counting a /64
 * is a subtraction, never an enumeration. Text goes through addr.ts, the one parser and
 * formatter of every package: it rejects leading-zero octets, like Go's net.ParseIP, and writes
 * IPv6 in the RFC 5952 canonical form that MetalLB (Go's net.IP.String) writes to status.
 */
import { formatIPv4U32, formatIPv6BigInt, parseIPv4U32, parseIPv6BigInt, type Family, type IPText } from './addr.js';

export type { Family, IPText } from './addr.js';

/** One IP address: its family and its numeric value (0 ≤ value < 2^32 or 2^128). */
export interface IP {
  readonly family: Family;
  readonly value: bigint;
}

/** An inclusive, non-empty range of addresses of one family, with the text it was parsed from. */
export interface IPRange {
  readonly family: Family;
  readonly first: bigint;
  readonly last: bigint;
  /** The text as written in the config (CIDR, `start-end` or bare IP), for error messages. */
  readonly text: string;
}

/** Number of bits in an address of the family. */
export function familyBits(family: Family): 32 | 128 {
  return family === 'ipv4' ? 32 : 128;
}

/** Parses one IPv4 or IPv6 address (no prefix, no zone); null when the text is not an address. */
export function parseIP(text: string): IP | null {
  // Pick the family by the colon; neither parser throws (ip-address, used here before, built and
  // caught an Error with a stack trace per rejected text: a 1000-Service election took
  // 140-400 ms, mostly in AddressError).
  if (!text.includes(':')) {
    const n = parseIPv4U32(text);
    return n < 0 ? null : { family: 'ipv4', value: BigInt(n) };
  }
  const v = parseIPv6BigInt(text);
  return v < 0n ? null : { family: 'ipv6', value: v };
}

/** Formats an address: dotted quad for IPv4, RFC 5952 canonical text for IPv6 (IPv4-mapped with a dotted tail). */
export function formatIP(ip: IP): IPText {
  return ip.family === 'ipv4' ? formatIPv4U32(Number(ip.value & 0xffffffffn)) : formatIPv6BigInt(ip.value);
}

/** Formats a range the canonical way: a single address, a CIDR if it is exactly one, else `a-b`. */
export function formatRange(r: Pick<IPRange, 'family' | 'first' | 'last'>): string {
  const first = formatIP({ family: r.family, value: r.first });
  if (r.first === r.last) return first;
  const size = r.last - r.first + 1n;
  // A CIDR: the size is a power of two and `first` is aligned to it.
  if ((size & (size - 1n)) === 0n && r.first % size === 0n) {
    const hostBits = size.toString(2).length - 1;
    return `${first}/${familyBits(r.family) - hostBits}`;
  }
  return `${first}-${formatIP({ family: r.family, value: r.last })}`;
}

/** Result of parsing address text: a range, or a message saying what is wrong with it. */
export type RangeParse = { readonly ok: true; readonly range: IPRange } | { readonly ok: false; readonly error: string };

/**
 * Parses a CIDR (`10.0.0.0/24`, host bits must be zero, as MetalLB's net.ParseCIDR check
 * demands), a `start-end` range (same family, start ≤ end), or a bare address (one IP).
 * Error messages quote the text and say why, without a pool name (the caller adds it).
 */
export function parseRange(text: string): RangeParse {
  const t = text.trim();
  if (t.includes('/')) return parseCIDR(t);
  const dash = t.indexOf('-');
  if (dash >= 0) {
    const a = t.slice(0, dash).trim();
    const b = t.slice(dash + 1).trim();
    const first = parseIP(a);
    const last = parseIP(b);
    if (first === null) return { ok: false, error: `range ${t}: ${JSON.stringify(a)} is not an IP address` };
    if (last === null) return { ok: false, error: `range ${t}: ${JSON.stringify(b)} is not an IP address` };
    if (first.family !== last.family) {
      return { ok: false, error: `range ${t} mixes ${familyName(first.family)} and ${familyName(last.family)}` };
    }
    if (first.value > last.value) return { ok: false, error: `range ${t} is reversed` };
    return { ok: true, range: { family: first.family, first: first.value, last: last.value, text: t } };
  }
  const ip = parseIP(t);
  if (ip === null) return { ok: false, error: `${JSON.stringify(t)} is not a CIDR, a start-end range or an IP address` };
  return { ok: true, range: { family: ip.family, first: ip.value, last: ip.value, text: t } };
}

function parseCIDR(t: string): RangeParse {
  const slash = t.indexOf('/');
  const addrText = t.slice(0, slash);
  const lenText = t.slice(slash + 1);
  const ip = parseIP(addrText);
  if (ip === null) return { ok: false, error: `CIDR ${t}: ${JSON.stringify(addrText)} is not an IP address` };
  const bits = familyBits(ip.family);
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > bits) {
    return { ok: false, error: `CIDR ${t}: prefix length must be 0-${bits}` };
  }
  const hostBits = BigInt(bits - Number(lenText));
  const size = 1n << hostBits;
  if (ip.value % size !== 0n) {
    return {
      ok: false,
      error: `CIDR ${t} has host bits set (did you mean ${formatIP({ family: ip.family, value: ip.value - (ip.value % size) })}/${lenText}?)`,
    };
  }
  return { ok: true, range: { family: ip.family, first: ip.value, last: ip.value + size - 1n, text: t } };
}

/** "IPv4" or "IPv6", for messages. */
export function familyName(family: Family): 'IPv4' | 'IPv6' {
  return family === 'ipv4' ? 'IPv4' : 'IPv6';
}

/** Number of addresses in the range (a bigint: a /64 holds 2^64). */
export function rangeSize(r: Pick<IPRange, 'first' | 'last'>): bigint {
  return r.last - r.first + 1n;
}

/** True when the address is inside the range (same family, first ≤ value ≤ last). */
export function rangeContains(r: Pick<IPRange, 'family' | 'first' | 'last'>, ip: IP): boolean {
  return r.family === ip.family && ip.value >= r.first && ip.value <= r.last;
}

/** True when two ranges share at least one address. */
export function rangesOverlap(a: Pick<IPRange, 'family' | 'first' | 'last'>, b: Pick<IPRange, 'family' | 'first' | 'last'>): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

/**
 * True for IPv4 x.x.x.0 and x.x.x.255: some old client stacks and firmware treat them as
 * network/broadcast addresses whatever the real prefix is, so pools may ask to avoid them.
 */
export function isBuggyIP(ip: IP): boolean {
  if (ip.family !== 'ipv4') return false;
  const low = ip.value & 0xffn;
  return low === 0n || low === 255n;
}

/** How many "buggy" (x.x.x.0 / x.x.x.255) IPv4 addresses a range holds, without enumerating it. */
export function countBuggy(r: Pick<IPRange, 'family' | 'first' | 'last'>): bigint {
  if (r.family !== 'ipv4') return 0n;
  // Multiples of 256 in [first, last], plus values ≡ 255 (mod 256) in the same interval.
  const countCongruent = (rem: bigint): bigint => {
    const upTo = (x: bigint): bigint => (x < rem ? 0n : (x - rem) / 256n + 1n); // count in [0, x]
    return upTo(r.last) - (r.first === 0n ? 0n : upTo(r.first - 1n));
  };
  return countCongruent(0n) + countCongruent(255n);
}

/** A block of addresses that is never a valid LoadBalancer IP, and why. */
export interface ReservedBlock {
  readonly family: Family;
  readonly first: bigint;
  readonly last: bigint;
  /** CIDR text, e.g. "127.0.0.0/8". */
  readonly text: string;
  /** Why nobody may use it as a Service IP (for error messages). */
  readonly why: string;
}

function block(cidr: string, why: string): ReservedBlock {
  const r = parseRange(cidr);
  if (!r.ok) throw new Error(`bad reserved block ${cidr}`);
  return { family: r.range.family, first: r.range.first, last: r.range.last, text: cidr, why };
}

/**
 * Addresses ironlb never hands out, whatever a pool says: answering ARP/NDP for them would
 * hijack the host's own loopback, a multicast group or a link-local neighbour, and Kubernetes
 * clients treat 0.0.0.0 / :: as "no address". A pool that overlaps one of these is refused
 * (a /24's .0 and .255 stay allowed: that is what avoid-buggy-ips is for).
 */
export const RESERVED_BLOCKS: readonly ReservedBlock[] = Object.freeze([
  block('0.0.0.0/8', '"this network", RFC 791'),
  block('127.0.0.0/8', 'IPv4 loopback'),
  block('169.254.0.0/16', 'IPv4 link-local (RFC 3927)'),
  block('224.0.0.0/4', 'IPv4 multicast'),
  block('240.0.0.0/4', 'reserved, and the limited broadcast 255.255.255.255'),
  block('::/128', 'the IPv6 unspecified address'),
  block('::1/128', 'IPv6 loopback'),
  block('::ffff:0:0/96', 'IPv4-mapped IPv6'),
  block('fe80::/10', 'IPv6 link-local'),
  block('ff00::/8', 'IPv6 multicast'),
]);

/** The first reserved block the range overlaps, if any (a handful of comparisons). */
export function reservedOverlap(r: Pick<IPRange, 'family' | 'first' | 'last'>): ReservedBlock | undefined {
  return RESERVED_BLOCKS.find((b) => rangesOverlap(b, r));
}

/** True for IPv6 text of an IPv4-mapped address or range (::ffff:a.b.c.d). */
export function isIPv4Mapped(r: Pick<IPRange, 'family' | 'first' | 'last'>): boolean {
  return r.family === 'ipv6' && r.first >> 32n === 0xffffn && r.last >> 32n === 0xffffn;
}

/**
 * `text` as a JSON string literal, cut to `max` characters (with "…" and the full length) so a
 * hostile or mistaken 1 MB value never lands whole in a log line or an Event.
 */
export function quote(text: string, max = 64): string {
  if (text.length <= max) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, max))}… (${text.length} characters)`;
}
