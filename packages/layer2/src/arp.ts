// ARP (RFC 826) for Ethernet + IPv4 only: the only combination a LoadBalancer VIP needs.
//
// Layout (28 bytes):
//   0  htype  uint16  1 = Ethernet
//   2  ptype  uint16  0x0800 = IPv4
//   4  hlen   uint8   6
//   5  plen   uint8   4
//   6  op     uint16  1 request, 2 reply
//   8  sha    6 bytes sender hardware address
//  14  spa    4 bytes sender protocol address
//  18  tha    6 bytes target hardware address
//  24  tpa    4 bytes target protocol address
import { formatIPv4At, formatMacAt, viewOf } from '@ironlb/core';
import { BROADCAST_MAC, ZERO_MAC, parseIPv4, parseMac } from './addr.js';
import { CodecError } from './errors.js';
import { ETHERTYPE_ARP, decodeEthernet, encodeEthernet } from './ethernet.js';
import type { EthernetFrame } from './ethernet.js';

/** ARP operation: a question ("who has tpa?"). */
export const ARP_REQUEST = 1;
/** ARP operation: an answer ("spa is at sha"). */
export const ARP_REPLY = 2;
/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_PACKET_LEN = 28;

/** A decoded Ethernet/IPv4 ARP packet; addresses as canonical strings. */
export interface ArpPacket {
  /** ARP_REQUEST, ARP_REPLY or another opcode (RARP etc.), which callers drop. */
  readonly op: number;
  /** Sender hardware address. */
  readonly senderMac: string;
  /** Sender protocol address (0.0.0.0 in RFC 5227 probes). */
  readonly senderIp: string;
  /** Target hardware address (zero or ignored in requests). */
  readonly targetMac: string;
  /** Target protocol address: the IP being asked about. */
  readonly targetIp: string;
}

/** Decodes an ARP payload (after the Ethernet header); extra trailing bytes (padding) are ignored. */
export function decodeArp(b: Uint8Array): ArpPacket | CodecError {
  if (b.length < ARP_PACKET_LEN) {
    return new CodecError('truncated', `arp: ${b.length} bytes, need ${ARP_PACKET_LEN}`);
  }
  const v = viewOf(b);
  const htype = v.getUint16(0);
  const ptype = v.getUint16(2);
  if (htype !== 1 || ptype !== 0x0800 || b[4] !== 6 || b[5] !== 4) {
    return new CodecError('unsupportedArp', `arp: htype ${htype} ptype 0x${ptype.toString(16)} hlen ${b[4]} plen ${b[5]} is not Ethernet/IPv4`);
  }
  return {
    op: v.getUint16(6),
    senderMac: formatMacAt(v, 8),
    senderIp: formatIPv4At(v, 14),
    targetMac: formatMacAt(v, 18),
    targetIp: formatIPv4At(v, 24),
  };
}

/** Encodes an ARP packet (28 bytes, no Ethernet header); throws CodecError on bad addresses. */
export function encodeArp(p: ArpPacket): Uint8Array {
  if (!Number.isInteger(p.op) || p.op < 0 || p.op > 0xffff) {
    throw new CodecError('unsupportedArp', `arp: opcode ${p.op} is not a uint16`);
  }
  const out = new Uint8Array(ARP_PACKET_LEN);
  out.set([0, 1, 0x08, 0x00, 6, 4, p.op >> 8, p.op & 0xff], 0);
  out.set(parseMac(p.senderMac), 8);
  out.set(parseIPv4(p.senderIp), 14);
  out.set(parseMac(p.targetMac), 18);
  out.set(parseIPv4(p.targetIp), 24);
  return out;
}

/** A whole ARP frame: the Ethernet header plus the ARP packet. */
export interface ArpFrame {
  /** The Ethernet header fields. */
  readonly ethernet: EthernetFrame;
  /** The ARP packet. */
  readonly arp: ArpPacket;
}

/** Decodes an Ethernet frame carrying ARP. */
export function decodeArpFrame(frame: Uint8Array): ArpFrame | CodecError {
  const eth = decodeEthernet(frame);
  if (eth instanceof CodecError) return eth;
  if (eth.ethertype !== ETHERTYPE_ARP) {
    return new CodecError('badEthertype', `arp: ethertype 0x${eth.ethertype.toString(16)} is not ARP`);
  }
  const arp = decodeArp(eth.payload);
  if (arp instanceof CodecError) return arp;
  return { ethernet: eth, arp };
}

/** Encodes an ARP packet inside an Ethernet frame from `src` to `dst`. */
export function encodeArpFrame(dst: string, src: string, p: ArpPacket): Uint8Array {
  return encodeEthernet(dst, src, ETHERTYPE_ARP, encodeArp(p));
}

/** A unicast ARP reply to `request`, saying `request.targetIp` is at `mac`. */
export function arpReplyFrame(request: ArpPacket, mac: string): Uint8Array {
  return encodeArpFrame(request.senderMac, mac, {
    op: ARP_REPLY,
    senderMac: mac,
    senderIp: request.targetIp,
    targetMac: request.senderMac,
    targetIp: request.senderIp,
  });
}

/** A broadcast ARP request from `mac`/`senderIp` asking for `targetIp` (used by tests and probes). */
export function arpRequestFrame(mac: string, senderIp: string, targetIp: string): Uint8Array {
  return encodeArpFrame(BROADCAST_MAC, mac, {
    op: ARP_REQUEST,
    senderMac: mac,
    senderIp,
    targetMac: ZERO_MAC,
    targetIp,
  });
}

/**
 * The two gratuitous ARP frames for `ip` at `mac`: a request and a reply, both broadcast with
 * sender = target = ip. Both are sent because implementations differ in which one updates an
 * existing cache entry (RFC 5227 §3 prefers requests; older stacks only honour replies).
 */
export function gratuitousArpFrames(mac: string, ip: string): [request: Uint8Array, reply: Uint8Array] {
  const base = { senderMac: mac, senderIp: ip, targetIp: ip };
  return [encodeArpFrame(BROADCAST_MAC, mac, { ...base, op: ARP_REQUEST, targetMac: ZERO_MAC }), encodeArpFrame(BROADCAST_MAC, mac, { ...base, op: ARP_REPLY, targetMac: BROADCAST_MAC })];
}
