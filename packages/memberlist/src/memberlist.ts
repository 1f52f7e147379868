/**
 * A memberlist node: lifecycle and public API (memberlist.go). It wires the parts together:
 *
 * - state.ts      the member table and its transitions (alive/suspect/dead, refute, merge)
 * - suspicion.ts  Lifeguard suspicion timers
 * - probe.ts      the probe loop and ack bookkeeping
 * - net.ts        packet and stream handling, gossip sends, push/pull
 *
 * Time and chance are injected (`clock`, `random`), so the whole node runs on virtual time in
 * tests and in the simulator (`npm run bench -- memberlist-sim`).
 */
import { Health } from './awareness.js';
import { systemClock, systemRandom, type Clock, type Random, type Timer } from './clock.js';
import type { Keyring } from './crypto.js';
import { parseIPBytes } from '@ironlb/core';
import { parseJoinAddress } from './ip.js';
import { DEFAULT_LIMITS, type Limits } from './limits.js';
import { Wire } from './net.js';
import { NetTransport } from './nettransport.js';
import { Prober } from './probe.js';
import { RateLimitedLog } from './ratelog.js';
import { MemberTable, snapshot, type NodeState } from './state.js';
import { PRESETS, pushPullScale, type PresetName, type Timing } from './timing.js';
import type { Address, Transport } from './transport.js';
import { Counters, silentLogger, type AdmitFn, type Logger, type Member, type MemberEvent, type MemberlistStats } from './types.js';

export type { AdmissionCandidate, AdmitFn, DropReason, Logger, Member, MemberEvent, MemberState, MemberlistStats } from './types.js';

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
  /** Encryption keys; none = plaintext. Mutations (here or via addKey/useKey/removeKey) apply at once. */
  keyring?: Keyring;
  /**
   * With a keyring: drop (and count) plaintext (`plaintext`) and undecryptable (`decrypt`)
   * packets and unencrypted streams. Default true. false is Go's GossipVerifyIncoming = false:
   * undecryptable input is handled as plaintext, for moving a plaintext cluster to a key.
   */
  requireEncryption?: boolean;
  /** Label that every packet and stream must carry (memberlist Config.Label); default none. */
  label?: string;
  /** Compress outgoing messages with LZW as Go does (default true, like memberlist). */
  compression?: boolean;
  /** Node metadata (≤ limits.maxMetaBytes, 512). */
  meta?: Uint8Array;
  /** Logger; default silent. */
  logger?: Logger;
  /** Event callback, invoked asynchronously (never inside the receive path) with copies. */
  onEvent?: (ev: MemberEvent) => void;
  /** UDP piggyback budget; default 1400 as in memberlist. */
  udpBufferSize?: number;
  /**
   * Admission hook: returns a rejection reason (counted in stats().refusals) or undefined to
   * admit. Called for every member new to us or back from dead/left (gossip or push/pull).
   */
  admit?: AdmitFn;
  /** Overrides of the hard limits (member table size, name/meta size, stream caps, ...). */
  limits?: Partial<Limits>;
  /** Time source; default the system clock. Tests and the simulator pass a ManualClock. */
  clock?: Clock;
  /** Random source in [0, 1); default Math.random. */
  random?: Random;
}

/** A running memberlist node. Create with createMemberlist(). */
export class Memberlist {
  private readonly timing: Timing;
  private readonly limits: Limits;
  private readonly log: Logger;
  private readonly warn: RateLimitedLog;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly transport: Transport;
  private readonly label: Uint8Array;
  private readonly keyring: Keyring | undefined;
  private readonly counters = new Counters();
  private readonly health: Health;
  private readonly table: MemberTable;
  private readonly prober: Prober;
  private readonly wire: Wire;
  private meta: Uint8Array;
  private started = false;
  private stopped = false;
  private readonly sleepers = new Set<() => void>();
  private gossipTimer: Timer | undefined;
  private readonly events: MemberEvent[] = [];
  private eventsScheduled = false;
  private advertise: { addr: string; addrBytes: Uint8Array; port: number } = { addr: '', addrBytes: new Uint8Array(0), port: 0 };

