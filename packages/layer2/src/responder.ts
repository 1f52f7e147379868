// Pure responder decisions: one received frame in, either the reply frame to send or the typed
// reason it was dropped. No I/O and no state here; the announcer owns the sockets and the set of
// announced IPs and passes a lookup function in (MetalLB's announceFunc seam).
import { arpReplyFrame, ARP_REPLY, ARP_REQUEST, decodeArpFrame } from './arp.js';
import { CodecError } from './errors.js';
import { BROADCAST_MAC } from './addr.js';
import { decodeNdpFrame, ipv6MulticastMac, isIpv6Multicast, solicitedNaFrame, solicitedNodeMulticast, UNSPECIFIED } from './ndp.js';

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
  /** A Neighbor Solicitation that RFC 4861 §7.1.1 says to discard (multicast target, DAD rules). */
  | 'invalidSolicitation'
  /** The reply was built but the socket refused it (counted by the I/O layer, never returned here). */
  | 'sendFailed';

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
];

/** The announcer's answer for an IP on an interface. */
export type AnnounceVerdict = 'announced' | 'notAnnounced' | 'wrongInterface';

/** Asks whether `ip` (canonical text) is announced on interface `ifname`. Must be cheap and pure. */
export type AnnounceLookup = (ip: string, ifname: string) => AnnounceVerdict;

/** The interface a frame arrived on. */
export interface ResponderInterface {
  /** Interface name (passed to the lookup). */
  readonly name: string;
  /** Its MAC: replies come from here and frames to it are ours. */
  readonly mac: string;
}

/** What to do with one frame. */
export type Decision =
  | { readonly action: 'reply'; readonly ip: string; readonly frame: Uint8Array }
  | { readonly action: 'drop'; readonly reason: DropReason; readonly ip?: string };

function drop(reason: DropReason, ip?: string): Decision {
  return ip === undefined ? { action: 'drop', reason } : { action: 'drop', reason, ip };
}

function verdictDrop(v: AnnounceVerdict, ip: string): Decision | null {
  return v === 'announced' ? null : drop(v, ip);
}

/** Decides how to answer one ARP frame received on `iface`. */
export function decideArp(frame: Uint8Array, iface: ResponderInterface, lookup: AnnounceLookup): Decision {
  const f = decodeArpFrame(frame);
  if (f instanceof CodecError) return drop('malformed');
  const { ethernet: eth, arp } = f;
  if (arp.op === ARP_REPLY) return drop('arpReply', arp.targetIp);
  if (arp.op !== ARP_REQUEST) return drop('notArpRequest');
  if (eth.dst !== BROADCAST_MAC && eth.dst !== iface.mac) return drop('wrongEthernetDestination', arp.targetIp);
  if (eth.src === iface.mac || arp.senderMac === iface.mac) return drop('ownFrame', arp.targetIp);
  // RFC 5227 probes (sender 0.0.0.0) are answered: that is how a host learns the VIP is taken.
  // Announcements are not: replying to another node's gratuitous ARP only adds to a split brain.
  if (arp.senderIp === arp.targetIp) return drop('gratuitous', arp.targetIp);
  const v = verdictDrop(lookup(arp.targetIp, iface.name), arp.targetIp);
  if (v) return v;
  return { action: 'reply', ip: arp.targetIp, frame: arpReplyFrame(arp, iface.mac) };
}

/**
 * Decides how to answer one IPv6 frame received on `iface`. Answers Neighbor Solicitations to
 * the target's solicited-node group and unicast ones (NUD probes, which MetalLB #2920 ignores).
 */
export function decideNdp(frame: Uint8Array, iface: ResponderInterface, lookup: AnnounceLookup): Decision {
  const f = decodeNdpFrame(frame);
  if (f instanceof CodecError) {
    switch (f.code) {
      case 'badChecksum':
        return drop('badChecksum');
      case 'notIcmpv6':
      case 'unknownNdpType':
        return drop('notNeighborSolicitation');
      default:
        return drop('malformed');
    }
  }
  const { ethernet: eth, ip, message: msg } = f;
  if (msg.type !== 'ns') return drop('notNeighborSolicitation', msg.target);
  const target = msg.target;
  if (ip.hopLimit !== 255) return drop('badHopLimit', target);
  const groupMac = isIpv6Multicast(ip.dst) ? ipv6MulticastMac(ip.dst) : null;
  if (eth.dst !== iface.mac && eth.dst !== groupMac) return drop('wrongEthernetDestination', target);
  if (eth.src === iface.mac) return drop('ownFrame', target);
  if (isIpv6Multicast(target)) return drop('invalidSolicitation', target);
  const toGroup = ip.dst === solicitedNodeMulticast(target);
  if (!toGroup && ip.dst !== target) return drop('wrongIpDestination', target);
  if (ip.src === UNSPECIFIED) {
    // DAD probes must go to the solicited-node group and carry no source link-layer option.
    if (!toGroup || msg.options.some((o) => o.kind === 'source')) return drop('invalidSolicitation', target);
  }
  const v = verdictDrop(lookup(target, iface.name), target);
  if (v) return v;
  return { action: 'reply', ip: target, frame: solicitedNaFrame(f, iface.mac) };
}
