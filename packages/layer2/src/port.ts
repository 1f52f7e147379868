// The seam between responder logic and packet I/O: the announcer only ever sees a PacketPort,
// so unit tests drive it with MemoryPort and production with the AF_PACKET addon.

/** Receives one frame. Must not block; the bytes are the callee's to keep. */
export type FrameHandler = (frame: Uint8Array) => void;

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
}

/** Which socket a responder needs: ARP frames, or IPv6 Neighbor Solicitations. */
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
  #handler: FrameHandler | null = null;

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

  /** Marks the port closed; later deliveries are ignored. */
  close(): void {
    this.closed = true;
    this.#handler = null;
  }

  /** Feeds a received frame to the handler, as the kernel would. */
  deliver(frame: Uint8Array): void {
    if (!this.closed) this.#handler?.(frame);
  }

  /** Returns and clears the recorded sends. */
  takeSent(): Uint8Array[] {
    return this.sent.splice(0, this.sent.length);
  }
}
