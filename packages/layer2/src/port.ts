// The seam between responder logic and packet I/O: the announcer only ever sees a PacketPort,
// so unit tests drive it with MemoryPort and production with the AF_PACKET addon.

/** Linux sll_pkttype: addressed to this host. */
export const PACKET_HOST = 0;
/** Linux sll_pkttype: link-layer broadcast. */
export const PACKET_BROADCAST = 1;
/** Linux sll_pkttype: link-layer multicast. */
export const PACKET_MULTICAST = 2;
/**
 * Linux sll_pkttype: addressed to another host. The kernel also gives this type to a frame
 * carrying an 802.1Q tag for a VLAN with no device on this host, after stripping the tag, so a
 * broadcast or own-MAC frame of this type is a tagged frame in disguise.
 */
export const PACKET_OTHERHOST = 3;

/** What the socket knew about a received frame besides its bytes. */
export interface FrameMeta {
  /** sll_pkttype (PACKET_HOST, PACKET_BROADCAST, ...). */
  readonly pkttype: number;
  /** The frame carried a VLAN tag with a non-zero VLAN id (kernel auxdata). */
  readonly vlanTagged: boolean;
  /** The frame was longer than the receive slot and was cut. */
  readonly truncated: boolean;
}

/** Meta for frames that come with none (MemoryPort, tests): an untagged frame for this host. */
export const DEFAULT_META: FrameMeta = Object.freeze({ pkttype: PACKET_HOST, vlanTagged: false, truncated: false });

/** Receives one frame. Must not block; the bytes are the callee's to keep. */
export type FrameHandler = (frame: Uint8Array, meta: FrameMeta) => void;

/** Socket-level counters, cumulative since the port was opened. */
export interface PortSocketStats {
  /** Frames the kernel dropped because the receive buffer was full (PACKET_STATISTICS tp_drops). */
  readonly drops: number;
  /** Receive buffer size the kernel granted, in bytes (0 when unknown). */
  readonly rcvbuf: number;
}

/** A bidirectional link-layer packet endpoint on one interface for one protocol. */
export interface PacketPort {
  /** Transmits a complete Ethernet frame; throws on failure (the caller counts it). */
  send(frame: Uint8Array): void;
  /** Sets the receive callback (replacing any previous one). */
  onFrame(cb: FrameHandler): void;
  /** Joins an Ethernet multicast group so frames to `mac` are delivered without promiscuous mode. */
  addMembership(mac: string): void;
  /** Leaves a group joined with addMembership. */
  dropMembership(mac: string): void;
  /** Stops delivery and releases the socket; idempotent. */
  close(): void;
  /**
   * Sets the callback for asynchronous socket errors (e.g. ENETDOWN when the link went down).
   * Optional: ports without it never report errors after open.
   */
  onError?(cb: (err: Error) => void): void;
  /**
   * Registers a callback run after each batch of frames delivered to onFrame, so the receiver
   * can flush replies it queued for the batch. Optional: without it, every frame is a batch.
   */
  onBatchEnd?(cb: () => void): void;
  /** Sends several frames with one system call; returns how many went out (throws if none did). */
  sendMany?(frames: readonly Uint8Array[]): number;
  /** Socket-level counters; optional (ports without a kernel socket have none). */
  socketStats?(): PortSocketStats;
}

/** Which socket a responder needs: ARP frames, or IPv6 Neighbor Solicitations/Advertisements. */
export type PortKind = 'arp' | 'ndp';

/** In-memory PacketPort for tests: records sends and memberships, `deliver` feeds frames in. */
export class MemoryPort implements PacketPort {
  /** Frames passed to send(), oldest first. */
  readonly sent: Uint8Array[] = [];
  /** Currently joined multicast MACs. */
  readonly memberships = new Set<string>();
  /** Every membership change, in order, as "+mac" or "-mac". */
  readonly membershipLog: string[] = [];
  /** Whether close() was called. */
  closed = false;
  /** When set, send() throws this error (to test send-failure accounting). */
  failSends: Error | null = null;
  /** When set, addMembership() throws this error. */
  failJoins: Error | null = null;
  /** Reported by socketStats() as kernel drops (tests raise it to simulate an overflowing queue). */
  socketDrops = 0;
  #handler: FrameHandler | null = null;
  #errorHandler: ((err: Error) => void) | null = null;

  /** Records the frame (copied). */
  send(frame: Uint8Array): void {
    if (this.closed) throw new Error('port closed');
    if (this.failSends) throw this.failSends;
    this.sent.push(frame.slice());
  }

  /** Sets the receive callback. */
  onFrame(cb: FrameHandler): void {
    this.#handler = cb;
  }

  /** Sets the asynchronous error callback. */
  onError(cb: (err: Error) => void): void {
    this.#errorHandler = cb;
  }

  /** Records a join. */
  addMembership(mac: string): void {
    if (this.failJoins) throw this.failJoins;
    this.memberships.add(mac);
    this.membershipLog.push(`+${mac}`);
  }

  /** Records a leave. */
  dropMembership(mac: string): void {
    this.memberships.delete(mac);
    this.membershipLog.push(`-${mac}`);
  }

  /** Reports the simulated kernel drop counter. */
  socketStats(): PortSocketStats {
    return { drops: this.socketDrops, rcvbuf: 0 };
  }

  /** Marks the port closed; later deliveries are ignored. */
  close(): void {
    this.closed = true;
    this.#handler = null;
    this.#errorHandler = null;
  }

  /** Feeds a received frame to the handler, as the kernel would. */
  deliver(frame: Uint8Array, meta: Partial<FrameMeta> = {}): void {
    if (!this.closed) this.#handler?.(frame, meta.pkttype === undefined && meta.vlanTagged === undefined && meta.truncated === undefined ? DEFAULT_META : { ...DEFAULT_META, ...meta });
  }

  /** Reports an asynchronous socket error, as the kernel does when the link goes down. */
  raiseError(err: Error): void {
    if (!this.closed) this.#errorHandler?.(err);
  }

  /** Returns and clears the recorded sends. */
  takeSent(): Uint8Array[] {
    return this.sent.splice(0, this.sent.length);
  }
}
