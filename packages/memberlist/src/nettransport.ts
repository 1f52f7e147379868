/**
 * The socket Transport: one UDP socket and one TCP listener on the same address and port, as
 * memberlist's net_transport.go. A thin adapter: no protocol logic lives here.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, connect, isIPv6, type Server, type Socket } from 'node:net';
import { ChunkQueue, type Address, type Stream, type Transport, type TransportHandlers } from './transport.js';

/** Logger subset used by the transport. */
interface TransportLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Options of NetTransport. */
export interface NetTransportOptions {
  bindAddr: string;
  /** 0 picks a free port (the same for UDP and TCP is attempted, TCP first). */
  bindPort: number;
  logger?: TransportLogger;
  /**
   * SO_RCVBUF to ask for (default 4 MiB); halved until accepted, as Go does (from 2 MiB). On
   * Linux the kernel silently caps it at net.core.rmem_max (a warning says so): a large buffer
   * absorbs bursts, e.g. junk floods, without dropping real probes.
   */
  recvBufferSize?: number;
}

/** Largest datagram accepted (memberlist reads into 64 KiB buffers). */
const MAX_DATAGRAM = 65536;
/** Unread stream bytes above which we stop reading the socket (TCP backpressure). */
const HIGH_WATER = 256 * 1024;

class SocketStream implements Stream {
  private readonly q = new ChunkQueue();
  private paused = false;
  constructor(
    private readonly sock: Socket,
    readonly remote: Address,
  ) {
    sock.on('data', (d: Buffer) => {
      this.q.push(new Uint8Array(d.buffer, d.byteOffset, d.length));
      if (!this.paused && this.q.bytes() > HIGH_WATER) {
        this.paused = true;
        sock.pause();
      }
    });
    sock.on('end', () => this.q.end());
    sock.on('close', () => this.q.end());
    sock.on('error', () => this.q.end());
  }
  write(buf: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.sock.destroyed) {
        reject(new Error('stream: write after close'));
        return;
      }
      this.sock.write(buf, (err) => (err ? reject(err) : resolve()));
    });
  }
  read(): Promise<Uint8Array | null> {
    const r = this.q.read();
    if (this.paused && this.q.bytes() < HIGH_WATER / 2) {
      this.paused = false;
      this.sock.resume();
    }
    return r;
  }
  close(): void {
    this.q.discard();
    // Stop reading what nobody will consume; end() flushes what was written, then sends FIN;
    // destroy later in case the peer stalls.
    this.sock.pause();
    this.sock.end();
    setTimeout(() => this.sock.destroy(), 2000).unref();
  }
}

/** UDP + TCP sockets bound to one address and port. */
export class NetTransport implements Transport {
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private bound: Address;
  private readonly streams = new Set<Socket>();
  /** Send errors (UDP) since start. */
  sendErrors = 0;
  /** The receive buffer the kernel granted (bytes, as getsockopt reports it), once started. */
  recvBufferBytes = 0;

  /** Prepares a transport; nothing is bound until start(). */
  constructor(private readonly opts: NetTransportOptions) {
    this.bound = { addr: opts.bindAddr, port: opts.bindPort };
  }

  /** Binds TCP then UDP on the same port and starts delivering. */
  async start(handlers: TransportHandlers): Promise<void> {
    const family = isIPv6(this.opts.bindAddr) ? 'udp6' : 'udp4';
    const tcp = createServer((sock) => {
      this.streams.add(sock);
      sock.on('close', () => this.streams.delete(sock));
      sock.setNoDelay(true);
      handlers.stream(new SocketStream(sock, { addr: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 }));
    });
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ host: this.opts.bindAddr, port: this.opts.bindPort, exclusive: true }, () => {
        tcp.off('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      throw new Error(`memberlist: cannot listen on tcp ${this.opts.bindAddr}:${this.opts.bindPort}`, { cause: err });
    });
    tcp.on('error', (err) => this.opts.logger?.warn({ op: 'tcp', err: String(err) }, 'tcp listener error'));
    const addr = tcp.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : this.opts.bindPort;
    const udp = createSocket({ type: family });
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ address: this.opts.bindAddr, port, exclusive: true }, () => {
          udp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
      throw new Error(`memberlist: cannot bind udp ${this.opts.bindAddr}:${port}`, { cause: err });
    }
    this.recvBufferBytes = this.growRecvBuffer(udp);
    udp.on('error', (err) => this.opts.logger?.warn({ op: 'udp', err: String(err) }, 'udp socket error'));
    udp.on('message', (msg, rinfo) => {
      if (msg.length > MAX_DATAGRAM) return;
      handlers.packet(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), { addr: rinfo.address, port: rinfo.port });
    });
    this.udp = udp;
    this.tcp = tcp;
    this.bound = { addr: this.opts.bindAddr, port };
  }

  /** Asks for a large SO_RCVBUF, halving until accepted (Go: 2 MiB down); returns what we got. */
  private growRecvBuffer(udp: UdpSocket): number {
    const want = this.opts.recvBufferSize ?? 4 * 1024 * 1024;
    for (let size = want; size >= 64 * 1024; size = Math.floor(size / 2)) {
      try {
        udp.setRecvBufferSize(size);
        break;
      } catch {
        // not accepted: try half
      }
    }
    let got = 0;
    try {
      got = udp.getRecvBufferSize();
    } catch {
      return 0;
    }
    // Linux reports twice the requested size (bookkeeping overhead) and caps at rmem_max.
    if (got < want) {
      this.opts.logger?.warn({ op: 'udp', want, got }, 'UDP receive buffer smaller than asked (raise net.core.rmem_max): bursts may drop probes');
    }
    return got;
  }

  /** The bound address and port. */
  localAddress(): Address {
    return { ...this.bound };
  }

  /** Sends a datagram from the bound socket (so Go peers see our port as the source). */
  sendPacket(to: Address, buf: Uint8Array): void {
    const udp = this.udp;
    if (udp === undefined) return;
    try {
      udp.send(buf, to.port, to.addr, (err) => {
        if (err) this.sendErrors++;
      });
    } catch {
      this.sendErrors++;
    }
  }

  /** Opens a TCP connection, failing after timeoutMs. */
  dial(to: Address, timeoutMs: number): Promise<Stream> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host: to.addr, port: to.port });
      sock.setNoDelay(true);
      // Timers run before sockets are polled: after a stall, a connection the kernel already
      // completed would look timed out. Let pending I/O (the 'connect' event) run first.
      const timer = setTimeout(
        () => {
          setImmediate(() => {
            if (sock.connecting || sock.destroyed) {
              sock.destroy();
              reject(new Error(`dial ${to.addr}:${to.port}: timeout after ${timeoutMs} ms`));
            }
          });
        },
        Math.max(1, timeoutMs),
      );
      timer.unref();
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        this.streams.add(sock);
        sock.on('close', () => this.streams.delete(sock));
        resolve(new SocketStream(sock, to));
      });
      sock.once('error', (err) => {
        clearTimeout(timer);
        sock.destroy();
        reject(new Error(`dial ${to.addr}:${to.port} failed`, { cause: err }));
      });
    });
  }

  /** Closes both sockets and any open streams. */
  async close(): Promise<void> {
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    for (const s of this.streams) s.destroy();
    this.streams.clear();
    if (udp !== undefined) await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (tcp !== undefined) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }
}
