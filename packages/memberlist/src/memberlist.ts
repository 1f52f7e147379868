/**
 * The SWIM + Lifeguard state machine, wire-compatible with hashicorp/memberlist (state.go,
 * net.go, memberlist.go). It talks to the network only through a Transport; the pure parts
 * (codecs, framing, crypto, timing math) live in their own modules.
 *
 * JavaScript runs this on one thread, so where Go takes locks we simply avoid awaiting in the
 * middle of a state change: every handler that mutates membership is synchronous.
 */
import { BroadcastQueue } from './broadcast.js';
import { ENCRYPT_OVERHEAD_V1, type Keyring } from './crypto.js';
import { encodeCompound, makeCompounds } from './framing.js';
import { bytesToIp, ipToBytes, parseJoinAddress } from './ip.js';
import {
  DEFAULT_VSN,
  MsgType,
  NodeStateNum,
  type Accusation,
  type Alive,
  type IndirectPingReq,
  type Message,
  type Ping,
  type PushNodeState,
  encodeMessage,
} from './messages.js';
import { NetTransport } from './nettransport.js';
import { decodePacket, encodePacket, type PacketDropReason } from './packet.js';
import { MAX_STREAM_BYTES, StreamError, encodePushPull, encodeStreamFrame, tryParseStream, type StreamDropReason, type StreamMessage } from './stream.js';
import {
  PRESETS,
  applyAwareness,
  pushPullScale,
  retransmitLimit,
  scaleByAwareness,
  suspicionParams,
  suspicionTimeoutAfter,
  type PresetName,
  type Timing,
} from './timing.js';
import type { Address, Stream, Transport } from './transport.js';

/** A minimal structured logger; a pino logger satisfies it. */
export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Member states. */
export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

/** A snapshot of one member (a copy; safe to keep). */
export interface Member {
  name: string;
  addr: string;
  port: number;
  state: MemberState;
  incarnation: number;
  meta: Uint8Array;
  /** The 6-byte protocol version vector [pmin, pmax, pcur, dmin, dmax, dcur]. */
  vsn: Uint8Array;
}

/** A membership event: join (new or back from dead/left), leave (dead or left), update (meta). */
export interface MemberEvent {
  type: 'join' | 'leave' | 'update';
  member: Member;
}

/** Options of createMemberlist. */
export interface MemberlistOptions {
  /** Unique node name (the speaker uses the Kubernetes node name). */
  name: string;
  /** Address to bind (UDP and TCP); default 0.0.0.0, which then needs advertiseAddr. */
  bindAddr?: string;
  /** Port to bind (UDP and TCP); default 7946; 0 picks one. */
  bindPort?: number;
  /** Address peers should use; default bindAddr. */
  advertiseAddr?: string;
  /** Port peers should use; default the bound port. */
  advertisePort?: number;
  /** Custom transport (tests: MemoryNetwork); default UDP+TCP sockets on bindAddr:bindPort. */
  transport?: Transport;
  /** Named timing preset; default `fast`. */
  preset?: PresetName;
  /** Overrides on top of the preset. */
  timing?: Partial<Timing>;
  /** Encryption keys; none = plaintext. */
  keyring?: Keyring;
  /** Label that every packet and stream must carry (memberlist Config.Label); default none. */
  label?: string;
  /** Compress outgoing messages with LZW as Go does (default true, like memberlist). */
  compression?: boolean;
  /** Node metadata (≤ 512 bytes). */
  meta?: Uint8Array;
  /** Logger; default silent. */
  logger?: Logger;
  /** Event callback, invoked asynchronously (never inside the receive path) with copies. */
  onEvent?: (ev: MemberEvent) => void;
  /** UDP piggyback budget; default 1400 as in memberlist. */
  udpBufferSize?: number;
}

/** Every reason a packet, a part of one, a stream or a gossip message is dropped. */
export type DropReason =
  | PacketDropReason
  | StreamDropReason
  | 'wrongNode'
  | 'unhandled'
  | 'unhandledStream'
  | 'badVersion'
  | 'addressConflict'
  | 'protocolVersion'
  | 'pushPullLimit'
  | 'streamRead';

/** Counters exposed by stats(). */
export interface MemberlistStats {
  packetsReceived: number;
  packetsSent: number;
  streamsAccepted: number;
  streamsDialed: number;
  /** Dropped packets/streams (or parts) by reason; `decrypt` counts undecryptable packets. */
  dropped: Partial<Record<DropReason, number>>;
  probes: number;
  probeFailures: number;
  indirectProbes: number;
  tcpFallbackSuccesses: number;
  /** Suspicions this node raised or accepted (a member moved alive → suspect here). */
  suspicionsRaised: number;
  /** Suspicion timers that expired here (we declared the member dead). */
  suspicionTimeouts: number;
  /** Unconfirmed suspicions whose expiry was postponed because we were unhealthy. */
  suspicionsDeferred: number;
  refutes: number;
  pushPulls: number;
  pushPullFailures: number;
  awareness: number;
}

interface NodeState {
  name: string;
  addrBytes: Uint8Array;
  addr: string;
  port: number;
  meta: Uint8Array;
  vsn: Uint8Array;
  incarnation: number;
  state: MemberState;
  stateChange: number;
  /** When we last started a probe of this member (0 = never). */
  lastProbed: number;
}

const STATE_FROM_NUM: readonly MemberState[] = ['alive', 'suspect', 'dead', 'left'];

/** Lifeguard suspicion timer: starts at max, shrinks toward min with independent confirmations. */
class Suspicion {
  private readonly confirmations = new Set<string>();
  private n = 0;
  private readonly start = Date.now();
  private timer: NodeJS.Timeout;
  constructor(
    from: string,
    private readonly k: number,
    private readonly min: number,
    private readonly max: number,
    private readonly fire: (confirmations: number) => void,
  ) {
    // The accuser is recorded so its repeats do not count as confirmations.
    this.confirmations.add(from);
    const timeout = k < 1 ? min : max;
    this.timer = setTimeout(() => this.fire(this.n), timeout);
    this.timer.unref();
  }
  /** Counts a confirmation from a new accuser; true if it was new (and should be re-gossiped). */
  confirm(from: string): boolean {
    if (this.n >= this.k || this.confirmations.has(from)) return false;
    this.confirmations.add(from);
    this.n++;
    const remaining = suspicionTimeoutAfter(this.min, this.max, this.k, this.n) - (Date.now() - this.start);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fire(this.n), Math.max(0, remaining));
    this.timer.unref();
    return true;
  }
  /** Set once the expiry was postponed (see Memberlist.suspectNode). */
  deferred = false;
  /** Restarts the timer to fire `ms` from now. */
  rearm(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fire(this.n), ms);
    this.timer.unref();
  }
  stop(): void {
    clearTimeout(this.timer);
  }
}

