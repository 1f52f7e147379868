/**
 * An in-memory network of transports for tests and the simulator (after memberlist's
 * mock_transport.go), with knobs to drop packets, delay delivery and partition groups of
 * nodes. Streams honour partitions too: dialing across one fails, and bytes already in flight
 * are lost. With a ManualClock, delivery happens on virtual time.
 */
import { systemRandom, type Clock, type Random } from './clock.js';
import { ChunkQueue, formatAddress, type Address, type Stream, type Transport, type TransportHandlers } from './transport.js';

/** Options of a MemoryNetwork. */
export interface MemoryNetworkOptions {
  /** Delivery clock; default real time (setImmediate, or setTimeout with delayMs). */
  clock?: Clock;
  /** Random source for `loss`; default Math.random. */
  random?: Random;
}

/** A simulated network joining MemoryTransports by address. */
export class MemoryNetwork {
  private endpoints = new Map<string, MemoryTransport>();
  private blocked = new Set<string>();
  private readonly clock: Clock | undefined;
  private readonly random: Random;
  /** Probability (0..1) of dropping each packet. */
  loss = 0;
  /**
   * Packet loss seen by streams (default 0: streams are reliable and instant). A lost SYN or
   * SYN-ACK (probability 1 − (1 − streamLoss)²) delays the connection by TCP's 1 s initial
   * retransmission timeout, so a short dial deadline (a TCP ping) fails; bytes are never lost.
   */
  streamLoss = 0;
  /** Fixed delivery delay in ms (0 = next macrotask, or the same virtual instant). */
  delayMs = 0;
  /** Packets delivered and dropped so far, and bytes sent as packets and on streams. */
  readonly counters = { delivered: 0, dropped: 0, packetBytes: 0, streamBytes: 0 };
  private nextPort = 40000;

  /** Creates a network; see MemoryNetworkOptions. */
  constructor(opts: MemoryNetworkOptions = {}) {
    this.clock = opts.clock;
    this.random = opts.random ?? systemRandom;
  }

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
    for (const x of a)
      for (const y of b) {
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
    if (this.clock !== undefined) this.clock.setTimeout(fn, this.delayMs, true);
    else if (this.delayMs > 0) setTimeout(fn, this.delayMs);
    else setImmediate(fn);
  }

  /** Injects a datagram as if `from` had sent it (tests: forged or junk packets). */
  inject(from: Address, to: Address, buf: Uint8Array): void {
    this.sendPacket(from, to, buf);
  }

  /** @internal delivers a datagram, subject to loss and partitions. */
  sendPacket(from: Address, to: Address, buf: Uint8Array): void {
    this.counters.packetBytes += buf.length;
    const dst = this.endpoints.get(formatAddress(to));
    if (dst === undefined || this.isBlocked(from, to) || (this.loss > 0 && this.random() < this.loss)) {
      this.counters.dropped++;
      return;
    }
    const copy = buf.slice();
    this.later(() => {
      this.counters.delivered++;
      dst.deliverPacket(copy, from);
    });
  }

  /** @internal opens a stream pair within `timeoutMs` (see `loss`). */
  dialWithin(from: Address, to: Address, timeoutMs: number): Promise<Stream> {
    const synLost = this.streamLoss > 0 && this.random() < 1 - (1 - this.streamLoss) ** 2;
    if (!synLost) {
      try {
        return Promise.resolve(this.dial(from, to));
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    }
    const rto = 1000;
    return new Promise((resolve, reject) => {
      const fire = (): void => {
        if (rto > timeoutMs) reject(new Error(`memory network: dial ${formatAddress(to)}: timeout after ${timeoutMs} ms`));
        else {
          try {
            resolve(this.dial(from, to));
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        }
      };
      const wait = Math.min(rto, timeoutMs);
      if (this.clock !== undefined) this.clock.setTimeout(fire, wait, true);
      else setTimeout(fire, wait);
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
        this.counters.streamBytes += c.length;
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
    this.net.attach(this);
    this.handlers = handlers;
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
  /** Opens an in-memory stream (subject to the network's loss model). */
  dial(to: Address, timeoutMs: number): Promise<Stream> {
    return this.net.dialWithin(this.addr, to, timeoutMs);
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
