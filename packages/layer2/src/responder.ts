// Pure responder decisions: one received frame in, either the reply frame to send or the typed
// reason it was dropped. No I/O and no state here; the announcer owns the sockets and the set of
// announced IPs and passes a lookup function in (MetalLB's announceFunc seam).
//
// These run once per received frame, so they read bytes in place (one DataView per frame) and
// build replies by copying fields: no address strings except the target IP handed to the lookup
// (issue 12: the string codecs cost ~25 µs a frame, this path ~1 µs). codec.test.ts and
// fuzz.test.ts check that every reply equals what the string codecs in arp.ts/ndp.ts build for
// the same request.
import { type IPText, formatIPv4At, formatIPv6At, viewOf } from '@ironlb/core';
import { parseMac } from './addr.js';
import { ETHERNET_HEADER_LEN } from './ethernet.js';
import { icmpv6ChecksumIn } from './ndp.js';
import { DEFAULT_META, PACKET_OTHERHOST } from './port.js';
import type { FrameMeta } from './port.js';

/** Why a received frame got no reply. Every frame ends in a reply or exactly one of these. */
export type DropReason =
  /** Too short, wrong ethertype, not Ethernet/IPv4 ARP, bad option lengths, ... */
  | 'malformed'
  /** An ARP reply: we only answer questions. */
  | 'arpReply'
  /** An ARP opcode other than request or reply (RARP, InARP). */
  | 'notArpRequest'
  /** Ethernet destination is neither broadcast/the right multicast group nor our MAC. */
  | 'wrongEthernetDestination'
  /** IPv6 destination is neither the target's solicited-node group nor the target itself. */
  | 'wrongIpDestination'
  /** A frame sent from our own MAC (looped back by a bridge or a second socket). */
  | 'ownFrame'
  /** An ARP announcement (sender IP = target IP) from someone else: not a question. */
  | 'gratuitous'
  /** The target IP is not announced by this node. */
  | 'notAnnounced'
  /** The target IP is announced, but not on the interface the request came in on. */
  | 'wrongInterface'
  /** IPv6 traffic other than a Neighbor Solicitation (NA, other ICMPv6, not ICMPv6). */
  | 'notNeighborSolicitation'
  /** NDP hop limit is not 255, so the sender may be off-link (RFC 4861 §7.1.1). */
  | 'badHopLimit'
  /** ICMPv6 checksum does not verify. */
  | 'badChecksum'
  /**
   * A Neighbor Solicitation that RFC 4861 §7.1.1 says to discard: multicast target, multicast
   * source, or a DAD probe (source ::) not sent to the solicited-node group or carrying a source
   * link-layer option.
   */
  | 'invalidSolicitation'
  /** The reply was built but the socket refused it (counted by the I/O layer, never returned here). */
  | 'sendFailed'
  /**
   * The request came in with an 802.1Q tag (a VLAN this node has no interface for, or one the
   * kernel reported in auxdata): an untagged reply would leak into the wrong LAN.
   */
  | 'vlanTagged'
  /** The kernel dropped the frame because the socket's receive buffer was full (counted by the I/O layer). */
  | 'socket';

/** Every drop reason, in a stable order (for zero-initialised counters and metrics). */
export const DROP_REASONS: readonly DropReason[] = [
  'malformed',
  'arpReply',
  'notArpRequest',
  'wrongEthernetDestination',
  'wrongIpDestination',
  'ownFrame',
  'gratuitous',
  'notAnnounced',
  'wrongInterface',
  'notNeighborSolicitation',
  'badHopLimit',
  'badChecksum',
  'invalidSolicitation',
  'sendFailed',
  'vlanTagged',
  'socket',
];

/** The announcer's answer for an IP on an interface. */
export type AnnounceVerdict = 'announced' | 'notAnnounced' | 'wrongInterface';

/** Asks whether `ip` (canonical text) is announced on interface `ifname`. Must be cheap and pure. */
export type AnnounceLookup = (ip: IPText, ifname: string) => AnnounceVerdict;

/** The interface a frame arrived on. */
export interface ResponderInterface {
  /** Interface name (passed to the lookup). */
  readonly name: string;
  /** Its MAC: replies come from here and frames to it are ours. */
  readonly mac: string;
}

/** What to do with one frame. */
export type Decision = { readonly action: 'reply'; readonly ip: IPText; readonly frame: Uint8Array } | { readonly action: 'drop'; readonly reason: DropReason; readonly ip?: IPText };

