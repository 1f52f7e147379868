/**
 * The member table and its transitions (memberlist state.go: aliveNode, suspectNode, deadNode,
 * refute, mergeState, verifyProtocol), plus ironlb's admission control and incarnation rule.
 *
 * Pure apart from its injected clock: it never touches the network. Side effects go through
 * StateEffects (queue a broadcast, emit an event, send one packet for the deferred suspicion),
 * so transition tests drive it directly with a ManualClock and record what it did. Every
 * transition is synchronous: JavaScript runs it on one thread, so where Go takes nodeLock we
 * simply never await in the middle of a state change.
 */
import type { Health } from './awareness.js';
import type { Clock } from './clock.js';
import type { IPText } from '@ironlb/core';
import { formatGoIP } from './ip.js';
import { compareIncarnation, refutationIncarnation, type IncarnationOrder } from './incarnation.js';
import type { Limits } from './limits.js';
import { DEFAULT_VSN, MsgType, NodeStateNum, type Accusation, type Alive, type Message, type PushNodeState } from './messages.js';
import type { RateLimitedLog } from './ratelog.js';
import { Suspicion } from './suspicion.js';
import { suspicionParams, type Timing } from './timing.js';
import type { Address } from './transport.js';
import type { AdmitFn, Counters, Logger, Member, MemberEvent, MemberState } from './types.js';

/** One member as the table holds it (internal; callers get Member copies). */
export interface NodeState {
  name: string;
  addrBytes: Uint8Array;
  /** addrBytes as Go prints them (an IPv4-mapped address as dotted IPv4). */
  addr: IPText;
  port: number;
  meta: Uint8Array;
  vsn: Uint8Array;
  incarnation: number;
  state: MemberState;
  stateChange: number;
  /** When we last started a probe of this member (0 = never). */
  lastProbed: number;
  /** When the member last acked a probe of ours (its admission time until then). */
  lastAckAt: number;
  /**
   * True once the member acked one of our probes. Unverified members (just learnt from
   * gossip, possibly junk) are probed in a lane of their own, so they never slow down the
   * failure detection of verified ones.
   */
  verified: boolean;
}

/** What the table asks of the rest of the node. */
export interface StateEffects {
  /** Queues a gossip broadcast about `node` (replacing an older one about it). */
  broadcast(node: string, m: Message, notify?: () => void): void;
  /** A membership event about `n` (delivered later, as a copy). */
  event(type: MemberEvent['type'], n: NodeState): void;
  /** Sends ping + suspect straight to `n` (the deferred, unconfirmed suspicion). */
  sendSuspicion(n: NodeState): void;
  /** A member was added to the table (the prober slots it in). */
  added(n: NodeState): void;
}

/** Configuration of a MemberTable. */
export interface StateConfig {
  name: string;
  clock: Clock;
  timing: Timing;
  limits: Limits;
  admit: AdmitFn | undefined;
  counters: Counters;
  health: Health;
  log: Logger;
  warn: RateLimitedLog;
}

const STATE_FROM_NUM: readonly MemberState[] = ['alive', 'suspect', 'dead', 'left'];

/** Node names come from the wire; a quick byte length without encoding. */
function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function copyBytes(b: Uint8Array): Uint8Array {
  return b.slice();
}

/** Go keeps six version fields and always sends six bytes; missing ones are zero. */
export function vsn6(v: Uint8Array): Uint8Array {
  const out = new Uint8Array(6);
  out.set(v.subarray(0, 6));
  return out;
}

