/**
 * Shared public types of the memberlist package (members, events, stats, drop reasons) and the
 * counters every part of the state machine writes to.
 */
import type { IPText } from '@ironlb/core';
import type { PacketDropReason } from './packet.js';
import type { StreamDropReason } from './stream.js';

/** A minimal structured logger; a pino logger satisfies it. */
export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A logger that drops everything. */
export const silentLogger: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** Member states. */
export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

/** A snapshot of one member (a copy; safe to keep). */
export interface Member {
  name: string;
  /** The member's IP as Go's net.IP.String prints it (canonical; IPv4-mapped shown as IPv4). */
  addr: IPText;
  port: number;
  state: MemberState;
  incarnation: number;
  meta: Uint8Array;
  /** The 6-byte protocol version vector [pmin, pmax, pcur, dmin, dmax, dcur]. */
  vsn: Uint8Array;
}

/** A membership event: join (new or back from dead/left), leave (dead or left), update (meta). */
export interface MemberEvent {
  type: 'join' | 'leave' | 'update';
  member: Member;
}

/** What the admission hook sees of a member we have not admitted yet. */
export interface AdmissionCandidate {
  name: string;
  /** As Member.addr. */
  addr: IPText;
  port: number;
  meta: Uint8Array;
}

/**
 * Admission hook (after hashicorp's AliveDelegate/MergeDelegate): returns a rejection reason,
 * or undefined to admit. Called for every member that is new to us or comes back from
 * dead/left, whether learnt by gossip or from a push/pull. Must be fast and must not throw.
 */
export type AdmitFn = (candidate: AdmissionCandidate) => string | undefined;

/** Every reason a packet, a part of one, a stream or a gossip message is dropped. */
export type DropReason =
  | PacketDropReason
  | StreamDropReason
  | 'wrongNode'
  | 'unhandled'
  | 'unhandledStream'
  | 'badVersion'
  | 'addressConflict'
  | 'protocolVersion'
  | 'pushPullLimit'
  | 'streamRead'
  | 'streamTimeout'
  | 'streamLimit'
  | 'incarnationJump'
  | 'refused'
  | 'nameTooLong'
  | 'metaTooLarge';

/** Counters exposed by stats(). */
export interface MemberlistStats {
  packetsReceived: number;
  packetsSent: number;
  /** Bytes of datagrams sent (after framing and encryption). */
  bytesSent: number;
  streamsAccepted: number;
  streamsDialed: number;
  /** Dropped packets/streams (or parts) by reason; `decrypt` counts undecryptable packets. */
  dropped: Partial<Record<DropReason, number>>;
  /** Admission refusals by the reason the `admit` hook returned (also counted in dropped.refused). */
  refusals: Record<string, number>;
  probes: number;
  probeFailures: number;
  /** Failed probes not turned into a suspicion: the member's TCP port still answered (Timing.stallGrace). */
  probeStalls: number;
  indirectProbes: number;
  tcpFallbackSuccesses: number;
  /** Suspicions this node raised or accepted (a member moved alive → suspect here). */
  suspicionsRaised: number;
  /** Suspicion timers that expired here (we declared the member dead). */
  suspicionTimeouts: number;
  /** Unconfirmed suspicions whose expiry was postponed because we were unhealthy. */
  suspicionsDeferred: number;
  refutes: number;
  pushPulls: number;
  pushPullFailures: number;
  awareness: number;
}

/** Distinct admission-refusal reasons kept apart; more are summed under "other". */
const MAX_REFUSAL_REASONS = 32;

/** The mutable counters behind stats(); every component writes here. */
export class Counters {
  /** The counters (mutated in place). */
  readonly s: MemberlistStats = {
    packetsReceived: 0,
    packetsSent: 0,
    bytesSent: 0,
    streamsAccepted: 0,
    streamsDialed: 0,
    dropped: {},
    refusals: {},
    probes: 0,
    probeFailures: 0,
    probeStalls: 0,
    indirectProbes: 0,
    tcpFallbackSuccesses: 0,
    suspicionsRaised: 0,
    suspicionTimeouts: 0,
    suspicionsDeferred: 0,
    refutes: 0,
    pushPulls: 0,
    pushPullFailures: 0,
    awareness: 0,
  };

  /** Counts one drop. */
  drop(reason: DropReason, n = 1): void {
    this.s.dropped[reason] = (this.s.dropped[reason] ?? 0) + n;
  }

  /** Counts one admission refusal (its reason string is a label: keep the set small). */
  refuse(reason: string): void {
    this.drop('refused');
    const r = this.s.refusals;
    const key = reason in r || Object.keys(r).length < MAX_REFUSAL_REASONS ? reason : 'other';
    r[key] = (r[key] ?? 0) + 1;
  }

  /** A copy (one small allocation; cheap enough for a metrics collect callback). */
  snapshot(awareness: number): MemberlistStats {
    return { ...this.s, dropped: { ...this.s.dropped }, refusals: { ...this.s.refusals }, awareness };
  }
}
