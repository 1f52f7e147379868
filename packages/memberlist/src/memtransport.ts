/**
 * An in-memory network of transports for tests (after memberlist's mock_transport.go), with
 * knobs to drop packets, delay delivery and partition groups of nodes. Streams honour
 * partitions too: dialing across one fails, and bytes already in flight are lost.
 */
import { ChunkQueue, formatAddress, type Address, type Stream, type Transport, type TransportHandlers } from './transport.js';

/** A simulated network joining MemoryTransports by address. */
export class MemoryNetwork {
  private endpoints = new Map<string, MemoryTransport>();
  private blocked = new Set<string>();
  /** Probability (0..1) of dropping each packet. */
  loss = 0;
  /** Fixed delivery delay in ms (0 = next macrotask). */
  delayMs = 0;
  /** Packets delivered and dropped so far. */
  readonly counters = { delivered: 0, dropped: 0 };
  private nextPort = 40000;

  /** Creates a transport for addr:port (port 0 picks a free one). */
  transport(addr: string, port = 0): MemoryTransport {
    return new MemoryTransport(this, { addr, port: port === 0 ? this.nextPort++ : port });
  }

  /** @internal registers a started transport. */
  attach(t: MemoryTransport): void {
    const key = formatAddress(t.localAddress());
    if (this.endpoints.has(key)) throw new Error(`memory network: ${key} already in use`);
    this.endpoints.set(key, t);
  }

  /** @internal removes a transport. */
  detach(t: MemoryTransport): void {
    const key = formatAddress(t.localAddress());
    if (this.endpoints.get(key) === t) this.endpoints.delete(key);
  }

  /** Cuts every link between a node of `a` and a node of `b` (addresses as "ip:port" or "ip"). */
  partition(a: readonly string[], b: readonly string[]): void {
    for (const x of a) for (const y of b) {
      this.blocked.add(`${x}|${y}`);
      this.blocked.add(`${y}|${x}`);
    }
  }

  /** Removes all partitions. */
  heal(): void {
    this.blocked.clear();
  }

  /** True if traffic from `from` to `to` is cut. */
  isBlocked(from: Address, to: Address): boolean {
    if (this.blocked.size === 0) return false;
    const f = formatAddress(from);
    const t = formatAddress(to);
    return this.blocked.has(`${f}|${t}`) || this.blocked.has(`${from.addr}|${to.addr}`);
  }

  // Deliveries keep the event loop alive (they are short-lived), like bytes in a socket buffer.
  private later(fn: () => void): void {
    if (this.delayMs > 0) setTimeout(fn, this.delayMs);
    else setImmediate(fn);
  }

  /** @internal delivers a datagram, subject to loss and partitions. */
  sendPacket(from: Address, to: Address, buf: Uint8Array): void {
    const dst = this.endpoints.get(formatAddress(to));
    if (dst === undefined || this.isBlocked(from, to) || (this.loss > 0 && Math.random() < this.loss)) {
      this.counters.dropped++;
      return;
    }
    const copy = buf.slice();
    this.later(() => {
      this.counters.delivered++;
      dst.deliverPacket(copy, from);
    });
  }

  /** @internal opens a stream pair. */
  dial(from: Address, to: Address): Stream {
    const dst = this.endpoints.get(formatAddress(to));
    if (dst === undefined) throw new Error(`memory network: connection refused to ${formatAddress(to)}`);
    if (this.isBlocked(from, to)) throw new Error(`memory network: ${formatAddress(to)} unreachable (partition)`);
    const a = new MemoryStream(to);
    const b = new MemoryStream(from);
    const link = (src: MemoryStream, dstStream: MemoryStream, srcAddr: Address, dstAddr: Address): void => {
      src.sink = (c) => {
        if (this.isBlocked(srcAddr, dstAddr)) return;
        this.later(() => dstStream.incoming.push(c));
      };
      src.onClose = () => this.later(() => dstStream.incoming.end());
    };
    link(a, b, from, to);
    link(b, a, to, from);
    this.later(() => dst.deliverStream(b));
    return a;
  }
}

class MemoryStream implements Stream {
  readonly incoming = new ChunkQueue();
  sink: (c: Uint8Array) => void = () => undefined;
  onClose: () => void = () => undefined;
  private closed = false;
  constructor(readonly remote: Address) {}
  write(buf: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error('memory stream: write after close'));
    this.sink(buf.slice());
    return Promise.resolve();
  }
  read(): Promise<Uint8Array | null> {
    return this.incoming.read();
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.incoming.end();
    this.onClose();
  }
}

/** One node's endpoint on a MemoryNetwork. */
export class MemoryTransport implements Transport {
  private handlers: TransportHandlers | undefined;
  constructor(
    private readonly net: MemoryNetwork,
    private readonly addr: Address,
  ) {}
  /** Attaches to the network. */
  start(handlers: TransportHandlers): Promise<void> {
    this.handlers = handlers;
    this.net.attach(this);
    return Promise.resolve();
  }
  /** The simulated bound address. */
  localAddress(): Address {
    return { ...this.addr };
  }
  /** Sends through the network (drops when not started). */
  sendPacket(to: Address, buf: Uint8Array): void {
    if (this.handlers === undefined) return;
    this.net.sendPacket(this.addr, to, buf);
  }
  /** Opens an in-memory stream. */
  dial(to: Address, _timeoutMs: number): Promise<Stream> {
    try {
      return Promise.resolve(this.net.dial(this.addr, to));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }
  /** Detaches; later packets to this address are dropped. */
  close(): Promise<void> {
    this.net.detach(this);
    this.handlers = undefined;
    return Promise.resolve();
  }
  /** @internal */
  deliverPacket(buf: Uint8Array, from: Address): void {
    this.handlers?.packet(buf, from);
  }
  /** @internal */
  deliverStream(s: Stream): void {
    if (this.handlers === undefined) s.close();
    else this.handlers.stream(s);
  }
}
