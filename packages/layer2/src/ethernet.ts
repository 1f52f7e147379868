// Ethernet II framing. VLAN tags are not handled: AF_PACKET delivers frames with the 802.1Q tag
// already stripped into auxdata on every NIC that offloads it, and the responder runs per
// (sub)interface anyway.
import { formatMacAt, viewOf } from '@ironlb/core';
import { parseMac } from './addr.js';
import { CodecError } from './errors.js';

/** EtherType of ARP frames. */
export const ETHERTYPE_ARP = 0x0806;
/** EtherType of IPv4 frames. */
export const ETHERTYPE_IPV4 = 0x0800;
/** EtherType of IPv6 frames. */
export const ETHERTYPE_IPV6 = 0x86dd;
/** Length of an Ethernet II header. */
export const ETHERNET_HEADER_LEN = 14;

/** A decoded Ethernet II frame. */
export interface EthernetFrame {
  /** Destination MAC, canonical lower-case string. */
  readonly dst: string;
  /** Source MAC. */
  readonly src: string;
  /** EtherType (e.g. ETHERTYPE_ARP). */
  readonly ethertype: number;
  /** Everything after the 14-byte header; a view into the input, not a copy. */
  readonly payload: Uint8Array;
}

/**
 * Decodes an Ethernet II header. The payload may carry trailing padding (frames are padded to
 * 60 bytes on the wire); upper layers use their own length fields.
 */
export function decodeEthernet(b: Uint8Array): EthernetFrame | CodecError {
  if (b.length < ETHERNET_HEADER_LEN) {
    return new CodecError('truncated', `ethernet: ${b.length} bytes, need ${ETHERNET_HEADER_LEN}`);
  }
  const v = viewOf(b);
  return {
    dst: formatMacAt(v, 0),
    src: formatMacAt(v, 6),
    ethertype: v.getUint16(12),
    payload: b.subarray(ETHERNET_HEADER_LEN),
  };
}

/** Encodes an Ethernet II frame: dst, src, ethertype, payload (no padding, no FCS: the NIC adds them). */
export function encodeEthernet(dst: string, src: string, ethertype: number, payload: Uint8Array): Uint8Array {
  if (!Number.isInteger(ethertype) || ethertype < 0 || ethertype > 0xffff) {
    throw new CodecError('badEthertype', `ethernet: ethertype ${ethertype} is not a uint16`);
  }
  const out = new Uint8Array(ETHERNET_HEADER_LEN + payload.length);
  out.set(parseMac(dst), 0);
  out.set(parseMac(src), 6);
  out[12] = ethertype >> 8;
  out[13] = ethertype & 0xff;
  out.set(payload, ETHERNET_HEADER_LEN);
  return out;
}

/** True for group (multicast or broadcast) MACs: the I/G bit of the first octet is set. */
export function isGroupMac(mac: string): boolean {
  return (parseInt(mac.slice(0, 2), 16) & 1) === 1;
}
