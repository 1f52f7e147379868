/**
 * Hard limits on what one input may cost (hostile input is normal input). Each bound is sized
 * for the largest supported cluster, 1024 members, and documented in the README.
 */

/** Bounds on memory, work and log volume per input. */
export interface Limits {
  /**
   * Most entries in the member table (every state, us included). A new member past it is
   * refused (`tooManyMembers`), after evicting the oldest dead/left entry if there is one.
   */
  maxMembers: number;
  /** Longest node name, in UTF-8 bytes (a Kubernetes node name is ≤ 253). */
  maxNameBytes: number;
  /** Largest node metadata (memberlist's MetaMaxSize). */
  maxMetaBytes: number;
  /**
   * Incarnation claims more than this far from the one we hold for a member (either way,
   * modulo 2^32) are implausible and dropped (`incarnationJump`); see incarnation.ts.
   */
  maxIncarnationJump: number;
  /** Largest datagram handled (memberlist reads into 64 KiB buffers). */
  maxPacketBytes: number;
  /** Most bytes decompression may produce from one datagram. */
  maxPacketDecompressedBytes: number;
  /**
   * Most bytes read from one inbound or outbound stream, and most bytes its body may
   * decompress to: 1024 members × ~850 bytes (a push/pull entry with a 253-byte name and
   * 512 bytes of meta) ≈ 870 KB, so 1 MiB.
   */
  maxStreamBytes: number;
  /** Concurrent inbound streams (push/pull, TCP ping); more are closed at once (`streamLimit`). */
  maxInboundStreams: number;
  /** Concurrent inbound streams from one remote IP address. */
  maxInboundStreamsPerAddr: number;
  /** Repeated warnings of one kind are logged once per this interval, with a count. */
  logIntervalMs: number;
}

/** Default limits (see each field). */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxMembers: 1024,
  maxNameBytes: 253,
  maxMetaBytes: 512,
  maxIncarnationJump: 65_536,
  maxPacketBytes: 65_536,
  maxPacketDecompressedBytes: 65_536,
  maxStreamBytes: 1024 * 1024,
  maxInboundStreams: 32,
  maxInboundStreamsPerAddr: 8,
  logIntervalMs: 10_000,
});
