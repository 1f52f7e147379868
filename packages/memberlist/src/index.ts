/**
 * @ironlb/memberlist: SWIM gossip membership with Lifeguard, wire-compatible with
 * hashicorp/memberlist (protocol version vector 1,5,2,0,0,0; encryption version 1).
 */
export { createMemberlist, Memberlist } from './memberlist.js';
export type { DropReason, Logger, Member, MemberEvent, MemberState, MemberlistOptions, MemberlistStats } from './memberlist.js';
export type { Address, Stream, Transport, TransportHandlers } from './transport.js';
export { MemoryNetwork, MemoryTransport } from './memtransport.js';
export { NetTransport } from './nettransport.js';
export type { NetTransportOptions } from './nettransport.js';
export { Keyring, deriveKeySha256, deriveKeyMetalLB, encryptPayload, decryptPayload } from './crypto.js';
export {
  FAST,
  LAN,
  LOCAL,
  PRESETS,
  expectedDetectionMs,
  pushPullScale,
  retransmitLimit,
  suspicionMinTimeout,
  suspicionParams,
  suspicionTimeoutAfter,
} from './timing.js';
export type { PresetName, Timing } from './timing.js';
export { DEFAULT_VSN, MsgType } from './messages.js';
