/**
 * Failure detection (memberlist state.go probe/probeNode): every probe interval, ping the next
 * member; without an ack within the probe timeout, ask `indirectChecks` peers to ping it and
 * try a TCP ping; without any ack by the end of the (awareness-scaled) interval, suspect it.
 *
 * Two lanes (ironlb): members that have acked one of our probes ("verified") are probed
 * round-robin exactly as Go does; members we have never heard back from (new, or junk from a
 * forged alive flood) are probed one at a time *in parallel*, so however many of them there
 * are, the verified members' detection time does not change, and junk drains at one probe per
 * interval per node. Unverified probes never move our health score.
 */
import type { Health } from './awareness.js';
import type { Clock, Random, Timer } from './clock.js';
import { MsgType, encodeMessage, type IndirectPingReq, type Ping } from './messages.js';
import { encodeCompound } from './framing.js';
import type { RateLimitedLog } from './ratelog.js';
import type { MemberTable, NodeState } from './state.js';
import { scaleByAwareness, type Timing } from './timing.js';
import type { Address } from './transport.js';
import type { Counters, Logger } from './types.js';

/** What the prober needs from the rest of the node. */
export interface ProbeHost {
  readonly name: string;
  readonly clock: Clock;
  readonly random: Random;
  readonly timing: Timing;
  readonly table: MemberTable;
  readonly health: Health;
  readonly counters: Counters;
  readonly log: Logger;
  readonly warn: RateLimitedLog;
  /** Our advertised address bytes and port (Source fields of pings). */
  advertise(): { addrBytes: Uint8Array; port: number };
  /** Sends a message with piggybacked gossip. */
  sendMsg(to: Address, msg: Uint8Array, node?: NodeState): void;
  /** Sends a message as is. */
  rawSend(to: Address, msg: Uint8Array, node?: NodeState): void;
  /** TCP fallback ping: 'ack', 'connected' (port open, no ack in time) or 'failed'. */
  tcpPing(node: NodeState, ping: Ping, deadline: number): Promise<'ack' | 'connected' | 'failed'>;
  /** Resolves after `ms`, or at once on shutdown. */
  sleep(ms: number): Promise<void>;
  /** True once shut down. */
  stopped(): boolean;
}

interface AckHandler {
  ack: (payload: Uint8Array) => void;
  nack: () => void;
  timer: Timer;
}

/** Fisher–Yates with the injected random source. */
export function shuffle<T>(a: T[], random: Random): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = a[i] as T;
    a[i] = a[j] as T;
    a[j] = t;
  }
  return a;
}

type Lane = 'main' | 'unverified';

/** The probe loop, ack bookkeeping and the relay side of indirect pings. */
export class Prober {
  private probeList: NodeState[] = [];
  private probeIndex = 0;
  private unverifiedIndex = 0;
  private unverifiedBusy = false;
  private readonly acks = new Map<number, AckHandler>();
  private seqNo = 0;

  /** Creates a prober over `host`'s table. */
  constructor(private readonly host: ProbeHost) {}

  /** The next ping sequence number (uint32, wrapping). */
  nextSeqNo(): number {
    this.seqNo = (this.seqNo + 1) >>> 0;
    return this.seqNo;
  }

  /**
   * Up to `k` distinct random members passing `ok`, sampled from the probe list (O(k) for a
   * mostly healthy cluster rather than a scan of the whole table), with a scan as fallback.
   */
  sample(k: number, ok: (n: NodeState) => boolean): NodeState[] {
    const list = this.probeList;
    const out: NodeState[] = [];
    if (k <= 0 || list.length === 0) return out;
    const seen = new Set<NodeState>();
    for (let tries = 0; tries < 4 * k && out.length < k; tries++) {
      const n = list[Math.floor(this.host.random() * list.length)];
      if (n === undefined || seen.has(n)) continue;
      seen.add(n);
      if (this.host.table.nodes.get(n.name) === n && ok(n)) out.push(n);
    }
    if (out.length < k) {
      // Few eligible members (a small or mostly failed cluster): pick among all of them.
      const rest = list.filter((n) => !seen.has(n) && this.host.table.nodes.get(n.name) === n && ok(n));
      out.push(...shuffle(rest, this.host.random).slice(0, k - out.length));
    }
    return out;
  }

  /** A new member: insert it at a random position so new members are not all probed last. */
  added(n: NodeState): void {
    const off = Math.floor(this.host.random() * (this.probeList.length + 1));
    this.probeList.splice(off, 0, n);
  }

  /** Registers a handler for acks/nacks of `seq`, removed after `timeoutMs` or the first ack. */
  setAckHandler(seq: number, ack: (payload: Uint8Array) => void, nack: () => void, timeoutMs: number): void {
    const timer = this.host.clock.setTimeout(() => this.acks.delete(seq), timeoutMs);
    this.acks.set(seq, {
      ack: (p) => {
        timer.cancel();
        this.acks.delete(seq);
        ack(p);
      },
      nack,
      timer,
    });
  }

