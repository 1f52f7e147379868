// IPv6 header + ICMPv6 Neighbor Solicitation / Advertisement (RFC 8200, RFC 4443, RFC 4861).
//
// IPv6 header (40 bytes):
//   0  version(4) traffic class(8) flow label(20)
//   4  payload length uint16
//   6  next header    uint8   58 = ICMPv6
//   7  hop limit      uint8   255 for all NDP (RFC 4861 §7.1: proves the sender is on-link)
//   8  source         16 bytes
//  24  destination    16 bytes
// NS / NA (ICMPv6, 24 bytes + options):
//   0  type uint8 (135 NS, 136 NA)   1 code uint8 (0)   2 checksum uint16
//   4  NS: reserved uint32; NA: R|S|O flags in the top 3 bits, then 29 reserved bits
//   8  target address 16 bytes
//  24  options: type uint8, length uint8 (units of 8 bytes, 0 is invalid), data
import { type IPText, type MacText, formatIPv6At, formatMacAt, viewOf } from '@ironlb/core';
import { parseIPv6, parseMac } from './addr.js';
import { CodecError } from './errors.js';
import { ETHERTYPE_IPV6, decodeEthernet, encodeEthernet } from './ethernet.js';
import type { EthernetFrame } from './ethernet.js';

/** IPv6 next-header value of ICMPv6. */
export const NEXT_HEADER_ICMPV6 = 58;
/** ICMPv6 type of a Neighbor Solicitation. */
export const ICMPV6_NEIGHBOR_SOLICITATION = 135;
/** ICMPv6 type of a Neighbor Advertisement. */
export const ICMPV6_NEIGHBOR_ADVERTISEMENT = 136;
/** NDP option: source link-layer address. */
export const OPTION_SOURCE_LLA = 1;
/** NDP option: target link-layer address. */
export const OPTION_TARGET_LLA = 2;
/** The all-nodes link-local multicast group, destination of unsolicited NAs. */
export const ALL_NODES = 'ff02::1';
/** The unspecified address, the source of Duplicate Address Detection probes. */
export const UNSPECIFIED = '::';
/** Length of the fixed IPv6 header. */
export const IPV6_HEADER_LEN = 40;

/** A decoded IPv6 header with its payload (extension headers are not parsed). */
export interface Ipv6Packet {
  /** Traffic class. */
  readonly trafficClass: number;
  /** Flow label (20 bits). */
  readonly flowLabel: number;
  /** Next header (58 for ICMPv6). */
  readonly nextHeader: number;
  /** Hop limit. */
  readonly hopLimit: number;
  /** Source address, RFC 5952 text. */
  readonly src: string;
  /** Destination address, RFC 5952 text. */
  readonly dst: string;
  /** Exactly `payload length` bytes; a view into the input. */
  readonly payload: Uint8Array;
}

/** Decodes an IPv6 header; the payload is cut to the header's payload length (dropping padding). */
export function decodeIpv6(b: Uint8Array): Ipv6Packet | CodecError {
  if (b.length < IPV6_HEADER_LEN) {
    return new CodecError('truncated', `ipv6: ${b.length} bytes, need ${IPV6_HEADER_LEN}`);
  }
  const v = viewOf(b);
  const word0 = v.getUint32(0);
  if (word0 >>> 28 !== 6) return new CodecError('badIpVersion', `ipv6: version ${word0 >>> 28}`);
  const payloadLen = v.getUint16(4);
  if (IPV6_HEADER_LEN + payloadLen > b.length) {
    return new CodecError('badPayloadLength', `ipv6: payload length ${payloadLen} exceeds the ${b.length - IPV6_HEADER_LEN} bytes present`);
  }
  return {
    trafficClass: (word0 >>> 20) & 0xff,
    flowLabel: word0 & 0xfffff,
    nextHeader: v.getUint8(6),
    hopLimit: v.getUint8(7),
    src: formatIPv6At(v, 8),
    dst: formatIPv6At(v, 24),
    payload: b.subarray(IPV6_HEADER_LEN, IPV6_HEADER_LEN + payloadLen),
  };
}

/** Fields needed to encode an IPv6 header; traffic class and flow label default to 0. */
export interface Ipv6Header {
  /** Next header. */
  readonly nextHeader: number;
  /** Hop limit. */
  readonly hopLimit: number;
  /** Source address. */
  readonly src: string;
  /** Destination address. */
  readonly dst: string;
  /** Traffic class, default 0. */
  readonly trafficClass?: number;
  /** Flow label, default 0. */
  readonly flowLabel?: number;
}