function bytesEq(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A copy of a member for callers. */
export function snapshot(n: NodeState): Member {
  return { name: n.name, addr: n.addr, port: n.port, state: n.state, incarnation: n.incarnation, meta: copyBytes(n.meta), vsn: copyBytes(n.vsn) };
}

/** The member table: every member we know and the SWIM/Lifeguard transitions between states. */
export class MemberTable {
  /** Members by name (us included). */
  readonly nodes = new Map<string, NodeState>();
  /** Failed (dead, not left) members' last addresses, for the reconnect loop. */
  readonly failed = new Map<string, { addr: Address; since: number; verified: boolean }>();
  private readonly suspicions = new Map<string, Suspicion>();
  /** Our own incarnation. */
  incarnation = 0;
  /** Set by leave(): we no longer refute, and our own dead message becomes "left". */
  leaving = false;
  private stopped = false;
  private localPort = 0;

  /** Creates an empty table; setLocal() adds us. */
  constructor(
    private readonly cfg: StateConfig,
    private readonly fx: StateEffects,
  ) {}

  /** Our own entry, once setLocal() ran. */
  self(): NodeState | undefined {
    return this.nodes.get(this.cfg.name);
  }

  /** Registers ourselves as alive at `incarnation` (1 at start, as Go). */
  setLocal(addrBytes: Uint8Array, port: number, meta: Uint8Array, incarnation = 1): void {
    this.localPort = port;
    this.incarnation = incarnation >>> 0;
    this.aliveNode({ incarnation: this.incarnation, node: this.cfg.name, addr: addrBytes, port, meta, vsn: DEFAULT_VSN }, true);
  }

  /** Bumps our incarnation (wrapping at 2^32, see incarnation.ts). */
  nextIncarnation(): number {
    this.incarnation = (this.incarnation + 1) >>> 0;
    return this.incarnation;
  }

  /**
   * Re-announces ourselves with new meta at a new incarnation (Go's UpdateNode): peers take
   * it as newer and fire an update event. `notify` runs once the broadcast is done.
   */
  updateLocal(meta: Uint8Array, notify?: () => void): void {
    const me = this.self();
    if (me === undefined) throw new Error('memberlist: not started');
    if (meta.length > this.cfg.limits.maxMetaBytes) throw new Error(`memberlist: meta larger than ${this.cfg.limits.maxMetaBytes} bytes`);
    const inc = this.nextIncarnation();
    this.aliveNode({ incarnation: inc, node: me.name, addr: me.addrBytes, port: me.port, meta, vsn: DEFAULT_VSN }, true, notify);
  }

  /** Stops every suspicion timer (shutdown). */
  stop(): void {
    this.stopped = true;
    for (const s of this.suspicions.values()) s.stop();
    this.suspicions.clear();
  }

  /** Number of members being suspected right now. */
  suspicionCount(): number {
    return this.suspicions.size;
  }

  /** Members under suspicion (a short list, unlike the table). */
  *suspects(): IterableIterator<NodeState> {
    for (const name of this.suspicions.keys()) {
      const n = this.nodes.get(name);
      if (n !== undefined && n.state === 'suspect') yield n;
    }
  }

  /** Forgets members dead or left for longer than gossipToTheDeadTime (not us). */
  reap(): void {
    const now = this.cfg.clock.now();
    for (const n of this.nodes.values()) {
      if ((n.state === 'dead' || n.state === 'left') && now - n.stateChange > this.cfg.timing.gossipToTheDeadTime && n.name !== this.cfg.name) {
        this.nodes.delete(n.name);
      }
    }
  }

  /** Our state for a push/pull: every member, with our own version vector. */
  localState(): PushNodeState[] {
    const out: PushNodeState[] = [];
    for (const n of this.nodes.values()) {
      out.push({
        name: n.name,
        addr: n.addrBytes,
        port: n.port,
        meta: n.meta,
        incarnation: n.incarnation,
        state: NodeStateNum[n.state],
        vsn: n.name === this.cfg.name ? DEFAULT_VSN : n.vsn,
      });
    }
    return out;
  }

  /** Classifies a claimed incarnation; implausible jumps are counted and logged (rate-limited). */
  private order(claim: number, n: NodeState, what: string, from: string | undefined): IncarnationOrder {
    const o = compareIncarnation(claim, n.incarnation, this.cfg.limits.maxIncarnationJump);
    if (o === 'far') {
      this.cfg.counters.drop('incarnationJump');
      this.cfg.warn.warn('incarnationJump', { op: what, node: n.name, from, claimed: claim, known: n.incarnation }, 'implausible incarnation jump ignored');
    }
    return o;
  }

  /**
   * Admission of a member new to us (or back from dead/left): size caps, the table cap and the
   * admit hook. Returns false (counted) when refused.
   */
  private admit(a: Alive, addr: IPText, isNew: boolean): boolean {
    const lim = this.cfg.limits;
    if (isNew && this.nodes.size >= lim.maxMembers && !this.evictOne()) {
      this.cfg.counters.drop('tooManyMembers');
      this.cfg.warn.warn('tooManyMembers', { op: 'alive', node: a.node, max: lim.maxMembers }, 'member table full: new member refused');
      return false;
    }
    const admit = this.cfg.admit;
    if (admit === undefined) return true;
    let reason: string | undefined;
    try {
      reason = admit({ name: a.node, addr, port: a.port, meta: copyBytes(a.meta) });
    } catch (err) {
      reason = 'admitError';
      this.cfg.warn.error('admitError', { op: 'admit', node: a.node, err: String(err) }, 'admission hook threw; member refused');
    }
    if (reason === undefined) return true;
    this.cfg.counters.refuse(reason);
    this.cfg.warn.info(`refused:${reason}`, { op: 'admit', node: a.node, addr, reason }, 'member refused by the admission hook');
    return false;
  }

  /** Makes room by forgetting the longest-dead dead/left member; false if there is none. */
  private evictOne(): boolean {
    let oldest: NodeState | undefined;
    for (const n of this.nodes.values()) {
      if ((n.state !== 'dead' && n.state !== 'left') || n.name === this.cfg.name) continue;
      if (oldest === undefined || n.stateChange < oldest.stateChange) oldest = n;
    }
    if (oldest === undefined) return false;
    this.nodes.delete(oldest.name);
    this.failed.delete(oldest.name);
    return true;
  }

  /** memberlist aliveNode: admit, update or refute. `bootstrap` is our own (re)announcement. */
  aliveNode(a: Alive, bootstrap: boolean, notify?: () => void): void {
    const { counters, limits, name: selfName } = this.cfg;
    const isLocal = a.node === selfName;
    if (this.leaving && isLocal) return;
    if (a.vsn.length >= 3) {
      const [pmin = 0, pmax = 0] = a.vsn;
      if (pmin === 0 || pmax === 0 || pmin > pmax) {
        counters.drop('badVersion');
        return;
      }
    }
    // Protocol v1 alive messages carry no port; Go substitutes its own bind port.
    if (a.port === 0) a = { ...a, port: this.localPort };
    let state = this.nodes.get(a.node);
    const addr = state !== undefined && bytesEq(state.addrBytes, a.addr) ? state.addr : formatGoIP(a.addr);
    if (addr === undefined || a.node === '') {
      counters.drop('malformed');
      return;
    }
    if (state === undefined && (a.node.length > limits.maxNameBytes || utf8Length(a.node) > limits.maxNameBytes)) {
      counters.drop('nameTooLong');
      return;
    }
    if (a.meta.length > limits.maxMetaBytes) {
      counters.drop('metaTooLarge');
      return;
    }
    let updatesNode = false;
    const isNew = state === undefined;
    if (state === undefined) {
      if (!isLocal && !this.admit(a, addr, true)) return;
      state = {
        name: a.node,
        addrBytes: copyBytes(a.addr),
        addr,
        port: a.port,
        meta: copyBytes(a.meta),
        vsn: vsn6(a.vsn),
        incarnation: a.incarnation,
        state: 'dead',
        stateChange: this.cfg.clock.now(),
        lastProbed: 0,
        lastAckAt: this.cfg.clock.now(),
        verified: false,
      };
      this.nodes.set(a.node, state);
      this.fx.added(state);
    } else if (!bytesEq(state.addrBytes, a.addr) || state.port !== a.port) {
      const canReclaim = this.cfg.timing.deadNodeReclaimTime > 0 && this.cfg.clock.now() - state.stateChange > this.cfg.timing.deadNodeReclaimTime;
      if (state.state === 'left' || (state.state === 'dead' && canReclaim)) {
        if (!isLocal && !this.admit(a, addr, false)) return;
        this.cfg.log.info({ op: 'alive', node: a.node, addr, port: a.port }, 'updating address for left or failed node');
        updatesNode = true;
      } else {
        counters.drop('addressConflict');
        this.cfg.warn.error(`conflict:${a.node}`, { op: 'alive', node: a.node, mine: `${state.addr}:${state.port}`, theirs: `${addr}:${a.port}` }, 'conflicting address');
        return;
      }
    }
    if (!isNew) {
      // A member we know: the incarnation must be plausible, and newer (or, about us, not older).
      const o = this.order(a.incarnation, state, 'alive', undefined);
      if (o === 'far') return;
      if (o !== 'newer' && !isLocal && !updatesNode) return;
      if (o === 'older' && isLocal) return;
      if (!isLocal && !updatesNode && (state.state === 'dead' || state.state === 'left') && !this.admit(a, addr, false)) return;
    }
    this.suspicions.get(a.node)?.stop();
    this.suspicions.delete(a.node);
    const oldState = isNew ? 'dead' : state.state;
    const oldMeta = state.meta;
    if (!bootstrap && isLocal) {
      if (a.incarnation === state.incarnation && bytesEq(a.meta, state.meta) && bytesEq(vsn6(a.vsn), DEFAULT_VSN)) return;
      this.refute(state, a.incarnation);
      this.cfg.warn.warn('refuteAlive', { op: 'alive', node: a.node }, 'refuting an alive message');
      return;
    }
    this.cfg.log.debug({ op: 'alive', node: a.node, incarnation: a.incarnation }, 'member alive');
    this.fx.broadcast(a.node, { type: MsgType.alive, body: { ...a, addr: copyBytes(a.addr), meta: copyBytes(a.meta), vsn: copyBytes(a.vsn) } }, notify);
    if (a.vsn.length > 0) state.vsn = vsn6(a.vsn);
    state.incarnation = a.incarnation;
    state.meta = copyBytes(a.meta);
    state.addrBytes = copyBytes(a.addr);
    state.addr = addr;
    state.port = a.port;
    if (state.state !== 'alive') {
      state.state = 'alive';
      state.stateChange = this.cfg.clock.now();
    }
    this.failed.delete(state.name);
    if (oldState === 'dead' || oldState === 'left') this.fx.event('join', state);
    else if (!bytesEq(oldMeta, state.meta)) this.fx.event('update', state);
  }

  /** Raises our incarnation above `accused` and broadcasts alive. */
  refute(me: NodeState, accused: number): void {
    const inc = refutationIncarnation(this.nextIncarnation(), accused);
    this.incarnation = inc;
    me.incarnation = inc;
    this.cfg.counters.s.refutes++;
    this.cfg.health.apply(1);
    this.fx.broadcast(me.name, {
      type: MsgType.alive,
      body: { incarnation: inc, node: me.name, addr: me.addrBytes, port: me.port, meta: me.meta, vsn: DEFAULT_VSN },
    });
  }

  /** memberlist suspectNode: start (or confirm) a suspicion, or refute one about us. */
  suspectNode(s: Accusation): void {
    const state = this.nodes.get(s.node);
    if (state === undefined) return;
    const o = this.order(s.incarnation, state, 'suspect', s.from);
    if (o === 'far' || o === 'older') return;
    const timer = this.suspicions.get(s.node);
    if (timer !== undefined) {
      if (timer.confirm(s.from)) this.fx.broadcast(s.node, { type: MsgType.suspect, body: { ...s } });
      return;
    }
    if (state.state !== 'alive') return;
    if (state.name === this.cfg.name) {
      if (this.leaving) return;
      this.refute(state, s.incarnation);
      this.cfg.warn.warn('refuteSuspect', { op: 'suspect', from: s.from }, 'refuting a suspect message');
      return;
    }
    this.fx.broadcast(s.node, { type: MsgType.suspect, body: { ...s } });
    this.cfg.counters.s.suspicionsRaised++;
    state.incarnation = s.incarnation;
    state.state = 'suspect';
    const changeTime = this.cfg.clock.now();
    state.stateChange = changeTime;
    const { min, max, k } = suspicionParams(this.cfg.timing, this.nodes.size);
    this.cfg.log.debug({ op: 'suspect', node: s.node, from: s.from, min, max, k }, 'member suspected');
    this.suspicions.set(
      s.node,
      new Suspicion(this.cfg.clock, s.from, k, min, max, (confirmations) => {
        // Read pending packets first (a refutation may be waiting in the socket; see afterIo).
        void this.cfg.clock.afterIo().then(() => this.suspicionExpired(s, changeTime, confirmations, k, max));
      }),
    );
  }

  /** The suspicion timer of `s` expired: declare the member dead (or, once, wait longer). */
  private suspicionExpired(s: Accusation, changeTime: number, confirmations: number, k: number, max: number): void {
    if (this.stopped) return;
    const cur = this.nodes.get(s.node);
    if (cur === undefined || cur.state !== 'suspect' || cur.stateChange !== changeTime) return;
    const sus = this.suspicions.get(s.node);
    const unhealthy = this.cfg.health.lastIsolatedAt >= changeTime - this.cfg.timing.probeInterval;
    if (sus !== undefined && !sus.deferred && confirmations === 0 && k >= 1 && s.from === this.cfg.name && unhealthy) {
      // ironlb deviation from Go (in the spirit of Lifeguard's local-health awareness): we
      // alone accuse, nobody confirmed although k ≥ 1 could have, and nothing at all reached
      // us during the probe that raised the suspicion (not even a relay's nack): we were
      // probably the one cut off, and our suspect gossip was lost. Before killing the member
      // on our sole word, send it the suspicion directly so it can refute, and wait one more
      // `max`.
      sus.deferred = true;
      this.cfg.counters.s.suspicionsDeferred++;
      this.fx.sendSuspicion(cur);
      sus.rearm(max);
      this.cfg.log.info({ op: 'suspect', node: s.node }, 'unconfirmed suspicion while unhealthy: giving the member a chance to refute');
      return;
    }
    this.cfg.counters.s.suspicionTimeouts++;
    const line = { op: 'suspect', node: s.node, confirmations };
    // Members that never answered us may be junk (a forged flood): one line per interval for those.
    if (cur.verified) this.cfg.log.info(line, 'marking member as failed, suspect timeout reached');
    else this.cfg.warn.info('failedUnverified', line, 'marking unverified member as failed, suspect timeout reached');
    this.deadNode({ incarnation: cur.incarnation, node: cur.name, from: this.cfg.name });
  }

  /** memberlist deadNode: mark dead (or left when From == Node), or refute one about us. */
  deadNode(d: Accusation, notify?: () => void): void {
    const state = this.nodes.get(d.node);
    if (state === undefined) return;
    const o = this.order(d.incarnation, state, 'dead', d.from);
    if (o === 'far' || o === 'older') return;
    this.suspicions.get(d.node)?.stop();
    this.suspicions.delete(d.node);
    if (state.state === 'dead' || state.state === 'left') return;
    if (state.name === this.cfg.name) {
      if (!this.leaving) {
        this.refute(state, d.incarnation);
        this.cfg.warn.warn('refuteDead', { op: 'dead', from: d.from }, 'refuting a dead message');
        return;
      }
      this.fx.broadcast(d.node, { type: MsgType.dead, body: { ...d } }, notify);
    } else {
      this.fx.broadcast(d.node, { type: MsgType.dead, body: { ...d } });
    }
    state.incarnation = d.incarnation;
    state.state = d.node === d.from ? 'left' : 'dead';
    state.stateChange = this.cfg.clock.now();
    // Remembered for the reconnect loop, which prefers members that answered us (junk never
    // did) but also tries the others: a partition right after a join leaves members we learnt
    // from gossip and never probed, and without them the two sides would forget each other for
    // good. Bounded like the table (oldest first out: Map keeps insertion order).
    if (state.state === 'dead' && state.name !== this.cfg.name) {
      this.failed.delete(state.name);
      if (this.failed.size >= this.cfg.limits.maxMembers) {
        const oldest = this.failed.keys().next();
        if (oldest.done !== true) this.failed.delete(oldest.value);
      }
      this.failed.set(state.name, { addr: { addr: state.addr, port: state.port }, since: state.stateChange, verified: state.verified });
    } else this.failed.delete(state.name);
    this.fx.event('leave', state);
  }

  /** memberlist verifyProtocol: every alive node's current version must fit everyone's range. */
  verifyProtocol(remote: readonly PushNodeState[]): string | undefined {
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
    const self = this.cfg.name;
    for (const r of remote) if (r.state === NodeStateNum.alive && r.vsn.length >= 5) consider(r.vsn);
    for (const n of this.nodes.values()) if (n.state === 'alive') consider(n.name === self ? DEFAULT_VSN : n.vsn);
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
      const e = check(n.name, n.name === self ? DEFAULT_VSN : n.vsn);
      if (e !== undefined) return e;
    }
    return undefined;
  }

  /**
   * memberlist mergeState after verifyProtocol: alive → aliveNode (new members go through
   * admission one by one; a refused entry is skipped, not the whole merge), left → deadNode
   * with From = Name, dead or suspect → only a local suspicion. Throws if the versions clash.
   */
  mergeRemoteState(remote: readonly PushNodeState[]): void {
    const err = this.verifyProtocol(remote);
    if (err !== undefined) {
      this.cfg.counters.drop('protocolVersion');
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
        this.suspectNode({ incarnation: r.incarnation, node: r.name, from: this.cfg.name });
      }
    }
  }
}