  /** Removes the handler of `seq`. */
  clearAckHandler(seq: number): void {
    const h = this.acks.get(seq);
    if (h === undefined) return;
    h.timer.cancel();
    this.acks.delete(seq);
  }

  /** An ack arrived (UDP, relayed or TCP). */
  handleAck(seq: number, payload: Uint8Array): void {
    this.acks.get(seq)?.ack(payload);
  }

  /** A nack arrived from a relay. */
  handleNack(seq: number): void {
    this.acks.get(seq)?.nack();
  }

  /** Cancels every pending ack timer (shutdown). */
  stop(): void {
    for (const h of this.acks.values()) h.timer.cancel();
    this.acks.clear();
  }

  /** Runs probes every probe interval until shutdown. */
  async run(): Promise<void> {
    const h = this.host;
    // Random stagger so a fleet started together does not probe in lockstep.
    await h.sleep(h.random() * h.timing.probeInterval);
    while (!h.stopped()) {
      const start = h.clock.now();
      try {
        await this.probe();
      } catch (err) {
        h.log.error({ op: 'probe', err: String(err) }, 'probe failed');
      }
      await h.sleep(h.timing.probeInterval - (h.clock.now() - start));
    }
  }

  /** One round: the next verified member (suspects first), plus one unverified member in parallel. */
  async probe(): Promise<void> {
    const h = this.host;
    const main = this.pickMain();
    const extra = this.unverifiedBusy ? undefined : this.pickUnverified(main);
    if (extra !== undefined) {
      this.unverifiedBusy = true;
      void this.probeNode(extra, 'unverified')
        .catch((err: unknown) => h.log.error({ op: 'probe', err: String(err) }, 'probe failed'))
        .finally(() => (this.unverifiedBusy = false));
    }
    if (main !== undefined) await this.probeNode(main, 'main');
  }

  private live(n: NodeState): boolean {
    return this.host.table.nodes.get(n.name) === n && n.name !== this.host.name && n.state !== 'dead' && n.state !== 'left';
  }

  /**
   * ironlb addition: a verified suspect we have not probed for a probe interval goes first. Its
   * probe carries the suspicion (ping + suspect), so a member whose suspicion gossip was lost
   * (say, in a short outage) can refute in time, and a really dead one collects confirmations
   * sooner. Plain round-robin (Go) may not come back to it before the suspicion expires.
   * Otherwise: the next verified member round-robin (Go's order); with none, an unverified one.
   */
  private pickMain(): NodeState | undefined {
    const h = this.host;
    const now = h.clock.now();
    let oldest: NodeState | undefined;
    for (const n of h.table.suspects()) {
      if (!n.verified || n.name === h.name || now - n.lastProbed < h.timing.probeInterval) continue;
      if (oldest === undefined || n.lastProbed < oldest.lastProbed) oldest = n;
    }
    if (oldest !== undefined) return oldest;
    let fallback: NodeState | undefined;
    let checked = 0;
    for (;;) {
      if (checked > this.probeList.length) return fallback;
      if (this.probeIndex >= this.probeList.length) {
        // On wrap (Go's resetNodes): forget long-dead members, reshuffle.
        this.resetProbeList();
        this.probeIndex = 0;
        checked++;
        continue;
      }
      const n = this.probeList[this.probeIndex++];
      checked++;
      if (n === undefined || !this.live(n)) continue;
      if (n.verified) return n;
      fallback ??= n;
    }
  }

  /** The next unverified live member after the unverified cursor (not `busy`, the main pick). */
  private pickUnverified(busy: NodeState | undefined): NodeState | undefined {
    const len = this.probeList.length;
    for (let i = 0; i < len; i++) {
      if (this.unverifiedIndex >= len) this.unverifiedIndex = 0;
      const n = this.probeList[this.unverifiedIndex++];
      if (n !== undefined && n !== busy && !n.verified && this.live(n)) return n;
    }
    return undefined;
  }

  private resetProbeList(): void {
    this.host.table.reap();
    this.probeList = shuffle([...this.host.table.nodes.values()], this.host.random);
    this.unverifiedIndex = 0;
  }

