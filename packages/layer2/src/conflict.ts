// Pure conflict logic (RFC 5227 for IPv4, RFC 4861/4862 for IPv6): which received frames claim
// an IP for some other MAC, which of those to hand to the caller (rate-limited), when a
// defence may be sent, and the probe frames sent before a first announcement. The announcer
// feeds frames in and decides nothing here: whether a claimer is a peer speaker or a foreign
// host is the speaker's call.
import { type IPText, type MacText, formatIPv4At, formatIPv6At, formatMacAt, viewOf } from '@ironlb/core';
import { arpRequestFrame } from './arp.js';
import { neighborSolicitationFrame, UNSPECIFIED } from './ndp.js';
import { DEFAULT_META, PACKET_OTHERHOST } from './port.js';
import type { FrameMeta } from './port.js';
import { arpOpcode, isGroupAt, viewNdp } from './responder.js';

/**
 * How a frame claims an IP:
 * - arpReply: an ARP reply with the IP as sender ("ip is at mac")
 * - arpAnnouncement: a gratuitous ARP request (sender IP = target IP = ip)
 * - arpRequest: an ARP request using the IP as its sender address
 * - arpProbe: an RFC 5227 probe for the IP (sender 0.0.0.0): someone wants to start using it
 * - na: a Neighbor Advertisement for the IP (solicited or not)
 * - dadProbe: a Duplicate Address Detection NS for the IP (source ::)
 */
export type ClaimKind = 'arpReply' | 'arpAnnouncement' | 'arpRequest' | 'arpProbe' | 'na' | 'dadProbe';

/** Probe kinds claim an address someone wants to use, not one they use: conflicts only while probing. */
export function isProbeKind(kind: ClaimKind): boolean {
  return kind === 'arpProbe' || kind === 'dadProbe';
}

/** A claim read off the wire. */
export interface WireClaim {
  /** The claimed IP, canonical text. */
  readonly ip: IPText;
  /** The claimer's MAC: ARP sender hardware address, NA target link-layer option or Ethernet source. */
  readonly mac: MacText;
  /** The IP version, 4 or 6 (what the speaker's metrics and the lab tests read). */
  readonly family: 4 | 6;
  /** How the frame claims the IP. */
  readonly kind: ClaimKind;
}

/** A claim as delivered to AnnouncerOptions.onClaim: plus the interface it arrived on. */
export interface Claim extends WireClaim {
  /** Interface name. */
  readonly iface: string;
}

/** Decides early whether a claim on `ip` of this kind matters, so uninteresting frames cost no MAC formatting. */
export type ClaimFilter = (ip: IPText, kind: ClaimKind) => boolean;

const wantAll: ClaimFilter = () => true;

/** A tagged frame belongs to another LAN: its claims are not about ours (see port.ts). */
function fromOtherLan(f: Uint8Array, meta: FrameMeta): boolean {
  return meta.vlanTagged || (meta.pkttype === PACKET_OTHERHOST && isGroupAt(f, 0));
}

/**
 * Pure: the IP an ARP frame claims for a MAC other than ours, or null. Per RFC 5227 §2.1.1 and
 * §2.4 any ARP packet whose sender IP is the address is a claim (reply, announcement or plain
 * request), and a probe (sender 0.0.0.0) claims its target. Frames from one of `ownMacs` (by
 * Ethernet source or sender hardware address) and VLAN-tagged frames claim nothing.
 */
export function classifyArpClaim(frame: Uint8Array, ownMacs: ReadonlySet<string>, wants: ClaimFilter = wantAll, meta: FrameMeta = DEFAULT_META): WireClaim | null {
  const v = viewOf(frame);
  const op = arpOpcode(frame, v);
  if ((op !== 1 && op !== 2) || meta.truncated || fromOtherLan(frame, meta)) return null;
  const spa = v.getUint32(28);
  let ip: IPText;
  let kind: ClaimKind;
  if (spa !== 0) {
    ip = formatIPv4At(v, 28);
    kind = op === 2 ? 'arpReply' : spa === v.getUint32(38) ? 'arpAnnouncement' : 'arpRequest';
  } else {
    if (op !== 1) return null;
    ip = formatIPv4At(v, 38);
    kind = 'arpProbe';
  }
  if (!wants(ip, kind)) return null;
  const mac = formatMacAt(v, 22);
  if (ownMacs.has(mac) || ownMacs.has(formatMacAt(v, 6))) return null;
  return { ip, mac, family: 4, kind };
}

/**
 * Pure: the IP an NDP frame claims for a MAC other than ours, or null. A valid Neighbor
 * Advertisement (RFC 4861 §7.1.2: hop limit 255, checksum, code 0, target not multicast,
 * Solicited clear when sent to a multicast group) claims its target for the MAC in its target
 * link-layer option, else its Ethernet source. A DAD probe (NS from :: to the target's
 * solicited-node group without a source link-layer option) claims its target as a probe.
 */