function drop(reason: DropReason, ip?: IPText): Decision {
  return ip === undefined ? { action: 'drop', reason } : { action: 'drop', reason, ip };
}

// Interface MACs as bytes. Bounded: a caller passing ever-new MAC strings only churns it.
const macCache = new Map<string, Uint8Array>();

/** The 6 bytes of `mac`, cached (interfaces are few and their MACs rarely change). */
export function macBytes(mac: string): Uint8Array {
  let b = macCache.get(mac);
  if (b === undefined) {
    if (macCache.size >= 256) macCache.clear();
    b = parseMac(mac);
    macCache.set(mac, b);
  }
  return b;
}

/** Whether 6 bytes of `a` at `ao` equal 6 bytes of `b` at `bo`. */
export function sameMac(a: Uint8Array, ao: number, b: Uint8Array, bo: number): boolean {
  for (let i = 0; i < 6; i++) if (a[ao + i] !== b[bo + i]) return false;
  return true;
}

function isBroadcastAt(f: Uint8Array, off: number): boolean {
  for (let i = 0; i < 6; i++) if (f[off + i] !== 0xff) return false;
  return true;
}

/**
 * A frame the kernel marked PACKET_OTHERHOST although its destination is a group address or our
 * own MAC: the kernel does that to frames tagged for a VLAN without a device here (after
 * stripping the tag, see port.ts), so the frame belongs to another LAN.
 */
function taggedInDisguise(f: Uint8Array, mac: Uint8Array, meta: FrameMeta): boolean {
  if (meta.vlanTagged) return true;
  return meta.pkttype === PACKET_OTHERHOST && (isGroupAt(f, 0) || sameMac(f, 0, mac, 0));
}

/** Whether the MAC at `off` is a group address (the I/G bit of its first octet); false past the end. */
export function isGroupAt(f: Uint8Array, off: number): boolean {
  const b = f[off];
  return b !== undefined && (b & 1) === 1;
}

// ARP offsets (Ethernet header included).
const ARP_OP = 20;
const ARP_SHA = 22;
const ARP_SPA = 28;
const ARP_THA = 32;
const ARP_TPA = 38;
/** Ethernet + Ethernet/IPv4 ARP. */
export const ARP_FRAME_LEN = 42;
const ARP_REPLY_HEADER = [0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02];

/**
 * Checks the Ethernet/IPv4 ARP header in place: ethertype 0x0806, htype 1, ptype 0x0800,
 * hlen 6, plen 4 (anything else, e.g. ptype 0x86dd, is not ARP for IPv4). Returns the opcode,
 * or -1 when the frame is not one.
 */
export function arpOpcode(f: Uint8Array, v: DataView = viewOf(f)): number {
  if (f.length < ARP_FRAME_LEN) return -1;
  // ethertype 0x0806, htype 1, ptype 0x0800, then hlen 6 and plen 4.
  if (v.getUint16(12) !== 0x0806 || v.getUint32(14) !== 0x00010800 || v.getUint16(18) !== 0x0604) return -1;
  return v.getUint16(ARP_OP);
}

/** Decides how to answer one ARP frame received on `iface`. */
export function decideArp(frame: Uint8Array, iface: ResponderInterface, lookup: AnnounceLookup, meta: FrameMeta = DEFAULT_META): Decision {
  const f = frame;
  const v = viewOf(f);
  const op = arpOpcode(f, v);
  if (op < 0 || meta.truncated) return drop('malformed');
  const targetIp = formatIPv4At(v, ARP_TPA);
  if (op === 2) return drop('arpReply', targetIp);
  if (op !== 1) return drop('notArpRequest');
  const mac = macBytes(iface.mac);
  if (taggedInDisguise(f, mac, meta)) return drop('vlanTagged', targetIp);
  if (!isBroadcastAt(f, 0) && !sameMac(f, 0, mac, 0)) return drop('wrongEthernetDestination', targetIp);
  if (sameMac(f, 6, mac, 0) || sameMac(f, ARP_SHA, mac, 0)) return drop('ownFrame', targetIp);
  // RFC 5227 probes (sender 0.0.0.0) are answered: that is how a host learns the VIP is taken.
  // Announcements are not: replying to another node's gratuitous ARP only adds to a split brain.
  if (v.getUint32(ARP_SPA) === v.getUint32(ARP_TPA)) return drop('gratuitous', targetIp);
  const verdict = lookup(targetIp, iface.name);
  if (verdict !== 'announced') return drop(verdict, targetIp);
  // The reply: to the asker's hardware address, "targetIp is at mac".
  const out = new Uint8Array(ARP_FRAME_LEN);
  out.set(f.subarray(ARP_SHA, ARP_SHA + 6), 0);
  out.set(mac, 6);
  out.set(ARP_REPLY_HEADER, 12);
  out.set(mac, ARP_SHA);
  out.set(f.subarray(ARP_TPA, ARP_TPA + 4), ARP_SPA);
  out.set(f.subarray(ARP_SHA, ARP_SHA + 6), ARP_THA);
  out.set(f.subarray(ARP_SPA, ARP_SPA + 4), ARP_TPA);
  return { action: 'reply', ip: targetIp, frame: out };
}