interface AckHandler {
  ack: (payload: Uint8Array) => void;
  nack: () => void;
  timer: NodeJS.Timeout;
}

const silentLogger: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

function copyBytes(b: Uint8Array): Uint8Array {
  return b.slice();
}

function vsn6(v: Uint8Array): Uint8Array {
  // Go keeps six version fields and always sends six bytes; missing ones are zero.
  const out = new Uint8Array(6);
  out.set(v.subarray(0, 6));
  return out;
}

function bytesEq(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Resolves after the event loop's next poll phase. Node runs expired timers *before* reading
 * sockets, so after a stall (GC, a busy CPU) a probe timeout would fire while its ack is still
 * unread in the socket buffer; every verdict waits for this first.
 */
function afterIo(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function shuffle<T>(a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    const t = a[i] as T;
    a[i] = a[j] as T;
    a[j] = t;
  }
  return a;
}

/** A running memberlist node. Create with createMemberlist(). */
export class Memberlist {
  private readonly timing: Timing;
  private readonly log: Logger;
  private readonly transport: Transport;
  private readonly label: Uint8Array;
  private readonly compression: boolean;
  private readonly udpBufferSize: number;
  private readonly keyring: Keyring | undefined;
  private readonly meta: Uint8Array;
  private readonly nodes = new Map<string, NodeState>();
  private probeList: NodeState[] = [];
  private probeIndex = 0;
  private readonly suspicions = new Map<string, Suspicion>();
  /** Failed (dead, not left) members' last addresses, for the reconnect loop. */
  private readonly failed = new Map<string, { addr: Address; since: number }>();
  private readonly ackHandlers = new Map<number, AckHandler>();
  private readonly broadcasts = new BroadcastQueue();
  private seqNo = 0;
  private incarnation = 0;
  private awareness = 0;
  /** When a valid packet last arrived from anyone. */
  private lastPacketAt = 0;
  /** When a probe of ours last failed while nothing at all arrived during it (we were cut off). */
  private lastIsolatedAt = 0;
  private started = false;
  private stopped = false;
  private leaving = false;
  private inboundPushPulls = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sleepers = new Set<() => void>();
  private readonly events: MemberEvent[] = [];
  private eventsScheduled = false;
  private advertise: Address = { addr: '', port: 0 };
  private advertiseBytes: Uint8Array = new Uint8Array(0);
  private readonly counters: MemberlistStats = {
    packetsReceived: 0,
    packetsSent: 0,
    streamsAccepted: 0,
    streamsDialed: 0,
    dropped: {},
    probes: 0,
    probeFailures: 0,
    indirectProbes: 0,
    tcpFallbackSuccesses: 0,
    suspicionsRaised: 0,
    suspicionTimeouts: 0,
    suspicionsDeferred: 0,
    refutes: 0,
    pushPulls: 0,
    pushPullFailures: 0,
    awareness: 0,
  };

  /** Use createMemberlist(). */
  constructor(private readonly opts: MemberlistOptions) {
    if (opts.name === '') throw new Error('memberlist: name is required');
    this.timing = { ...PRESETS[opts.preset ?? 'fast'], ...(opts.timing ?? {}) };
    this.log = opts.logger ?? silentLogger;
    this.label = new TextEncoder().encode(opts.label ?? '');
    if (this.label.length > 255) throw new Error('memberlist: label longer than 255 bytes');
    this.compression = opts.compression ?? true;
    this.udpBufferSize = opts.udpBufferSize ?? 1400;
    this.keyring = opts.keyring;
    this.meta = copyBytes(opts.meta ?? new Uint8Array(0));
    if (this.meta.length > 512) throw new Error('memberlist: meta larger than 512 bytes');
    this.transport = opts.transport ?? new NetTransport({ bindAddr: opts.bindAddr ?? '0.0.0.0', bindPort: opts.bindPort ?? 7946, logger: this.log });
  }

  // ---------------------------------------------------------------- lifecycle

  /** Binds the transport, registers ourselves as alive and starts the probe/gossip/push-pull loops. */
  async start(): Promise<void> {
    if (this.started) throw new Error('memberlist: already started');
    this.started = true;
    await this.transport.start({
      packet: (buf, from) => this.onPacket(buf, from),
      stream: (s) => {
        void this.onStream(s);
      },
    });
    const bound = this.transport.localAddress();
    const addr = this.opts.advertiseAddr ?? bound.addr;
    if (addr === '0.0.0.0' || addr === '::') throw new Error(`memberlist: bound to ${addr}; set advertiseAddr to an address peers can reach`);
    const addrBytes = ipToBytes(addr);
    if (addrBytes === undefined) throw new Error(`memberlist: invalid advertise address ${JSON.stringify(addr)}`);
    this.advertise = { addr, port: this.opts.advertisePort ?? bound.port };
    this.advertiseBytes = addrBytes;
    this.incarnation = 1;
    this.aliveNode(
      { incarnation: 1, node: this.opts.name, addr: addrBytes, port: this.advertise.port, meta: this.meta, vsn: DEFAULT_VSN },
      true,
    );
    void this.probeLoop();
    void this.pushPullLoop();
    void this.reconnectLoop();
    const g = setInterval(() => this.guard('gossip', () => this.gossip()), this.timing.gossipInterval);
    g.unref();
    this.timers.add(g);
    this.log.info({ op: 'start', node: this.opts.name, addr: this.advertise.addr, port: this.advertise.port }, 'memberlist started');
  }

  /**
   * Joins a cluster by push/pull with each address ("ip", "ip:port", "name/ip:port"; the port
   * defaults to our advertise port). Returns how many succeeded.
   */
  async join(addrs: readonly string[]): Promise<number> {
    let ok = 0;
    await Promise.all(
      addrs.map(async (a) => {
        const target = parseJoinAddress(a, this.advertise.port);
        if (target === undefined) {
          this.log.warn({ op: 'join', addr: a }, 'invalid join address');
          return;
        }
        try {
          await this.pushPull({ addr: target.addr, port: target.port }, true);
          ok++;
        } catch (err) {
          this.log.warn({ op: 'join', addr: a, err: String(err) }, 'join failed');
        }
      }),
    );
    return ok;
  }

  /** Every known member (including dead and left ones until they are reaped), as copies. */
  members(): Member[] {
    return [...this.nodes.values()].map((n) => this.snapshot(n));
  }

  /** Members that are alive or suspect (what MetalLB counts as usable speakers). */
  liveMembers(): Member[] {
    return this.members().filter((m) => m.state === 'alive' || m.state === 'suspect');
  }

  /** Our own member entry. */
  localMember(): Member {
    const me = this.nodes.get(this.opts.name);
    if (me === undefined) throw new Error('memberlist: not started');
    return this.snapshot(me);
  }

  /** Lifeguard health score (0 = healthy). */
  healthScore(): number {
    return this.awareness;
  }

  /** A copy of the counters. */
  stats(): MemberlistStats {
    return { ...this.counters, dropped: { ...this.counters.dropped }, awareness: this.awareness };
  }

  /**
   * Graceful leave: broadcasts "dead" about ourselves with From = us, which peers record as
   * Left at once, and waits until it has been gossiped (or `timeoutMs`). Call shutdown() next.
   */
  async leave(timeoutMs: number): Promise<void> {
    if (this.leaving || !this.started) return;
    this.leaving = true;
    const me = this.nodes.get(this.opts.name);
    if (me === undefined) return;
    const anyAlive = [...this.nodes.values()].some((n) => n.name !== this.opts.name && n.state !== 'dead' && n.state !== 'left');
    let done!: () => void;
    const broadcastDone = new Promise<void>((resolve) => (done = resolve));
    this.deadNode({ incarnation: me.incarnation, node: me.name, from: me.name }, done);
    if (!anyAlive) return;
    // Gossip right away rather than waiting for the next tick.
    this.gossip();
    let timedOut = false;
    await Promise.race([broadcastDone, this.sleep(timeoutMs, true).then(() => (timedOut = true))]);
    if (timedOut) this.log.warn({ op: 'leave' }, 'timeout waiting for leave broadcast');
  }

  /** Stops all loops and timers and closes the transport. Does not broadcast a leave. */
  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) {
      clearTimeout(t);
      clearInterval(t);
    }
    this.timers.clear();
    for (const s of this.suspicions.values()) s.stop();
    this.suspicions.clear();
    for (const h of this.ackHandlers.values()) clearTimeout(h.timer);
    this.ackHandlers.clear();
    for (const wake of this.sleepers) wake();
    this.sleepers.clear();
    this.broadcasts.reset();
    await this.transport.close();
  }

  // ---------------------------------------------------------------- helpers

  private snapshot(n: NodeState): Member {
    return { name: n.name, addr: n.addr, port: n.port, state: n.state, incarnation: n.incarnation, meta: copyBytes(n.meta), vsn: copyBytes(n.vsn) };
  }

  private emit(type: MemberEvent['type'], n: NodeState): void {
    if (this.opts.onEvent === undefined) return;
    this.events.push({ type, member: this.snapshot(n) });
    if (this.eventsScheduled) return;
    this.eventsScheduled = true;
    setImmediate(() => {
      this.eventsScheduled = false;
      const cb = this.opts.onEvent;
      for (const ev of this.events.splice(0)) {
        try {
          cb?.(ev);
        } catch (err) {
          this.log.error({ op: 'event', err: String(err) }, 'event callback threw');
        }
      }
    });
  }

  private drop(reason: DropReason): void {
    this.counters.dropped[reason] = (this.counters.dropped[reason] ?? 0) + 1;
  }

  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ op: what, err: err instanceof Error ? (err.stack ?? err.message) : String(err) }, 'internal error');
    }
  }

  private timer(fn: () => void, ms: number): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.guard('timer', fn);
    }, ms);
    t.unref();
    this.timers.add(t);
    return t;
  }

  /**
   * Resolves after `ms`, or at once on shutdown. Internal loops use unref'd timers so they never
   * keep a process alive; `ref` is for waits a caller awaits (leave), which must complete.
   */
  private sleep(ms: number, ref = false): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        this.sleepers.delete(wake);
        clearTimeout(t);
        this.timers.delete(t);
        resolve();
      };
      const t = setTimeout(wake, Math.max(0, ms));
      if (!ref) t.unref();
      this.timers.add(t);
      this.sleepers.add(wake);
    });
  }

  private nextSeqNo(): number {
    this.seqNo = (this.seqNo + 1) >>> 0;
    return this.seqNo;
  }

  private nextIncarnation(): number {
    this.incarnation = (this.incarnation + 1) >>> 0;
    return this.incarnation;
  }

  private keys(): Uint8Array[] {
    return this.keyring?.all() ?? [];
  }

  private retransmits(): number {
    return retransmitLimit(this.timing.retransmitMult, this.nodes.size);
  }

  private encOverhead(): number {
    return (this.keyring !== undefined ? ENCRYPT_OVERHEAD_V1 : 0) + (this.label.length > 0 ? 2 + this.label.length : 0);
  }

  private nodeAddress(n: NodeState): Address {
    return { addr: n.addr, port: n.port };
  }

  // ---------------------------------------------------------------- sending

  /** Sends one packet, adding the CRC when the destination speaks protocol ≥ 5. */
  private rawSend(to: Address, msg: Uint8Array, node?: NodeState): void {
    if (this.stopped) return;
    const crc = node !== undefined && (node.vsn[1] ?? 0) >= 5;
    let pkt: Uint8Array;
    try {
      pkt = encodePacket(msg, { keys: this.keys(), label: this.label, compress: this.compression }, crc);
    } catch (err) {
      this.log.error({ op: 'send', err: String(err) }, 'failed to encode packet');
      return;
    }
    this.counters.packetsSent++;
    this.transport.sendPacket(to, pkt);
  }

  /** Sends a message with as much queued gossip piggybacked as fits. */
  private sendMsg(to: Address, msg: Uint8Array, node?: NodeState): void {
    const avail = this.udpBufferSize - msg.length - 2 - this.encOverhead();
    const extra = this.broadcasts.getBroadcasts(2, avail, this.retransmits());
    if (extra.length === 0) this.rawSend(to, msg, node);
    else this.rawSend(to, encodeCompound([msg, ...extra]), node);
  }

  private broadcast(name: string, m: Message, notify?: () => void): void {
    this.broadcasts.queue(name, encodeMessage(m), notify);
  }

  private gossip(): void {
    if (this.stopped) return;
    const now = Date.now();
    const peers = shuffle(
      [...this.nodes.values()].filter((n) => {
        if (n.name === this.opts.name) return false;
        if (n.state === 'alive' || n.state === 'suspect') return true;
        return n.state === 'dead' && now - n.stateChange <= this.timing.gossipToTheDeadTime;
      }),
    ).slice(0, this.timing.gossipNodes);
    const avail = this.udpBufferSize - 2 - this.encOverhead();
    for (const n of peers) {
      const msgs = this.broadcasts.getBroadcasts(2, avail, this.retransmits());
      if (msgs.length === 0) return;
      for (const pkt of makeCompounds(msgs)) this.rawSend(this.nodeAddress(n), pkt, n);
    }
  }

  // ---------------------------------------------------------------- receiving

  private onPacket(buf: Uint8Array, from: Address): void {
    if (this.stopped) return;
    this.counters.packetsReceived++;
    this.guard('packet', () => {
      const opened = decodePacket(buf, { keys: this.keys(), label: this.label });
      for (const d of opened.drops) this.drop(d);
      if (opened.messages.length > 0) this.lastPacketAt = Date.now();
      for (const m of opened.messages) this.handleMessage(m, from);
    });
  }

  private handleMessage(m: Message, from: Address): void {
    switch (m.type) {
      case MsgType.ping:
        return this.handlePing(m.body, from);
      case MsgType.indirectPing:
        return this.handleIndirectPing(m.body, from);
      case MsgType.ackResp: {
        const h = this.ackHandlers.get(m.body.seqNo);
        if (h !== undefined) h.ack(m.body.payload);
        return;
      }
      case MsgType.nackResp: {
        this.ackHandlers.get(m.body.seqNo)?.nack();
        return;
      }
      case MsgType.alive:
        this.aliveNode(m.body, false);
        return;
      case MsgType.suspect:
        this.suspectNode(m.body);
        return;
      case MsgType.dead:
        this.deadNode(m.body);
        return;
      default:
        // user messages and errResp are not used over UDP by this implementation
        this.drop('unhandled');
    }
  }

  private replyAddress(p: { sourceAddr?: Uint8Array; sourcePort?: number }, from: Address): Address {
    if (p.sourceAddr !== undefined && p.sourcePort !== undefined && p.sourcePort > 0) {
      const ip = bytesToIp(p.sourceAddr);
      if (ip !== undefined) return { addr: ip, port: p.sourcePort };
    }
    return from;
  }

  private handlePing(p: Ping, from: Address): void {
    if (p.node !== '' && p.node !== this.opts.name) {
      this.drop('wrongNode');
      return;
    }
    const to = this.replyAddress(p, from);
    const node = p.sourceNode !== undefined ? this.nodes.get(p.sourceNode) : undefined;
    this.sendMsg(to, encodeMessage({ type: MsgType.ackResp, body: { seqNo: p.seqNo, payload: new Uint8Array(0) } }), node);
  }

  private handleIndirectPing(ind: IndirectPingReq, from: Address): void {
    const target = bytesToIp(ind.target);
    if (target === undefined) {
      this.drop('malformed');
      return;
    }
    const port = ind.port === 0 ? this.advertise.port : ind.port;
    const replyTo = this.replyAddress(ind, from);
    const requester = ind.sourceNode !== undefined ? this.nodes.get(ind.sourceNode) : undefined;
    const localSeq = this.nextSeqNo();
    let answered = false;
    this.setAckHandler(
      localSeq,
      () => {
        answered = true;
        this.sendMsg(replyTo, encodeMessage({ type: MsgType.ackResp, body: { seqNo: ind.seqNo, payload: new Uint8Array(0) } }), requester);
      },
      () => undefined,
      this.timing.probeTimeout,
    );
    const ping: Ping = { seqNo: localSeq, node: ind.node, sourceAddr: this.advertiseBytes, sourcePort: this.advertise.port, sourceNode: this.opts.name };
    this.sendMsg({ addr: target, port }, encodeMessage({ type: MsgType.ping, body: ping }), this.nodes.get(ind.node));
    if (ind.nack) {
      this.timer(() => {
        if (!answered) this.sendMsg(replyTo, encodeMessage({ type: MsgType.nackResp, body: { seqNo: ind.seqNo } }), requester);
      }, this.timing.probeTimeout);
    }
  }

  private clearAckHandler(seq: number): void {
    const h = this.ackHandlers.get(seq);
    if (h === undefined) return;
    clearTimeout(h.timer);
    this.ackHandlers.delete(seq);
  }

  private setAckHandler(seq: number, ack: (payload: Uint8Array) => void, nack: () => void, timeoutMs: number): void {
    const timer = setTimeout(() => this.ackHandlers.delete(seq), timeoutMs);
    timer.unref();
    this.ackHandlers.set(seq, {
      ack: (p) => {
        clearTimeout(timer);
        this.ackHandlers.delete(seq);
        ack(p);
      },
      nack,
      timer,
    });
  }

  // ---------------------------------------------------------------- probing

  private async probeLoop(): Promise<void> {
    // Random stagger so a fleet started together does not probe in lockstep.
    await this.sleep(Math.random() * this.timing.probeInterval);
    while (!this.stopped) {
      const start = Date.now();
      try {
        await this.probe();
      } catch (err) {
        this.log.error({ op: 'probe', err: String(err) }, 'probe failed');
      }
      await this.sleep(this.timing.probeInterval - (Date.now() - start));
    }
  }

  /** Picks the next member round-robin (skipping us and dead/left members) and probes it. */
  private async probe(): Promise<void> {
    // ironlb addition: a suspect we have not probed for a probe interval goes first. Its probe
    // carries the suspicion (ping + suspect), so a member whose suspicion gossip was lost (say,
    // in a short outage) can refute in time, and a really dead one collects confirmations
    // sooner. Plain round-robin (Go) may not come back to it before the suspicion expires.
    const now = Date.now();
    let oldest: NodeState | undefined;
    for (const n of this.nodes.values()) {
      if (n.state !== 'suspect' || n.name === this.opts.name || now - n.lastProbed < this.timing.probeInterval) continue;
      if (oldest === undefined || n.lastProbed < oldest.lastProbed) oldest = n;
    }
    if (oldest !== undefined) {
      await this.probeNode(oldest);
      return;
    }
    let checked = 0;
    for (;;) {
      if (checked >= this.probeList.length) return;
      if (this.probeIndex >= this.probeList.length) {
        this.resetProbeList();
        this.probeIndex = 0;
        checked++;
        continue;
      }
      const n = this.probeList[this.probeIndex++];
      if (n === undefined || n.name === this.opts.name || n.state === 'dead' || n.state === 'left') {
        checked++;
        continue;
      }
      await this.probeNode(n);
      return;
    }
  }

  /** On wrap: forget members dead for longer than gossipToTheDeadTime, then reshuffle. */
  private resetProbeList(): void {
    const now = Date.now();
    for (const n of [...this.nodes.values()]) {
      if ((n.state === 'dead' || n.state === 'left') && now - n.stateChange > this.timing.gossipToTheDeadTime && n.name !== this.opts.name) {
        this.nodes.delete(n.name);
      }
    }
    this.probeList = shuffle([...this.nodes.values()]);
  }

  private async probeNode(node: NodeState): Promise<void> {
    this.counters.probes++;
    node.lastProbed = Date.now();
    const probeInterval = scaleByAwareness(this.timing.probeInterval, this.awareness);
    const seq = this.nextSeqNo();
    const ping: Ping = { seqNo: seq, node: node.name, sourceAddr: this.advertiseBytes, sourcePort: this.advertise.port, sourceNode: this.opts.name };
    let acked = false;
    let nacks = 0;
    let wake: () => void = () => undefined;
    const ackArrived = new Promise<void>((resolve) => (wake = resolve));
    this.setAckHandler(
      seq,
      () => {
        acked = true;
        wake();
      },
      () => nacks++,
      // A little longer than the probe: the verdict first lets pending I/O run (afterIo), and
      // an ack read then must still find its handler. probeNode removes it when done.
      probeInterval + this.timing.probeTimeout,
    );
    const probeStart = Date.now();
    const deadline = probeStart + probeInterval;
    const pingMsg = encodeMessage({ type: MsgType.ping, body: ping });
    if (node.state === 'alive') this.sendMsg(this.nodeAddress(node), pingMsg, node);
    else {
      // Probing a suspect: include the suspicion so it can refute at once.
      const sus = encodeMessage({ type: MsgType.suspect, body: { incarnation: node.incarnation, node: node.name, from: this.opts.name } });
      this.rawSend(this.nodeAddress(node), encodeCompound([pingMsg, sus]), node);
    }
    try {
      await this.probeRounds(node, ping, probeStart, deadline, ackArrived, () => acked, () => nacks);
    } finally {
      this.clearAckHandler(seq);
    }
  }

  /** The waiting part of probeNode (split out so the ack handler is always removed). */
  private async probeRounds(
    node: NodeState,
    ping: Ping,
    probeStart: number,
    deadline: number,
    ackArrived: Promise<void>,
    acked: () => boolean,
    nacks: () => number,
  ): Promise<void> {
    await Promise.race([ackArrived, this.sleep(this.timing.probeTimeout)]);
    if (!acked()) await afterIo();
    if (this.stopped) return;
    if (acked()) {
      this.setAwareness(-1);
      return;
    }
    // Indirect probes through k random alive peers, plus a TCP ping if the target speaks v3+.
    const relays = shuffle([...this.nodes.values()].filter((n) => n.name !== this.opts.name && n.name !== node.name && n.state === 'alive')).slice(
      0,
      this.timing.indirectChecks,
    );
    let expectedNacks = 0;
    for (const r of relays) {
      const nack = (r.vsn[1] ?? 0) >= 4;
      if (nack) expectedNacks++;
      const ind: IndirectPingReq = {
        seqNo: ping.seqNo,
        target: node.addrBytes,
        port: node.port,
        node: node.name,
        nack,
        sourceAddr: this.advertiseBytes,
        sourcePort: this.advertise.port,
        sourceNode: this.opts.name,
      };
      this.counters.indirectProbes++;
      this.sendMsg(this.nodeAddress(r), encodeMessage({ type: MsgType.indirectPing, body: ind }), r);
    }
    const tcp = !this.timing.disableTcpPings && (node.vsn[1] ?? 0) >= 3 ? this.tcpPing(node, ping, deadline) : Promise.resolve(false);
    await Promise.race([ackArrived, this.sleep(deadline - Date.now())]);
    if (!acked()) await afterIo();
    if (this.stopped) return;
    if (acked()) return;
    if (await tcp) {
      this.counters.tcpFallbackSuccesses++;
      this.log.warn({ op: 'probe', node: node.name }, 'was able to connect over TCP but UDP probes failed, network may be misconfigured');
      return;
    }
    if (this.stopped) return;
    this.counters.probeFailures++;
    // Not even a nack from a relay, nor any other packet, during the whole probe: we are the
    // likely problem (see the suspicion expiry in suspectNode).
    if (this.lastPacketAt < probeStart) this.lastIsolatedAt = Date.now();
    this.setAwareness(expectedNacks > 0 ? Math.max(0, expectedNacks - nacks()) : 1);
    this.log.info({ op: 'probe', node: node.name }, 'suspect has failed, no acks received');
    this.suspectNode({ incarnation: node.incarnation, node: node.name, from: this.opts.name });
  }

  private setAwareness(delta: number): void {
    this.awareness = applyAwareness(this.awareness, delta, this.timing.awarenessMaxMultiplier);
  }

  private async tcpPing(node: NodeState, ping: Ping, deadline: number): Promise<boolean> {
    let s: Stream | undefined;
    try {
      s = await this.transport.dial(this.nodeAddress(node), Math.max(1, deadline - Date.now()));
      this.counters.streamsDialed++;
      await s.write(encodeStreamFrame(encodeMessage({ type: MsgType.ping, body: ping }), this.streamOpts(), true));
      const reply = await this.readStream(s, false, deadline - Date.now());
      return reply.type === 'ack' && reply.ack.seqNo === ping.seqNo;
    } catch {
      return false;
    } finally {
      s?.close();
    }
  }

  // ---------------------------------------------------------------- state transitions

  /** memberlist aliveNode: admit, update or refute. `bootstrap` is our own initial alive. */
  private aliveNode(a: Alive, bootstrap: boolean, notify?: () => void): void {
    const isLocal = a.node === this.opts.name;
    if (this.leaving && isLocal) return;
    if (a.vsn.length >= 3) {
      const [pmin = 0, pmax = 0] = a.vsn;
      if (pmin === 0 || pmax === 0 || pmin > pmax) {
        this.drop('badVersion');
        return;
      }
    }
    // Protocol v1 alive messages carry no port; Go substitutes its own bind port.
    if (a.port === 0) a = { ...a, port: this.advertise.port };
    const addr = bytesToIp(a.addr);
    if (addr === undefined || a.node === '') {
      this.drop('malformed');
      return;
    }
    let state = this.nodes.get(a.node);
    let updatesNode = false;
    if (state === undefined) {
      state = {
        name: a.node,
        addrBytes: copyBytes(a.addr),
        addr,
        port: a.port,
        meta: copyBytes(a.meta),
        vsn: vsn6(a.vsn),
        incarnation: 0,
        state: 'dead',
        stateChange: Date.now(),
        lastProbed: 0,
      };
      this.nodes.set(a.node, state);
      // Insert at a random position so new members are not all probed last.
      const off = Math.floor(Math.random() * (this.probeList.length + 1));
      this.probeList.splice(off, 0, state);
    } else if (!bytesEq(state.addrBytes, a.addr) || state.port !== a.port) {
      const canReclaim = this.timing.deadNodeReclaimTime > 0 && Date.now() - state.stateChange > this.timing.deadNodeReclaimTime;
      if (state.state === 'left' || (state.state === 'dead' && canReclaim)) {
        this.log.info({ op: 'alive', node: a.node, addr, port: a.port }, 'updating address for left or failed node');
        updatesNode = true;
      } else {
        this.drop('addressConflict');
        this.log.error({ op: 'alive', node: a.node, mine: `${state.addr}:${state.port}`, theirs: `${addr}:${a.port}` }, 'conflicting address');
        return;
      }
    }
    if (a.incarnation <= state.incarnation && !isLocal && !updatesNode) return;
    if (a.incarnation < state.incarnation && isLocal) return;
    this.suspicions.get(a.node)?.stop();
    this.suspicions.delete(a.node);
    const oldState = state.state;
    const oldMeta = state.meta;
    if (!bootstrap && isLocal) {
      if (a.incarnation === state.incarnation && bytesEq(a.meta, state.meta) && bytesEq(vsn6(a.vsn), DEFAULT_VSN)) return;
      this.refute(state, a.incarnation);
      this.log.warn({ op: 'alive', node: a.node }, 'refuting an alive message');
      return;
    }
    this.log.debug({ op: 'alive', node: a.node, incarnation: a.incarnation }, 'member alive');
    this.broadcast(a.node, { type: MsgType.alive, body: { ...a, addr: copyBytes(a.addr), meta: copyBytes(a.meta), vsn: copyBytes(a.vsn) } }, notify);
    if (a.vsn.length > 0) state.vsn = vsn6(a.vsn);
    state.incarnation = a.incarnation;
    state.meta = copyBytes(a.meta);
    state.addrBytes = copyBytes(a.addr);
    state.addr = addr;
    state.port = a.port;
    if (state.state !== 'alive') {
      state.state = 'alive';
      state.stateChange = Date.now();
    }
    this.failed.delete(state.name);
    if (oldState === 'dead' || oldState === 'left') this.emit('join', state);
    else if (!bytesEq(oldMeta, state.meta)) this.emit('update', state);
  }

  /** Raises our incarnation above `accused` and broadcasts alive. */
  private refute(me: NodeState, accused: number): void {
    let inc = this.nextIncarnation();
    if (accused >= inc) {
      this.incarnation = (accused + 1) >>> 0;
      inc = this.incarnation;
    }
    me.incarnation = inc;
    this.counters.refutes++;
    this.setAwareness(1);
    this.broadcast(me.name, {
      type: MsgType.alive,
      body: { incarnation: inc, node: me.name, addr: me.addrBytes, port: me.port, meta: me.meta, vsn: DEFAULT_VSN },
    });
  }

  /** memberlist suspectNode: start (or confirm) a suspicion, or refute one about us. */
  private suspectNode(s: Accusation): void {
    const state = this.nodes.get(s.node);
    if (state === undefined) return;
    if (s.incarnation < state.incarnation) return;
    const timer = this.suspicions.get(s.node);
    if (timer !== undefined) {
      if (timer.confirm(s.from)) this.broadcast(s.node, { type: MsgType.suspect, body: { ...s } });
      return;
    }
    if (state.state !== 'alive') return;
    if (state.name === this.opts.name) {
      if (this.leaving) return;
      this.refute(state, s.incarnation);
      this.log.warn({ op: 'suspect', from: s.from }, 'refuting a suspect message');
      return;
    }
    this.broadcast(s.node, { type: MsgType.suspect, body: { ...s } });
    this.counters.suspicionsRaised++;
    state.incarnation = s.incarnation;
    state.state = 'suspect';
    const changeTime = Date.now();
    state.stateChange = changeTime;
    const { min, max, k } = suspicionParams(this.timing, this.nodes.size);
    this.log.debug({ op: 'suspect', node: s.node, from: s.from, min, max, k }, 'member suspected');
    this.suspicions.set(
      s.node,
      new Suspicion(s.from, k, min, max, (confirmations) =>
        // Read pending packets first (a refutation may be waiting in the socket; see afterIo).
        void afterIo().then(() => this.guard('suspicion', () => {
          if (this.stopped) return;
          const cur = this.nodes.get(s.node);
          if (cur === undefined || cur.state !== 'suspect' || cur.stateChange !== changeTime) return;
          const sus = this.suspicions.get(s.node);
          const unhealthy = this.lastIsolatedAt >= changeTime - this.timing.probeInterval;
          if (sus !== undefined && !sus.deferred && confirmations === 0 && k >= 1 && s.from === this.opts.name && unhealthy) {
            // ironlb deviation from Go (in the spirit of Lifeguard's local-health awareness): we
            // alone accuse, nobody confirmed although k ≥ 1 could have, and nothing at all
            // reached us during the probe that raised the suspicion (not even a relay's nack):
            // we were probably the one cut off, and our suspect gossip was lost. Before killing
            // the member on our sole word, send it the suspicion directly so it can refute, and
            // wait one more `max`.
            sus.deferred = true;
            this.counters.suspicionsDeferred++;
            const ping = encodeMessage({ type: MsgType.ping, body: { seqNo: this.nextSeqNo(), node: cur.name, sourceAddr: this.advertiseBytes, sourcePort: this.advertise.port, sourceNode: this.opts.name } });
            const sm = encodeMessage({ type: MsgType.suspect, body: { incarnation: cur.incarnation, node: cur.name, from: this.opts.name } });
            this.rawSend(this.nodeAddress(cur), encodeCompound([ping, sm]), cur);
            sus.rearm(max);
            this.log.info({ op: 'suspect', node: s.node }, 'unconfirmed suspicion while unhealthy: giving the member a chance to refute');
            return;
          }
          this.counters.suspicionTimeouts++;
          this.log.info({ op: 'suspect', node: s.node, confirmations }, 'marking member as failed, suspect timeout reached');
          this.deadNode({ incarnation: cur.incarnation, node: cur.name, from: this.opts.name });
        })),
      ),
    );
  }

  /** memberlist deadNode: mark dead (or left when From == Node), or refute one about us. */
  private deadNode(d: Accusation, notify?: () => void): void {
    const state = this.nodes.get(d.node);
    if (state === undefined) return;
    if (d.incarnation < state.incarnation) return;
    this.suspicions.get(d.node)?.stop();
    this.suspicions.delete(d.node);
    if (state.state === 'dead' || state.state === 'left') return;
    if (state.name === this.opts.name) {
      if (!this.leaving) {
        this.refute(state, d.incarnation);
        this.log.warn({ op: 'dead', from: d.from }, 'refuting a dead message');
        return;
      }
      this.broadcast(d.node, { type: MsgType.dead, body: { ...d } }, notify);
    } else {
      this.broadcast(d.node, { type: MsgType.dead, body: { ...d } });
    }
    state.incarnation = d.incarnation;
    state.state = d.node === d.from ? 'left' : 'dead';
    state.stateChange = Date.now();
    if (state.state === 'dead' && state.name !== this.opts.name) this.failed.set(state.name, { addr: this.nodeAddress(state), since: state.stateChange });
    else this.failed.delete(state.name);
    this.emit('leave', state);
  }

  // ---------------------------------------------------------------- push/pull

  private streamOpts(): { keys: Uint8Array[]; label: Uint8Array; compress: boolean } {
    return { keys: this.keys(), label: this.label, compress: this.compression };
  }

  private localState(): PushNodeState[] {
    return [...this.nodes.values()].map((n) => ({
      name: n.name,
      addr: n.addrBytes,
      port: n.port,
      meta: n.meta,
      incarnation: n.incarnation,
      state: NodeStateNum[n.state],
      vsn: n.name === this.opts.name ? DEFAULT_VSN : n.vsn,
    }));
  }

  private async pushPullLoop(): Promise<void> {
    if (this.timing.pushPullInterval <= 0) return;
    await this.sleep(Math.random() * this.timing.pushPullInterval);
    while (!this.stopped) {
      const peers = [...this.nodes.values()].filter((n) => n.name !== this.opts.name && n.state === 'alive');
      const peer = peers[Math.floor(Math.random() * peers.length)];
      if (peer !== undefined) {
        try {
          await this.pushPull(this.nodeAddress(peer), false);
        } catch (err) {
          this.log.warn({ op: 'pushPull', node: peer.name, err: String(err) }, 'push/pull failed');
        }
      }
      await this.sleep(pushPullScale(this.timing.pushPullInterval, this.nodes.size));
    }
  }

  /** Push/pull with one random failed member's last address now and then (see Timing.reconnectInterval). */
  private async reconnectLoop(): Promise<void> {
    const every = this.timing.reconnectInterval;
    if (every <= 0) return;
    await this.sleep(Math.random() * every);
    while (!this.stopped) {
      const now = Date.now();
      for (const [name, f] of this.failed) if (now - f.since > this.timing.reconnectTimeout) this.failed.delete(name);
      const candidates = [...this.failed.entries()].filter(([name]) => this.nodes.get(name)?.state !== 'alive');
      const pick = candidates[Math.floor(Math.random() * candidates.length)];
      if (pick !== undefined) {
        try {
          await this.pushPull(pick[1].addr, false);
          this.log.info({ op: 'reconnect', node: pick[0] }, 'reconnected to a failed member');
        } catch (err) {
          this.log.debug({ op: 'reconnect', node: pick[0], err: String(err) }, 'reconnect failed');
        }
      }
      await this.sleep(every);
    }
  }

  private async pushPull(to: Address, join: boolean): Promise<void> {
    this.counters.pushPulls++;
    let s: Stream | undefined;
    try {
      s = await this.transport.dial(to, this.timing.tcpTimeout);
      this.counters.streamsDialed++;
      await s.write(encodeStreamFrame(encodePushPull(join, this.localState()), this.streamOpts(), true));
      const reply = await this.readStream(s, false, this.timing.tcpTimeout);
      if (reply.type === 'err') throw new Error(`remote error: ${reply.error}`);
      if (reply.type !== 'pushPull') throw new Error(`unexpected reply ${reply.type} to push/pull`);
      this.mergeRemoteState(reply.nodes);
    } catch (err) {
      this.counters.pushPullFailures++;
      if (err instanceof StreamError) this.drop(err.reason);
      throw new Error(`push/pull with ${to.addr}:${to.port} failed`, { cause: err });
    } finally {
      s?.close();
    }
  }

  /** Reads one message from a stream, waiting for more bytes while it is incomplete. */
  private async readStream(s: Stream, acceptor: boolean, timeoutMs: number): Promise<StreamMessage> {
    let buf: Uint8Array = new Uint8Array(0);
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        resolve(null);
      }, Math.max(1, timeoutMs));
      timer.unref();
    });
    try {
      for (;;) {
        const chunk = await Promise.race([s.read(), timeout]);
        if (timedOut) throw new Error('stream: read timeout');
        const ended = chunk === null;
        if (chunk !== null) {
          buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
          if (buf.length > MAX_STREAM_BYTES + 1024) throw new StreamError('tooLarge', 'stream: message too large');
        }
        const r = tryParseStream(buf, this.streamOpts(), acceptor, ended);
        if (r.status === 'ok') return r.msg;
        if (ended) throw new StreamError('malformed', 'stream: closed before a whole message arrived');
      }
    } finally {
      clearTimeout(timer);
    }
  }

  private async onStream(s: Stream): Promise<void> {
    if (this.stopped) {
      s.close();
      return;
    }
    this.counters.streamsAccepted++;
    try {
      let msg: StreamMessage;
      try {
        msg = await this.readStream(s, true, this.timing.tcpTimeout);
      } catch (err) {
        this.drop(err instanceof StreamError ? err.reason : 'streamRead');
        this.log.warn({ op: 'stream', from: `${s.remote.addr}:${s.remote.port}`, err: String(err) }, 'failed to receive');
        // Like Go, tell the dialer why (wrapped like any reply), best effort.
        await s.write(encodeStreamFrame(encodeMessage({ type: MsgType.err, body: { error: String(err) } }), this.streamOpts(), false)).catch(() => undefined);
        return;
      }
      if (this.stopped) return;
      switch (msg.type) {
        case 'pushPull': {
          if (this.inboundPushPulls >= 128) {
            this.drop('pushPullLimit');
            return;
          }
          this.inboundPushPulls++;
          try {
            // Reply with our state before merging theirs, as Go does.
            await s.write(encodeStreamFrame(encodePushPull(msg.header.join, this.localState()), this.streamOpts(), false));
            this.guard('merge', () => this.mergeRemoteState(msg.nodes));
          } finally {
            this.inboundPushPulls--;
          }
          return;
        }
        case 'ping': {
          if (msg.ping.node !== '' && msg.ping.node !== this.opts.name) {
            this.drop('wrongNode');
            return;
          }
          await s.write(encodeStreamFrame(encodeMessage({ type: MsgType.ackResp, body: { seqNo: msg.ping.seqNo, payload: new Uint8Array(0) } }), this.streamOpts(), false));
          return;
        }
        default:
          this.drop('unhandledStream');
      }
    } catch (err) {
      this.log.warn({ op: 'stream', err: String(err) }, 'stream handling failed');
    } finally {
      s.close();
    }
  }

  /** memberlist verifyProtocol: every alive node's current version must fit everyone's range. */
  private verifyProtocol(remote: readonly PushNodeState[]): string | undefined {
    let maxPMin = 0;
    let minPMax = 255;
    let maxDMin = 0;
    let minDMax = 255;
    const consider = (v: Uint8Array): void => {
      maxPMin = Math.max(maxPMin, v[0] ?? 0);
      minPMax = Math.min(minPMax, v[1] ?? 0);
      maxDMin = Math.max(maxDMin, v[3] ?? 0);
      minDMax = Math.min(minDMax, v[4] ?? 0);
    };
    for (const r of remote) if (r.state === NodeStateNum.alive && r.vsn.length >= 5) consider(r.vsn);
    for (const n of this.nodes.values()) if (n.state === 'alive') consider(n.name === this.opts.name ? DEFAULT_VSN : n.vsn);
    const check = (name: string, v: Uint8Array): string | undefined => {
      const pcur = v.length >= 6 ? (v[2] ?? 0) : 0;
      const dcur = v.length >= 6 ? (v[5] ?? 0) : 0;
      if (pcur < maxPMin || pcur > minPMax) return `node '${name}' protocol version ${pcur} not in range [${maxPMin}, ${minPMax}]`;
      if (dcur < maxDMin || dcur > minDMax) return `node '${name}' delegate protocol version ${dcur} not in range [${maxDMin}, ${minDMax}]`;
      return undefined;
    };
    for (const r of remote) {
      const e = check(r.name, r.vsn);
      if (e !== undefined) return e;
    }
    for (const n of this.nodes.values()) {
      if (n.state !== 'alive') continue;
      const e = check(n.name, n.name === this.opts.name ? DEFAULT_VSN : n.vsn);
      if (e !== undefined) return e;
    }
    return undefined;
  }

  private mergeRemoteState(remote: readonly PushNodeState[]): void {
    const err = this.verifyProtocol(remote);
    if (err !== undefined) {
      this.drop('protocolVersion');
      throw new Error(`push/pull rejected: ${err}`);
    }
    for (const r of remote) {
      const st = STATE_FROM_NUM[r.state];
      if (st === 'alive') {
        this.aliveNode({ incarnation: r.incarnation, node: r.name, addr: r.addr, port: r.port, meta: r.meta, vsn: r.vsn }, false);
      } else if (st === 'left') {
        this.deadNode({ incarnation: r.incarnation, node: r.name, from: r.name });
      } else if (st === 'dead' || st === 'suspect') {
        // A remote death is only a local suspicion: we must see it fail ourselves (or time out).
        this.suspectNode({ incarnation: r.incarnation, node: r.name, from: this.opts.name });
      }
    }
  }
}

/** Creates a memberlist node; call start() on it, then join(). */
export function createMemberlist(opts: MemberlistOptions): Memberlist {
  return new Memberlist(opts);
}
