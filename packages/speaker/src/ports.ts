/**
 * The speaker's seams: gossip membership and the announcement protocol, as the speaker uses
 * them. Production wires @ironlb/memberlist and @ironlb/layer2 in (speaker.ts); unit tests pass
 * recording fakes. Another announcement protocol later is one more implementation of
 * `AnnouncementProtocol`, not a change to the speaker.
 */
import type { AnnouncePort } from './announcements.js';

/** One gossip member as the speaker sees it. */
export interface MemberView {
  readonly name: string;
  readonly addr: string;
  readonly state: 'alive' | 'suspect' | 'dead' | 'left';
  readonly meta: Uint8Array;
}

/** Gossip membership (hashicorp/memberlist semantics). */
export interface MembershipPort {
  start(): Promise<void>;
  /** Push/pull with each address; resolves with how many answered. */
  join(addrs: readonly string[]): Promise<number>;
  /** Every known member, this node included. */
  members(): MemberView[];
  /** Re-announces this node with new metadata. */
  updateMeta(meta: Uint8Array): Promise<void>;
  /** Installs a key for decryption. */
  addKey(key: Uint8Array): void;
  /** Encrypts with an installed key from now on. */
  useKey(key: Uint8Array): void;
  /** Removes a key that is not the primary. */
  removeKey(key: Uint8Array): void;
  /** Installed keys, primary first. */
  keys(): Uint8Array[];
  /** Graceful leave: peers take over at once instead of after failure detection. */
  leave(timeoutMs: number): Promise<void>;
  shutdown(): Promise<void>;
}

/** A wire claim for an IP: someone else says they hold it. */
export interface WireClaim {
  readonly ip: string;
  readonly mac: string;
}

/** An announcement protocol (layer2 ARP/NDP today). */
export interface AnnouncementProtocol extends AnnouncePort {
  start(): void;
  /** MACs this node answers from (advertised to peers in node meta). */
  macs(): string[];
  /** Names of the interfaces this node can answer on now. */
  interfaces(): string[];
  /** Registers the handler of wire claims on held IPs (called asynchronously). */
  onClaim(cb: (c: WireClaim) => void): void;
  close(): void;
}