  /** Use createMemberlist(). */
  constructor(private readonly opts: MemberlistOptions) {
    if (opts.name === '') throw new Error('memberlist: name is required');
    this.timing = { ...PRESETS[opts.preset ?? 'fast'], ...(opts.timing ?? {}) };
    this.limits = { ...DEFAULT_LIMITS, ...(opts.limits ?? {}) };
    this.log = opts.logger ?? silentLogger;
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? systemRandom;
    this.warn = new RateLimitedLog(this.log, this.clock, this.limits.logIntervalMs);
    this.label = new TextEncoder().encode(opts.label ?? '');
    if (this.label.length > 255) throw new Error('memberlist: label longer than 255 bytes');
    if (Buffer.byteLength(opts.name, 'utf8') > this.limits.maxNameBytes) throw new Error(`memberlist: name longer than ${this.limits.maxNameBytes} bytes`);
    this.keyring = opts.keyring;
    this.meta = (opts.meta ?? new Uint8Array(0)).slice();
    if (this.meta.length > this.limits.maxMetaBytes) throw new Error(`memberlist: meta larger than ${this.limits.maxMetaBytes} bytes`);
    this.transport = opts.transport ?? new NetTransport({ bindAddr: opts.bindAddr ?? '0.0.0.0', bindPort: opts.bindPort ?? 7946, logger: this.log });
    this.health = new Health(this.timing.awarenessMaxMultiplier);
    const name = opts.name;
    const stopped = (): boolean => this.stopped;
    const advertise = (): { addrBytes: Uint8Array; port: number } => this.advertise;
    this.table = new MemberTable(
      { name, clock: this.clock, timing: this.timing, limits: this.limits, admit: opts.admit, counters: this.counters, health: this.health, log: this.log, warn: this.warn },
      {
        broadcast: (node, m, notify) => this.wire.broadcast(node, m, notify),
        event: (type, n) => this.emit(type, n),
        sendSuspicion: (n) => this.wire.sendSuspicion(n),
        added: (n) => this.prober.added(n),
      },
    );
    const common = { name, clock: this.clock, random: this.random, timing: this.timing, table: this.table, health: this.health, counters: this.counters, log: this.log, warn: this.warn };
    this.prober = new Prober({
      ...common,
      advertise,
      sendMsg: (to, msg, node) => this.wire.sendMsg(to, msg, node),
      rawSend: (to, msg, node) => this.wire.rawSend(to, msg, node),
      tcpPing: (node, ping, deadline) => this.wire.tcpPing(node, ping, deadline),
      sleep: (ms) => this.sleep(ms),
      stopped,
    });
    this.wire = new Wire({
      ...common,
      limits: this.limits,
      prober: this.prober,
      transport: this.transport,
      keyring: this.keyring,
      label: this.label,
      compression: opts.compression ?? true,
      udpBufferSize: opts.udpBufferSize ?? 1400,
      allowPlaintext: opts.keyring !== undefined && opts.requireEncryption === false,
      advertise,
      stopped,
      heardFromFailed: (name) => this.heardFromFailed(name),
    });
  }

  /**
   * Push/pull with a member we hold failed. Our push tells it that we hold it dead, so it refutes
   * with a higher incarnation; that refutation is gossiped on its side of the healed partition,
   * which may not include us. One more exchange a moment later brings it (and its side's view)
   * back to us at once, instead of waiting for chance to pick this member again.
   */
  private async pushPullToFailed(name: string, addr: Address): Promise<void> {
    await this.wire.pushPull(addr, false);
    if (this.table.nodes.get(name)?.state !== 'alive') {
      await this.sleep(Math.max(this.timing.gossipInterval * 2, this.timing.probeInterval));
      if (!this.stopped) await this.wire.pushPull(addr, false);
    }
  }

  /** When each failed member last got an early push/pull from heardFromFailed (ms, our clock). */
  private readonly healAttempts = new Map<string, number>();