// NDP offsets (Ethernet header included).
const IP6 = ETHERNET_HEADER_LEN;
const IP6_SRC = IP6 + 8;
const IP6_DST = IP6 + 24;
const ICMP = IP6 + 40;
const ND_TARGET = ICMP + 8;
const ND_OPTIONS = ICMP + 24;
/** Length of the NA we send: Ethernet + IPv6 + NA + target link-layer option. */
const NA_FRAME_LEN = ICMP + 32;

/** The parts of a structurally valid NS/NA that the decisions need, read in place. */
export interface NdpView {
  /** 135 (NS) or 136 (NA). */
  readonly type: number;
  /** ICMPv6 message length (the IPv6 payload length). */
  readonly length: number;
  /** Offset of the source link-layer option's MAC, or -1. */
  readonly sllao: number;
  /** Offset of the target link-layer option's MAC, or -1. */
  readonly tllao: number;
}

/**
 * Validates an Ethernet + IPv6 + NS/NA frame in place, with the same rules and reasons as
 * decodeNdpFrame (ethertype, version, payload length, next header 58, type, length ≥ 24,
 * checksum, code 0, option lengths non-zero and in bounds). Returns the view or a drop reason.
 */
export function viewNdp(f: Uint8Array, v: DataView = viewOf(f)): NdpView | DropReason {
  if (f.length < ICMP) return 'malformed';
  if (v.getUint16(12) !== 0x86dd) return 'malformed';
  if (v.getUint8(IP6) >> 4 !== 6) return 'malformed';
  const plen = v.getUint16(IP6 + 4);
  if (ICMP + plen > f.length) return 'malformed';
  if (v.getUint8(IP6 + 6) !== 58) return 'notNeighborSolicitation';
  if (plen < 4) return 'malformed';
  const type = v.getUint8(ICMP);
  if (type !== 135 && type !== 136) return 'notNeighborSolicitation';
  if (plen < 24) return 'malformed';
  const end = ICMP + plen;
  if (icmpv6ChecksumIn(v, IP6_SRC, IP6_DST, ICMP, plen) !== 0) {
    return 'badChecksum';
  }
  if (v.getUint8(ICMP + 1) !== 0) return 'malformed';
  let sllao = -1;
  let tllao = -1;
  for (let off = ND_OPTIONS; off < end;) {
    if (off + 2 > end) return 'malformed';
    const len = v.getUint8(off + 1) * 8;
    // RFC 4861 §4.6: a zero length would loop forever; such packets must be discarded.
    if (len === 0 || off + len > end) return 'malformed';
    const t = f[off];
    if (len === 8 && t === 1 && sllao < 0) sllao = off + 2;
    if (len === 8 && t === 2 && tllao < 0) tllao = off + 2;
    off += len;
  }
  return { type, length: plen, sllao, tllao };
}

function isZero16(f: Uint8Array, off: number): boolean {
  for (let i = 0; i < 16; i++) if (f[off + i] !== 0) return false;
  return true;
}

function same16(f: Uint8Array, a: number, b: number): boolean {
  for (let i = 0; i < 16; i++) if (f[a + i] !== f[b + i]) return false;
  return true;
}

/** Whether the address at `off` is the solicited-node group of the address at `target` (ff02::1:ffXX:XXXX). */
function isSolicitedNodeOf(f: Uint8Array, off: number, target: number): boolean {
  const prefix = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff];
  for (let i = 0; i < 13; i++) if (f[off + i] !== prefix[i]) return false;
  return f[off + 13] === f[target + 13] && f[off + 14] === f[target + 14] && f[off + 15] === f[target + 15];
}

/**
 * Decides how to answer one IPv6 frame received on `iface`. Answers Neighbor Solicitations to
 * the target's solicited-node group and unicast ones (NUD probes, which MetalLB #2920 ignores),
 * after the RFC 4861 §7.1.1 validity checks.
 */
