/**
 * The Transport seam (after memberlist's transport.go): best-effort packets plus reliable,
 * one-exchange-per-connection streams. The state machine knows nothing else about the network,
 * so the same code runs on UDP/TCP sockets and on the in-memory network used by tests.
 */

/** A textual IP address and port. */
export interface Address {
  addr: string;
  port: number;
}

/** A reliable byte stream (one TCP connection, or its in-memory twin). */
export interface Stream {
  /** The peer's address. */
  readonly remote: Address;
  /** Queues bytes for sending; resolves when handed to the OS (or the peer, in memory). */
  write(buf: Uint8Array): Promise<void>;
  /** The next chunk of received bytes, or null at end of stream (peer closed, or we closed). */
  read(): Promise<Uint8Array | null>;
  /** Closes both directions; pending and future reads return null. */
  close(): void;
}

/** Receives what a transport delivers. Handlers must not throw; they are called synchronously. */
export interface TransportHandlers {
  /** A datagram arrived from `from`. */
  packet(buf: Uint8Array, from: Address): void;
  /** A peer opened a stream to us. */
  stream(s: Stream): void;
}

/** Best-effort packets + reliable streams. */
export interface Transport {
  /** Binds and starts delivering to `handlers`; resolves once listening. */
  start(handlers: TransportHandlers): Promise<void>;
  /** The address we actually bound (the port is resolved when 0 was asked). */
  localAddress(): Address;
  /** Sends one datagram; errors are swallowed (counted by the transport) as for UDP. */
  sendPacket(to: Address, buf: Uint8Array): void;
  /** Opens a stream, rejecting after `timeoutMs`. */
  dial(to: Address, timeoutMs: number): Promise<Stream>;
  /** Stops listening and releases sockets. */
  close(): Promise<void>;
}

/** Formats an address as host:port (IPv6 in brackets). */
export function formatAddress(a: Address): string {
  return a.addr.includes(':') ? `[${a.addr}]:${a.port}` : `${a.addr}:${a.port}`;
}

/**
 * A push-fed Stream read side: producers call push()/end(), the consumer awaits read().
 * Shared by the socket and in-memory transports.
 */
export class ChunkQueue {
  private chunks: Uint8Array[] = [];
  private waiters: Array<(c: Uint8Array | null) => void> = [];
  private ended = false;
  private queued = 0;
  /** Delivers a chunk to the next reader. */
  push(c: Uint8Array): void {
    if (this.ended) return;
    const w = this.waiters.shift();
    if (w !== undefined) w(c);
    else {
      this.chunks.push(c);
      this.queued += c.length;
    }
  }
  /** Bytes received but not read yet (a socket transport pauses reading above a mark). */
  bytes(): number {
    return this.queued;
  }
  /** Marks end of stream; readers get null once buffered chunks are drained. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const w of this.waiters.splice(0)) w(null);
  }
  /** Ends the stream and drops buffered chunks (we closed it: nobody will read them). */
  discard(): void {
    this.end();
    this.chunks = [];
    this.queued = 0;
  }
  /** The next chunk or null at end. */
  read(): Promise<Uint8Array | null> {
    const c = this.chunks.shift();
    if (c !== undefined) {
      this.queued -= c.length;
      return Promise.resolve(c);
    }
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