  /**
   * A member we hold failed is pinging us: its side of a partition (a link cut, a firewall) is
   * back. Its own view of us may be fine, so nothing tells it that we hold it dead, and the
   * "dead" broadcasts were used up while the link was down; without help the heal waits for the
   * reconnect loop (seconds) while we keep a live member out of every election. One push/pull now
   * tells it, it refutes, and both views agree again within a round trip. At most once per second
   * per member, and only for members in the failed list (authenticated pings only reach here).
   */
  private heardFromFailed(name: string): void {
    const f = this.table.failed.get(name);
    if (f === undefined || this.stopped) return;
    const now = this.clock.now();
    const last = this.healAttempts.get(name);
    if (last !== undefined && now - last < 1000) return;
    this.healAttempts.set(name, now);
    if (this.healAttempts.size > this.limits.maxMembers) this.healAttempts.delete(this.healAttempts.keys().next().value as string);
    void (async () => {
      try {
        await this.pushPullToFailed(name, f.addr);
        this.log.info({ op: 'reconnect', node: name }, 'a failed member pinged us: pushed our state to it');
      } catch (err) {
        this.log.debug({ op: 'reconnect', node: name, err: String(err) }, 'push/pull with a failed member that pinged us failed');
      }
    })();
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Binds the transport, registers ourselves as alive and starts the probe/gossip/push-pull
   * loops. On failure nothing stays bound, and start() may be called again.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error('memberlist: already started');
    if (this.stopped) throw new Error('memberlist: shut down');
    this.started = true;
    try {
      await this.transport.start({
        packet: (buf, from) => this.wire.onPacket(buf, from),
        stream: (s) => {
          void this.wire.onStream(s);
        },
      });
    } catch (err) {
      this.started = false;
      throw err;
    }
    try {
      const bound = this.transport.localAddress();
      const addr = this.opts.advertiseAddr ?? bound.addr;
      if (addr === '0.0.0.0' || addr === '::') throw new Error(`memberlist: bound to ${addr}; set advertiseAddr to an address peers can reach`);
      const addrBytes = parseIPBytes(addr);
      if (addrBytes === null) throw new Error(`memberlist: invalid advertise address ${JSON.stringify(addr)}`);
      this.advertise = { addr, addrBytes, port: this.opts.advertisePort ?? bound.port };
    } catch (err) {
      await this.transport.close().catch(() => undefined);
      this.started = false;
      throw err;
    }
    this.table.setLocal(this.advertise.addrBytes, this.advertise.port, this.meta);
    void this.prober.run();
    void this.pushPullLoop();
    void this.reconnectLoop();
    this.scheduleGossip();
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
          await this.wire.pushPull({ addr: target.addr, port: target.port }, true);
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
    return [...this.table.nodes.values()].map(snapshot);
  }

  /** Members that are alive or suspect (what MetalLB counts as usable speakers). */
  liveMembers(): Member[] {
    return this.members().filter((m) => m.state === 'alive' || m.state === 'suspect');
  }

  /** Our own member entry. */
  localMember(): Member {
    const me = this.table.self();
    if (me === undefined) throw new Error('memberlist: not started');
    return snapshot(me);
  }

  /** Lifeguard health score (0 = healthy). */
  healthScore(): number {
    return this.health.score;
  }

  /** A copy of the counters: one small allocation, cheap enough for a metrics collect callback. */
  stats(): MemberlistStats {
    return this.counters.snapshot(this.health.score);
  }

  /**
   * Re-announces ourselves with new metadata at a new incarnation (Go's UpdateNode): peers
   * take it at once and fire an `update` event. Resolves when the broadcast has been sent
   * often enough, or after `timeoutMs`.
   */
  async updateMeta(meta: Uint8Array, timeoutMs = 1000): Promise<void> {
    if (!this.started || this.stopped) throw new Error('memberlist: not running');
    if (this.table.leaving) throw new Error('memberlist: leaving');
    let done!: () => void;
    const sent = new Promise<void>((resolve) => (done = resolve));
    this.table.updateLocal(meta, done);
    this.meta = meta.slice();
    if (!this.anyPeer()) return;
    this.wire.gossip();
    await Promise.race([sent, this.sleep(timeoutMs, true)]);
  }

  /** Installs an extra key (decrypts at once; encrypts only after useKey). Needs a keyring. */
  addKey(key: Uint8Array): void {
    this.requireKeyring().add(key);
  }

  /** Makes an installed key the primary: the next packet and stream we send use it. */
  useKey(key: Uint8Array): void {
    this.requireKeyring().use(key);
  }

  /** Removes a non-primary key: packets and streams sealed with it are dropped from now on. */
  removeKey(key: Uint8Array): void {
    this.requireKeyring().remove(key);
  }

  /** The installed keys, primary first (copies); empty without a keyring. */
  keys(): Uint8Array[] {
    return this.keyring?.all() ?? [];
  }

  private requireKeyring(): Keyring {
    if (this.keyring === undefined) throw new Error('memberlist: encryption is not configured (no keyring)');
    return this.keyring;
  }

  private anyPeer(): boolean {
    for (const n of this.table.nodes.values()) if (n.name !== this.opts.name && n.state !== 'dead' && n.state !== 'left') return true;
    return false;
  }