/** Encodes an IPv6 header followed by `payload`. */
export function encodeIpv6(h: Ipv6Header, payload: Uint8Array): Uint8Array {
  if (payload.length > 0xffff) throw new CodecError('badPayloadLength', `ipv6: payload of ${payload.length} bytes`);
  const tc = h.trafficClass ?? 0;
  const fl = h.flowLabel ?? 0;
  const out = new Uint8Array(IPV6_HEADER_LEN + payload.length);
  out[0] = 0x60 | ((tc >> 4) & 0x0f);
  out[1] = ((tc & 0x0f) << 4) | ((fl >> 16) & 0x0f);
  out[2] = (fl >> 8) & 0xff;
  out[3] = fl & 0xff;
  out[4] = payload.length >> 8;
  out[5] = payload.length & 0xff;
  out[6] = h.nextHeader & 0xff;
  out[7] = h.hopLimit & 0xff;
  out.set(parseIPv6(h.src), 8);
  out.set(parseIPv6(h.dst), 24);
  out.set(payload, IPV6_HEADER_LEN);
  return out;
}

/**
 * The ICMPv6 checksum (RFC 4443 §2.3): one's-complement sum over the pseudo-header (source,
 * destination, upper-layer length, next header 58) and the message with its checksum field
 * taken as is. Computing over a message whose checksum field holds a valid checksum yields 0.
 */
export function icmpv6Checksum(src: Uint8Array, dst: Uint8Array, message: Uint8Array): number {
  return icmpv6ChecksumAt(src, 0, dst, 0, message, 0, message.length);
}

/**
 * icmpv6Checksum over byte ranges (source at `so`, destination at `dof`, `len` message bytes at
 * `mo`), so the receive path can check a frame in place without views.
 */
export function icmpv6ChecksumAt(src: Uint8Array, so: number, dst: Uint8Array, dof: number, msg: Uint8Array, mo: number, len: number): number {
  return finishChecksum(sum16(viewOf(src), so, 16) + sum16(viewOf(dst), dof, 16) + sum16(viewOf(msg), mo, len), len);
}

/**
 * icmpv6ChecksumAt when source, destination and message are all in one frame's view: what the
 * receive path and the replies it builds use, with no view made per call.
 */
export function icmpv6ChecksumIn(v: DataView, so: number, dof: number, mo: number, len: number): number {
  return finishChecksum(sum16(v, so, 16) + sum16(v, dof, 16) + sum16(v, mo, len), len);
}

/** Sum of the big-endian 16-bit words of `len` bytes at `off`, an odd last byte padded with zero. */
function sum16(v: DataView, off: number, len: number): number {
  const end = off + len;
  let sum = 0;
  let i = off;
  for (; i + 1 < end; i += 2) sum += v.getUint16(i);
  if (i < end) sum += v.getUint8(i) << 8;
  return sum;
}