export function classifyNdpClaim(frame: Uint8Array, ownMacs: ReadonlySet<string>, wants: ClaimFilter = wantAll, meta: FrameMeta = DEFAULT_META): WireClaim | null {
  const f = frame;
  if (meta.truncated || fromOtherLan(f, meta)) return null;
  // Cheap structural checks first: a flood of other NDP costs no checksum.
  if (f.length < 78) return null;
  const view = viewOf(f);
  if (view.getUint16(12) !== 0x86dd || view.getUint16(20) !== 0x3aff) return null; // next header 58, hop limit 255
  const type = view.getUint8(54);
  if (type !== 135 && type !== 136) return null;
  if (view.getUint8(62) === 0xff) return null; // multicast target
  let kind: ClaimKind;
  if (type === 136) {
    // Solicited set on an NA to a group address is invalid (RFC 4861 §7.1.2).
    if (view.getUint8(38) === 0xff && (view.getUint8(58) & 0x40) !== 0) return null;
    kind = 'na';
  } else {
    for (let i = 22; i < 38; i++) if (f[i] !== 0) return null; // only DAD probes claim
    kind = 'dadProbe';
  }
  const ip = formatIPv6At(view, 62);
  if (!wants(ip, kind)) return null;
  const v = viewNdp(f, view);
  if (typeof v === 'string') return null;
  if (kind === 'dadProbe') {
    const dst = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff];
    for (let i = 0; i < 13; i++) if (f[38 + i] !== dst[i]) return null;
    if (f[51] !== f[75] || f[52] !== f[76] || f[53] !== f[77] || v.sllao >= 0) return null;
  }
  const eth = formatMacAt(view, 6);
  const mac = kind === 'na' && v.tllao >= 0 ? formatMacAt(view, v.tllao) : eth;
  if (ownMacs.has(mac) || ownMacs.has(eth)) return null;
  return { ip, mac, family: 6, kind };
}

/** The RFC 5227 ARP probe for `ip` from `mac`: a broadcast request with sender IP 0.0.0.0. */
export function arpProbeFrame(mac: string, ip: string): Uint8Array {
  return arpRequestFrame(mac, '0.0.0.0', ip);
}

/** The RFC 4862 DAD probe for `ip` from `mac`: an NS from :: to the solicited-node group, no source option. */
export function dadProbeFrame(mac: string, ip: string): Uint8Array {
  return neighborSolicitationFrame(mac, UNSPECIFIED, ip);
}

/**
 * Rate limit for claim delivery: at most one claim per (ip, mac) per `intervalMs`, and at most
 * `maxKeys` pairs remembered, so a flood from random MACs costs bounded memory and reaches the
 * caller at a bounded rate (new pairs past the cap are suppressed until old ones expire).
 */
export class ClaimLimiter {
  readonly #last = new Map<string, number>();
  readonly #intervalMs: number;
  readonly #maxKeys: number;

  /** A limiter passing one claim per pair per `intervalMs`, remembering up to `maxKeys` pairs. */
  constructor(intervalMs: number, maxKeys = 4096) {
    this.#intervalMs = intervalMs;
    this.#maxKeys = maxKeys;
  }

  /** Whether a claim of `ip` by `mac` at time `now` (ms) should be delivered; records it if so. */
  admit(ip: string, mac: string, now: number): boolean {
    const key = `${ip}|${mac}`;
    const last = this.#last.get(key);
    if (last !== undefined && now - last < this.#intervalMs) return false;
    if (last === undefined && this.#last.size >= this.#maxKeys) {
      for (const [k, t] of this.#last) if (now - t >= this.#intervalMs) this.#last.delete(k);
      if (this.#last.size >= this.#maxKeys) return false;
    }
    this.#last.delete(key); // re-insert so iteration order stays oldest first
    this.#last.set(key, now);
    return true;
  }

  /** Forgets every pair of `ip` (it was withdrawn). */
  forget(ip: string): void {
    for (const k of this.#last.keys()) if (k.startsWith(`${ip}|`)) this.#last.delete(k);
  }

  /** Number of remembered pairs. */
  get size(): number {
    return this.#last.size;
  }
}

/**
 * RFC 5227 §2.4 (b) defence rate limit: defend an address at most once per DEFEND_INTERVAL.
 * A defence records its time; another is allowed only `intervalMs` later, so two hosts that
 * both claim the address exchange at most one announcement each per interval, never a storm.
 */
export class DefenceGate {
  readonly #last = new Map<string, number>();
  readonly #intervalMs: number;

  /** A gate allowing one defence per IP per `intervalMs`. */
  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  /** Whether `ip` may be defended at `now` (ms); records the defence if so. */
  tryDefend(ip: string, now: number): boolean {
    const last = this.#last.get(ip);
    if (last !== undefined && now - last < this.#intervalMs) return false;
    this.#last.set(ip, now);
    return true;
  }

  /** Forgets `ip` (it was withdrawn, so a later re-announcement starts fresh). */
  forget(ip: string): void {
    this.#last.delete(ip);
  }
}