  /**
   * Graceful leave: broadcasts "dead" about ourselves with From = us, which peers record as
   * Left at once, and waits until it has been gossiped (or `timeoutMs`). Call shutdown() next.
   */
  async leave(timeoutMs: number): Promise<void> {
    if (this.table.leaving || !this.started) return;
    this.table.leaving = true;
    const me = this.table.self();
    if (me === undefined) return;
    const anyAlive = this.anyPeer();
    let done!: () => void;
    const broadcastDone = new Promise<void>((resolve) => (done = resolve));
    this.table.deadNode({ incarnation: me.incarnation, node: me.name, from: me.name }, done);
    if (!anyAlive) return;
    // Gossip right away rather than waiting for the next tick.
    this.wire.gossip();
    let timedOut = false;
    await Promise.race([broadcastDone, this.sleep(timeoutMs, true).then(() => (timedOut = true))]);
    if (timedOut) this.log.warn({ op: 'leave' }, 'timeout waiting for leave broadcast');
  }

  /** Stops all loops and timers and closes the transport. Does not broadcast a leave. */
  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.gossipTimer?.cancel();
    this.table.stop();
    this.prober.stop();
    for (const wake of [...this.sleepers]) wake();
    this.sleepers.clear();
    this.wire.broadcasts.reset();
    this.warn.flush();
    if (this.started) await this.transport.close();
  }

  // ---------------------------------------------------------------- loops and helpers

  private emit(type: MemberEvent['type'], n: NodeState): void {
    if (this.opts.onEvent === undefined) return;
    this.events.push({ type, member: snapshot(n) });
    if (this.eventsScheduled) return;
    this.eventsScheduled = true;
    // Never from inside the receive path: after the current I/O turn.
    void this.clock.afterIo().then(() => {
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

  private scheduleGossip(): void {
    if (this.stopped) return;
    this.gossipTimer = this.clock.setTimeout(() => {
      try {
        this.wire.gossip();
      } catch (err) {
        this.log.error({ op: 'gossip', err: String(err) }, 'internal error');
      }
      this.scheduleGossip();
    }, this.timing.gossipInterval);
  }

  /**
   * Resolves after `ms`, or at once on shutdown. Internal loops use unref'd timers so they never
   * keep a process alive; `keepAlive` is for waits a caller awaits (leave), which must complete.
   */
  private sleep(ms: number, keepAlive = false): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        this.sleepers.delete(wake);
        timer.cancel();
        resolve();
      };
      const timer = this.clock.setTimeout(wake, Math.max(0, ms), keepAlive);
      this.sleepers.add(wake);
    });
  }

  private async pushPullLoop(): Promise<void> {
    if (this.timing.pushPullInterval <= 0) return;
    await this.sleep(this.random() * this.timing.pushPullInterval);
    while (!this.stopped) {
      const peers = [...this.table.nodes.values()].filter((n) => n.name !== this.opts.name && n.state === 'alive');
      const peer = peers[Math.floor(this.random() * peers.length)];
      if (peer !== undefined) {
        try {
          await this.wire.pushPull({ addr: peer.addr, port: peer.port }, false);
        } catch (err) {
          this.warn.warn(`pushPull:${peer.name}`, { op: 'pushPull', node: peer.name, err: String(err) }, 'push/pull failed');
        }
      }
      await this.sleep(pushPullScale(this.timing.pushPullInterval, this.table.nodes.size));
    }
  }

  /** Push/pull with one random failed member's last address now and then (see Timing.reconnectInterval). */
  private async reconnectLoop(): Promise<void> {
    const every = this.timing.reconnectInterval;
    if (every <= 0) return;
    await this.sleep(this.random() * every);
    while (!this.stopped) {
      const now = this.clock.now();
      const failed = this.table.failed;
      for (const [name, f] of failed) if (now - f.since > this.timing.reconnectTimeout) failed.delete(name);
      const down = [...failed.entries()].filter(([name]) => this.table.nodes.get(name)?.state !== 'alive');
      // Members that once answered us first: a flood of forged members cannot crowd them out.
      const verified = down.filter(([, f]) => f.verified);
      const candidates = verified.length > 0 && this.random() < 0.75 ? verified : down;
      const pick = candidates[Math.floor(this.random() * candidates.length)];
      if (pick !== undefined) {
        try {
          await this.pushPullToFailed(pick[0], pick[1].addr);
          this.log.info({ op: 'reconnect', node: pick[0] }, 'reconnected to a failed member');
        } catch (err) {
          this.log.debug({ op: 'reconnect', node: pick[0], err: String(err) }, 'reconnect failed');
        }
      }
      await this.sleep(every);
    }
  }
}

/** Creates a memberlist node; call start() on it, then join(). */
export function createMemberlist(opts: MemberlistOptions): Memberlist {
  return new Memberlist(opts);
}
