/**
 * @ironlb/memberlist: SWIM gossip membership with Lifeguard, wire-compatible with
 * hashicorp/memberlist (protocol version vector 1,5,2,0,0,0; encryption version 1).
 */
export { createMemberlist, Memberlist } from './memberlist.js';
export type { MemberlistOptions } from './memberlist.js';
export type { AdmissionCandidate, AdmitFn, DropReason, Logger, Member, MemberEvent, MemberState, MemberlistStats } from './types.js';
export type { Address, Stream, Transport, TransportHandlers } from './transport.js';
export { MemoryNetwork, MemoryTransport } from './memtransport.js';
export type { MemoryNetworkOptions } from './memtransport.js';
export { NetTransport } from './nettransport.js';
export type { NetTransportOptions } from './nettransport.js';
export { Keyring, deriveKeySha256, deriveKeyMetalLB, encryptPayload, decryptPayload, keyFingerprint } from './crypto.js';
export { ManualClock, seededRandom, systemClock, systemRandom } from './clock.js';
export type { Clock, Random, Timer } from './clock.js';
export { DEFAULT_LIMITS } from './limits.js';
export type { Limits } from './limits.js';
export { compareIncarnation, isNewerIncarnation, refutationIncarnation } from './incarnation.js';
export type { IncarnationOrder } from './incarnation.js';
export { FAST, LAN, LOCAL, PRESETS, RAPID, expectedDetectionMs, pushPullScale, retransmitLimit, suspicionMinTimeout, suspicionParams, suspicionTimeoutAfter } from './timing.js';
export type { PresetName, Timing } from './timing.js';
export { DEFAULT_VSN, MsgType } from './messages.js';
export { SimCluster, simAddress } from './sim.js';
export type { SimClusterOptions, SimNode, TimedEvent } from './sim.js';