/** Adds the pseudo-header's length and next header to `sum`, folds the carries and complements. */
function finishChecksum(sum: number, len: number): number {
  // At most ~2^31 even for a 64 KiB message: exact in a double, and >>> folds it correctly.
  let s = sum + (len >>> 16) + (len & 0xffff) + NEXT_HEADER_ICMPV6;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** A link-layer address option (source or target). */
export interface LinkLayerAddressOption {
  /** 'source' (type 1) or 'target' (type 2). */
  readonly kind: 'source' | 'target';
  /** The MAC address. */
  readonly mac: string;
}

/** An option this codec does not interpret, kept so messages round-trip. */
export interface RawOption {
  /** 'raw'. */
  readonly kind: 'raw';
  /** Option type. */
  readonly type: number;
  /** Option data after the type and length bytes (length*8 - 2 bytes). */
  readonly data: Uint8Array;
}

/** An NDP option. */
export type NdpOption = LinkLayerAddressOption | RawOption;

/** ICMPv6 Neighbor Solicitation. */
export interface NeighborSolicitation {
  /** 'ns'. */
  readonly type: 'ns';
  /** The address being resolved or probed. */
  readonly target: string;
  /** Options in wire order. */
  readonly options: readonly NdpOption[];
}

/** ICMPv6 Neighbor Advertisement. */
export interface NeighborAdvertisement {
  /** 'na'. */
  readonly type: 'na';
  /** Router flag. */
  readonly router: boolean;
  /** Solicited flag: set only in replies to an NS. */
  readonly solicited: boolean;
  /** Override flag: the receiver must replace a cached link-layer address. */
  readonly override: boolean;
  /** The advertised address. */
  readonly target: string;
  /** Options in wire order. */
  readonly options: readonly NdpOption[];
}

/** A Neighbor Solicitation or Advertisement. */
export type NdpMessage = NeighborSolicitation | NeighborAdvertisement;

function decodeOptions(b: Uint8Array): NdpOption[] | CodecError {
  const out: NdpOption[] = [];
  const v = viewOf(b);
  let off = 0;
  while (off < b.length) {
    if (off + 2 > b.length) return new CodecError('badOption', `ndp: option header truncated at offset ${off}`);
    const type = v.getUint8(off);
    const len = v.getUint8(off + 1) * 8;
    // RFC 4861 §4.6: a zero length would loop forever; such packets must be discarded.
    if (len === 0) return new CodecError('badOption', `ndp: option type ${type} has length 0`);
    if (off + len > b.length) {
      return new CodecError('badOption', `ndp: option type ${type} of ${len} bytes overruns the message`);
    }
    if ((type === OPTION_SOURCE_LLA || type === OPTION_TARGET_LLA) && len === 8) {
      out.push({ kind: type === OPTION_SOURCE_LLA ? 'source' : 'target', mac: formatMacAt(v, off + 2) });
    } else {
      out.push({ kind: 'raw', type, data: b.slice(off + 2, off + len) });
    }
    off += len;
  }
  return out;
}

function encodeOptions(options: readonly NdpOption[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const o of options) {
    if (o.kind === 'raw') {
      if ((o.data.length + 2) % 8 !== 0 || o.data.length + 2 > 255 * 8 || o.type > 255 || o.type < 0) {
        throw new CodecError('badOption', `ndp: raw option type ${o.type} with ${o.data.length} data bytes`);
      }
      const p = new Uint8Array(o.data.length + 2);
      p[0] = o.type;
      p[1] = (o.data.length + 2) / 8;
      p.set(o.data, 2);
      parts.push(p);
    } else {
      const p = new Uint8Array(8);
      p[0] = o.kind === 'source' ? OPTION_SOURCE_LLA : OPTION_TARGET_LLA;
      p[1] = 1;
      p.set(parseMac(o.mac), 2);
      parts.push(p);
    }
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Decodes an NS or NA ICMPv6 message and verifies its checksum against the addresses of the
 * IPv6 packet carrying it. Other ICMPv6 types yield 'unknownNdpType'.
 */
export function decodeNdp(ip: Ipv6Packet): NdpMessage | CodecError {
  if (ip.nextHeader !== NEXT_HEADER_ICMPV6) {
    return new CodecError('notIcmpv6', `ndp: next header ${ip.nextHeader} is not ICMPv6`);
  }
  const m = ip.payload;
  if (m.length < 4) return new CodecError('truncated', `icmpv6: ${m.length} bytes, need 4`);
  const v = viewOf(m);
  const type = v.getUint8(0);
  if (type !== ICMPV6_NEIGHBOR_SOLICITATION && type !== ICMPV6_NEIGHBOR_ADVERTISEMENT) {
    return new CodecError('unknownNdpType', `icmpv6: type ${type} is not NS or NA`);
  }
  if (m.length < 24) return new CodecError('truncated', `ndp: ${m.length} bytes, need 24`);
  if (icmpv6Checksum(parseIPv6(ip.src), parseIPv6(ip.dst), m) !== 0) {
    return new CodecError('badChecksum', `icmpv6: checksum 0x${v.getUint16(2).toString(16)} is wrong`);
  }
  if (m[1] !== 0) return new CodecError('badIcmpCode', `ndp: code ${m[1]} is not 0`);
  const options = decodeOptions(m.subarray(24));
  if (options instanceof CodecError) return options;
  const target = formatIPv6At(v, 8);
  if (type === ICMPV6_NEIGHBOR_SOLICITATION) return { type: 'ns', target, options };
  const flags = v.getUint8(4);
  return {
    type: 'na',
    router: (flags & 0x80) !== 0,
    solicited: (flags & 0x40) !== 0,
    override: (flags & 0x20) !== 0,
    target,
    options,
  };
}

/** Encodes an NS or NA message with a correct checksum for the given source and destination. */
export function encodeNdp(msg: NdpMessage, src: string, dst: string): Uint8Array {
  const opts = encodeOptions(msg.options);
  const m = new Uint8Array(24 + opts.length);
  if (msg.type === 'ns') {
    m[0] = ICMPV6_NEIGHBOR_SOLICITATION;
  } else {
    m[0] = ICMPV6_NEIGHBOR_ADVERTISEMENT;
    m[4] = (msg.router ? 0x80 : 0) | (msg.solicited ? 0x40 : 0) | (msg.override ? 0x20 : 0);
  }
  m.set(parseIPv6(msg.target), 8);
  m.set(opts, 24);
  const sum = icmpv6Checksum(parseIPv6(src), parseIPv6(dst), m);
  m[2] = sum >> 8;
  m[3] = sum & 0xff;
  return m;
}

/** A whole NDP frame: Ethernet, IPv6 and the message. */
export interface NdpFrame {
  /** The Ethernet header fields. */
  readonly ethernet: EthernetFrame;
  /** The IPv6 header fields. */
  readonly ip: Ipv6Packet;
  /** The NS or NA. */
  readonly message: NdpMessage;
}

/** Decodes Ethernet + IPv6 + NS/NA. */
export function decodeNdpFrame(frame: Uint8Array): NdpFrame | CodecError {
  const eth = decodeEthernet(frame);
  if (eth instanceof CodecError) return eth;
  if (eth.ethertype !== ETHERTYPE_IPV6) {
    return new CodecError('badEthertype', `ndp: ethertype 0x${eth.ethertype.toString(16)} is not IPv6`);
  }
  const ip = decodeIpv6(eth.payload);
  if (ip instanceof CodecError) return ip;
  const message = decodeNdp(ip);
  if (message instanceof CodecError) return message;
  return { ethernet: eth, ip, message };
}

/** Encodes an NDP message in IPv6 (hop limit 255) in Ethernet. */
export function encodeNdpFrame(ethDst: string, ethSrc: string, src: string, dst: string, msg: NdpMessage): Uint8Array {
  const icmp = encodeNdp(msg, src, dst);
  const ip = encodeIpv6({ nextHeader: NEXT_HEADER_ICMPV6, hopLimit: 255, src, dst }, icmp);
  return encodeEthernet(ethDst, ethSrc, ETHERTYPE_IPV6, ip);
}

/** The solicited-node multicast address of `ip` (RFC 4291 §2.7.1): ff02::1:ffXX:XXXX. */
export function solicitedNodeMulticast(ip: string): IPText {
  const out = Uint8Array.of(0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0);
  out.set(parseIPv6(ip).subarray(13, 16), 13);
  return formatIPv6At(viewOf(out), 0);
}

/** The Ethernet MAC of an IPv6 multicast group (RFC 2464 §7): 33:33 + its last 32 bits. */
export function ipv6MulticastMac(group: string): MacText {
  const mac = Uint8Array.of(0x33, 0x33, 0, 0, 0, 0);
  mac.set(parseIPv6(group).subarray(12, 16), 2);
  return formatMacAt(viewOf(mac), 0);
}

/** True for IPv6 multicast addresses (ff00::/8). */
export function isIpv6Multicast(ip: string): boolean {
  return parseIPv6(ip)[0] === 0xff;
}

/**
 * An unsolicited Neighbor Advertisement for `vip` at `mac` to all-nodes (ff02::1,
 * 33:33:00:00:00:01), Override set and Solicited clear (RFC 4861 §7.2.6), with a target
 * link-layer address option. `src` should be the interface's link-local address.
 */
export function unsolicitedNaFrame(mac: string, src: string, vip: string): Uint8Array {
  return encodeNdpFrame(ipv6MulticastMac(ALL_NODES), mac, src, ALL_NODES, {
    type: 'na',
    router: false,
    solicited: false,
    override: true,
    target: vip,
    options: [{ kind: 'target', mac }],
  });
}

/**
 * The NA answering a Neighbor Solicitation for `target` (RFC 4861 §7.2.4). Sent from the
 * target address itself, as Linux does. A DAD probe (source ::) is answered to all-nodes with
 * Solicited clear; otherwise the reply is unicast to the solicitor with Solicited set, to the
 * MAC in its source link-layer option, or to the Ethernet source when the option is absent
 * (unicast NUD probes omit it).
 */
export function solicitedNaFrame(ns: NdpFrame, mac: string): Uint8Array {
  const target = ns.message.target;
  const base = { type: 'na' as const, router: false, override: true, target, options: [{ kind: 'target' as const, mac }] };
  if (ns.ip.src === UNSPECIFIED) {
    return encodeNdpFrame(ipv6MulticastMac(ALL_NODES), mac, target, ALL_NODES, { ...base, solicited: false });
  }
  const sllao = ns.message.options.find((o): o is LinkLayerAddressOption => o.kind === 'source');
  const ethDst = sllao?.mac ?? ns.ethernet.src;
  return encodeNdpFrame(ethDst, mac, target, ns.ip.src, { ...base, solicited: true });
}

/** A Neighbor Solicitation frame (used by tests and the lab client). */
export function neighborSolicitationFrame(mac: string, src: string, target: string, opts: { unicastTo?: { mac: string; ip: string } } = {}): Uint8Array {
  const dst = opts.unicastTo?.ip ?? solicitedNodeMulticast(target);
  const ethDst = opts.unicastTo?.mac ?? ipv6MulticastMac(dst);
  const options: NdpOption[] = src === UNSPECIFIED ? [] : [{ kind: 'source', mac }];
  return encodeNdpFrame(ethDst, mac, src, dst, { type: 'ns', target, options });
}