  private async probeNode(node: NodeState, lane: Lane): Promise<void> {
    const h = this.host;
    h.counters.s.probes++;
    node.lastProbed = h.clock.now();
    const probeInterval = scaleByAwareness(h.timing.probeInterval, h.health.score);
    const seq = this.nextSeqNo();
    const adv = h.advertise();
    const ping: Ping = { seqNo: seq, node: node.name, sourceAddr: adv.addrBytes, sourcePort: adv.port, sourceNode: h.name };
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
      probeInterval + h.timing.probeTimeout,
    );
    const probeStart = h.clock.now();
    const deadline = probeStart + probeInterval;
    const pingMsg = encodeMessage({ type: MsgType.ping, body: ping });
    if (node.state === 'alive') h.sendMsg({ addr: node.addr, port: node.port }, pingMsg, node);
    else {
      // Probing a suspect: include the suspicion so it can refute at once.
      const sus = encodeMessage({ type: MsgType.suspect, body: { incarnation: node.incarnation, node: node.name, from: h.name } });
      h.rawSend({ addr: node.addr, port: node.port }, encodeCompound([pingMsg, sus]), node);
    }
    try {
      await this.probeRounds(
        node,
        lane,
        ping,
        probeStart,
        deadline,
        ackArrived,
        () => acked,
        () => nacks,
      );
    } finally {
      this.clearAckHandler(seq);
    }
  }

  /** The waiting part of probeNode (split out so the ack handler is always removed). */
  private async probeRounds(node: NodeState, lane: Lane, ping: Ping, probeStart: number, deadline: number, ackArrived: Promise<void>, acked: () => boolean, nacks: () => number): Promise<void> {
    const h = this.host;
    await Promise.race([ackArrived, h.sleep(h.timing.probeTimeout)]);
    if (!acked()) await h.clock.afterIo();
    if (h.stopped()) return;
    if (acked()) {
      node.verified = true;
      node.lastAckAt = h.clock.now();
      if (lane === 'main') h.health.apply(-1);
      return;
    }
    // Indirect probes through k random alive peers, plus a TCP ping if the target speaks v3+.
    // Relays are verified members when there are any: an unverified one may be junk that
    // never answers, which would also cost us a missing nack (health).
    const verified: NodeState[] = [];
    const others: NodeState[] = [];
    for (const n of h.table.nodes.values()) {
      if (n.name === h.name || n.name === node.name || n.state !== 'alive') continue;
      (n.verified ? verified : others).push(n);
    }
    const relays = shuffle(verified.length > 0 ? verified : others, h.random).slice(0, h.timing.indirectChecks);
    let expectedNacks = 0;
    const adv = h.advertise();
    for (const r of relays) {
      const nack = (r.vsn[1] ?? 0) >= 4;
      if (nack) expectedNacks++;
      const ind: IndirectPingReq = {
        seqNo: ping.seqNo,
        target: node.addrBytes,
        port: node.port,
        node: node.name,
        nack,
        sourceAddr: adv.addrBytes,
        sourcePort: adv.port,
        sourceNode: h.name,
      };
      h.counters.s.indirectProbes++;
      h.sendMsg({ addr: r.addr, port: r.port }, encodeMessage({ type: MsgType.indirectPing, body: ind }), r);
    }
    const tcp: Promise<'ack' | 'connected' | 'failed'> = !h.timing.disableTcpPings && (node.vsn[1] ?? 0) >= 3 ? h.tcpPing(node, ping, deadline) : Promise.resolve('failed');
    await Promise.race([ackArrived, h.sleep(deadline - h.clock.now())]);
    if (!acked()) await h.clock.afterIo();
    if (h.stopped()) return;
    if (acked()) {
      node.verified = true;
      node.lastAckAt = h.clock.now();
      return;
    }
    const viaTcp = await tcp;
    if (viaTcp === 'ack') {
      node.verified = true;
      node.lastAckAt = h.clock.now();
      h.counters.s.tcpFallbackSuccesses++;
      h.warn.warn(`tcpOnly:${node.name}`, { op: 'probe', node: node.name }, 'was able to connect over TCP but UDP probes failed, network may be misconfigured');
      return;
    }
    if (h.stopped()) return;
    if (lane === 'main') {
      // Not even a nack from a relay, nor any other packet, during the whole probe: we are the
      // likely problem (see the suspicion expiry in MemberTable).
      if (h.health.lastPacketAt < probeStart) h.health.lastIsolatedAt = h.clock.now();
      h.health.apply(expectedNacks > 0 ? Math.max(0, expectedNacks - nacks()) : 1);
    }
    if (viaTcp === 'connected' && h.clock.now() - node.lastAckAt < h.timing.stallGrace) {
      // The member's port took our TCP connection: it is alive but slow (see Timing.stallGrace).
      h.counters.s.probeStalls++;
      h.warn.info(`stall:${node.name}`, { op: 'probe', node: node.name }, 'no ack, but the member accepts TCP connections: slow, not suspected yet');
      return;
    }
    h.counters.s.probeFailures++;
    if (lane === 'main') h.log.info({ op: 'probe', node: node.name }, 'suspect has failed, no acks received');
    else h.warn.info('probeFailedUnverified', { op: 'probe', node: node.name }, 'unverified member failed its probe, no acks received');
    h.table.suspectNode({ incarnation: node.incarnation, node: node.name, from: h.name });
  }
}