export function decideNdp(frame: Uint8Array, iface: ResponderInterface, lookup: AnnounceLookup, meta: FrameMeta = DEFAULT_META): Decision {
  const f = frame;
  if (meta.truncated) return drop('malformed');
  const view = viewOf(f);
  const v = viewNdp(f, view);
  if (typeof v === 'string') return drop(v);
  const target = formatIPv6At(view, ND_TARGET);
  if (v.type !== 135) return drop('notNeighborSolicitation', target);
  if (f[IP6 + 7] !== 255) return drop('badHopLimit', target);
  const mac = macBytes(iface.mac);
  if (taggedInDisguise(f, mac, meta)) return drop('vlanTagged', target);
  // Multicast IPv6 destinations travel to 33:33 + their last 32 bits (RFC 2464 §7).
  const toOurMac = sameMac(f, 0, mac, 0);
  const toGroupMac = f[IP6_DST] === 0xff && f[0] === 0x33 && f[1] === 0x33 && f[2] === f[IP6_DST + 12] && f[3] === f[IP6_DST + 13] && f[4] === f[IP6_DST + 14] && f[5] === f[IP6_DST + 15];
  if (!toOurMac && !toGroupMac) return drop('wrongEthernetDestination', target);
  if (sameMac(f, 6, mac, 0)) return drop('ownFrame', target);
  // RFC 4861 §7.1.1: a multicast source or target is never valid in a solicitation.
  if (f[IP6_SRC] === 0xff || f[ND_TARGET] === 0xff) return drop('invalidSolicitation', target);
  const toGroup = isSolicitedNodeOf(f, IP6_DST, ND_TARGET);
  if (!toGroup && !same16(f, IP6_DST, ND_TARGET)) return drop('wrongIpDestination', target);
  const dad = isZero16(f, IP6_SRC);
  // DAD probes must go to the solicited-node group and carry no source link-layer option.
  if (dad && (!toGroup || v.sllao >= 0)) return drop('invalidSolicitation', target);
  const verdict = lookup(target, iface.name);
  if (verdict !== 'announced') return drop(verdict, target);
  return { action: 'reply', ip: target, frame: buildNa(f, mac, dad, v.sllao) };
}

const ALL_NODES_BYTES = Uint8Array.of(0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
const ALL_NODES_MAC = Uint8Array.of(0x33, 0x33, 0, 0, 0, 1);

/**
 * The NA answering the NS in `f` (RFC 4861 §7.2.4), byte for byte what solicitedNaFrame in
 * ndp.ts builds: from the target address itself, as Linux does; a DAD probe is answered to
 * all-nodes with Solicited clear, anything else unicast to the solicitor (the MAC in its source
 * link-layer option, else its Ethernet source) with Solicited set; Override set, with a target
 * link-layer option.
 */
function buildNa(f: Uint8Array, mac: Uint8Array, dad: boolean, sllao: number): Uint8Array {
  const out = new Uint8Array(NA_FRAME_LEN);
  if (dad) out.set(ALL_NODES_MAC, 0);
  else out.set(f.subarray(sllao >= 0 ? sllao : 6, (sllao >= 0 ? sllao : 6) + 6), 0);
  out.set(mac, 6);
  out[12] = 0x86;
  out[13] = 0xdd;
  out[IP6] = 0x60;
  out[IP6 + 5] = 32; // payload length
  out[IP6 + 6] = 58;
  out[IP6 + 7] = 255;
  out.set(f.subarray(ND_TARGET, ND_TARGET + 16), IP6_SRC);
  if (dad) out.set(ALL_NODES_BYTES, IP6_DST);
  else out.set(f.subarray(IP6_SRC, IP6_SRC + 16), IP6_DST);
  out[ICMP] = 136;
  out[ICMP + 4] = dad ? 0x20 : 0x60; // Override, plus Solicited unless answering DAD
  out.set(f.subarray(ND_TARGET, ND_TARGET + 16), ND_TARGET);
  out[ND_OPTIONS] = 2;
  out[ND_OPTIONS + 1] = 1;
  out.set(mac, ND_OPTIONS + 2);
  const sum = icmpv6ChecksumIn(viewOf(out), IP6_SRC, IP6_DST, ICMP, NA_FRAME_LEN - ICMP);
  out[ICMP + 2] = sum >> 8;
  out[ICMP + 3] = sum & 0xff;
  return out;
}
