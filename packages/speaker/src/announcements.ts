/**
 * What this node actually announces, given what the election wants: the election (state.ts)
 * says which IPs this node should hold; this state machine adds what only the wire can tell.
 *
 *  - Probe first: before the first announcement of an IP that may be in use by someone else (a
 *    newly assigned IP, or any IP right after start), ask the segment (RFC 5227 probe / DAD). A
 *    foreign answer blocks the IP (not announced, a Warning for the user, probed again with
 *    backoff); a peer speaker's answer or silence lets it through.
 *  - Split brain: a claim from a peer that outranks us makes us yield the IP for a lease, renewed
 *    while probes see that peer answer; a claim from a peer we outrank makes us re-assert.
 *  - Conflict: a claim from a foreign MAC for an IP we hold is defended (layer2 rate-limits it as
 *    RFC 5227 §2.4 asks) and reported.
 *
 * Time and I/O are injected (clock, announcement port), so every transition is a unit test.
 */
import { applyDiff, diffAnnouncements } from './diff.js';
import { type ClaimContext, YieldTable, decideClaim, outranks } from './guard.js';

/** What a probe saw: the MACs that answered for the IP (empty: nobody). */
export interface ProbeOutcome {
  readonly macs: readonly string[];
}

/** The announcement protocol as this state machine needs it (layer2 today). */
export interface AnnouncePort {
  /**
   * Starts answering for `ip` on behalf of `owner` (gratuitous burst on the first owner), on
   * `interfaces` only (null: every eligible one). Calling it again for a held pair updates its
   * interfaces.
   */
  announce(ip: string, owner: string, interfaces: readonly string[] | null): void;
  /** Stops `owner`'s hold on `ip` (silence once no owner is left). */
  withdraw(ip: string, owner: string): void;
  /**
   * Sends a gratuitous announcement for a held IP now. Against a foreign host this is an RFC 5227
   * defence (rate-limited by the port); against a peer speaker it restarts the burst, so the peer
   * sees us and yields even if one frame is lost.
   */
  reassert(ip: string, against: 'peer' | 'foreign'): void;
  /**
   * Asks the segment who answers for `ip` (never rejects; nobody answering is `macs: []`);
   * `quick`: a short probe (~80 ms) to check whether a peer is still there.
   */
  probe(ip: string, mode?: 'quick'): Promise<ProbeOutcome>;
}

/** Injected time. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** What the election wants for one IP. */
export interface WantedIP {
  /** Service keys that hold this IP (several when shared). */
  readonly owners: readonly string[];
  /** The IP the election hashes for these Services (their first ingress IP). */
  readonly electionIp: string;
  /** Probe before announcing (the IP is new, or we just started). */
  readonly probeFirst: boolean;
  /** Interfaces an L2Advertisement allows (null: every eligible one). */
  readonly interfaces?: readonly string[] | null;
}

/** Something the user or the operator should hear about. */
export type Report =
  | { readonly kind: 'conflict'; readonly ip: string; readonly mac: string; readonly owners: readonly string[] }
  | { readonly kind: 'inUse'; readonly ip: string; readonly mac: string; readonly owners: readonly string[] }
  | { readonly kind: 'freed'; readonly ip: string; readonly owners: readonly string[] }
  | { readonly kind: 'yielded'; readonly ip: string; readonly peer: string }
  | { readonly kind: 'reasserted'; readonly ip: string; readonly peer: string }
  | { readonly kind: 'reclaimed'; readonly ip: string };

/** What gossip and the election say, for reconcile. */
export interface ClusterView {
  /** Members alive or suspect (the election's view). */
  readonly alive: ReadonlySet<string>;
  /** Members alive and not suspected. */
  readonly healthy: ReadonlySet<string>;
  /** IPs the election gives to another live member: ip → that member. */
  readonly handover: ReadonlyMap<string, string>;
}

/** Options of AnnouncementSet. */
export interface AnnouncementOptions {
  readonly self: string;
  readonly port: AnnouncePort;
  readonly clock: Clock;
  /** This node's MACs. */
  readonly selfMacs: () => ReadonlySet<string>;
  /** The peer speaker that advertised a MAC. */
  readonly peerOfMac: (mac: string) => string | undefined;
  /** The state changed in a way the election must look at again (a lease ran out, a block cleared). */
  readonly onChange: () => void;
  readonly report: (r: Report) => void;
  /** How long one sighting of a higher-ranked peer keeps an IP yielded (default 3000 ms). */
  readonly yieldLeaseMs?: number;
  /** How long a held IP the election gave to a live peer waits for that peer's claim (default 2000 ms). */
  readonly handoverMs?: number;
  /** How often a yielded IP is probed to see the peer still answers (default 1000 ms). */
  readonly yieldProbeMs?: number;
  /** First re-probe of an address a foreign host holds (default 5000 ms, doubling to maxBlockedProbeMs). */
  readonly blockedProbeMs?: number;
  readonly maxBlockedProbeMs?: number;
}

type Gate = { readonly kind: 'probing'; readonly started: number } | { kind: 'blocked'; mac: string; retryMs: number; timer: unknown; probing: boolean } | { readonly kind: 'clear' };

/** The IPs this node announces, and why some it should announce are held back. */
export class AnnouncementSet {
  readonly #o: AnnouncementOptions;
  readonly #held = new Map<string, Set<string>>();
  /** The interfaces each held IP is announced on, as a key ("*" for all). */
  readonly #heldIfaces = new Map<string, string>();
  readonly #yields: YieldTable;
  readonly #gates = new Map<string, Gate>();
  #want = new Map<string, WantedIP>();
  #yieldTimer: unknown;
  #yieldProbes = new Map<string, unknown>();
  /** Yielded IPs already re-checked in their current situation: ip → "peer alive|gone". */
  readonly #yieldChecked = new Map<string, string>();
  /** Held IPs the election gave to a live peer, kept until it claims them: ip → peer and timer. */
  readonly #handovers = new Map<string, { peer: string; timer: unknown }>(); // timer undefined: ended
  /** Members gossip sees alive and not suspected, as of the last reconcile (undefined: not given). */
  #healthy: ReadonlySet<string> | undefined;
  /** Claims left to the election because the claimant was healthy: ip → claimant and when. */
  readonly #deferredClaims = new Map<string, { peer: string; mac: string; at: number }>();
  #closed = false;

  /** Creates an empty set; nothing is announced until reconcile(). */
  constructor(o: AnnouncementOptions) {
    this.#o = o;
    this.#yields = new YieldTable(o.yieldLeaseMs ?? 3000, () => o.clock.now());
  }

  /** What is announced now: ip → owners (a copy). */
  held(): Map<string, Set<string>> {
    return new Map([...this.#held].map(([ip, s]) => [ip, new Set(s)]));
  }

  /** IPs yielded to a peer: ip → peer. */
  yielded(): Map<string, string> {
    return this.#yields.live();
  }

  /** IPs held back because a foreign host answers for them: ip → its MAC. */
  blocked(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [ip, g] of this.#gates) if (g.kind === 'blocked') out.set(ip, g.mac);
    return out;
  }

  /** IPs waiting for their first probe to finish. */
  probing(): string[] {
    return [...this.#gates].filter(([, g]) => g.kind === 'probing').map(([ip]) => ip);
  }

  /**
   * Brings the announcements in line with what the election wants. `cluster` (gossip's view and
   * the election's handovers): a yielded IP the election gives us is checked at once instead of
   * at its lease's end (#checkYields), a held IP the election gives to a live peer is kept until
   * that peer claims it (#holdForHandover), and a claim from a healthy peer is left to the election.
   */
  reconcile(want: ReadonlyMap<string, WantedIP>, cluster?: ClusterView): void {
    if (this.#closed) return;
    this.#want = new Map(want);
    const alive = cluster?.alive;
    const handover = cluster?.handover;
    if (cluster !== undefined) {
      this.#healthy = cluster.healthy;
      this.#replayDeferredClaims();
    }
    for (const ip of this.#yields.takeExpired()) this.#stopYieldProbe(ip);
    // Forget gates of IPs no longer wanted: a later want starts fresh. A lease outlives a moment
    // of not being wanted (unprobed, it runs out within the lease time): in an asymmetric gossip
    // partition the peer flickers alive for a fraction of a second every rejoin, and a yield
    // dropped then would be re-learnt through another split-brain round each time.
    for (const ip of [...this.#gates.keys()]) if (!want.has(ip)) this.#dropGate(ip);
    for (const ip of this.#yields.live().keys()) {
      if (!want.has(ip)) this.#stopYieldProbe(ip);
      else this.#startYieldProbe(ip);
    }
    if (alive !== undefined) this.#checkYields(alive);
    const target = new Map<string, readonly string[]>();
    for (const [ip, w] of want) {
      if (this.#yields.isYielded(ip)) continue;
      if (!this.#held.has(ip) && !this.#passesGate(ip, w)) continue;
      target.set(ip, w.owners);
    }
    this.#holdForHandover(target, handover ?? new Map<string, string>());
    const d = diffAnnouncements(this.#held, target);
    for (const { ip, owner } of d.withdraw) this.#o.port.withdraw(ip, owner);
    for (const { ip, owner } of d.announce) this.#o.port.announce(ip, owner, want.get(ip)?.interfaces ?? null);
    applyDiff(this.#held, d);
    // An advertisement that changed its interfaces moves a held IP without a withdraw.
    for (const [ip, owners] of this.#held) {
      const ifaces = want.get(ip)?.interfaces ?? null;
      const key = ifaces === null ? '*' : [...ifaces].sort().join(',');
      const had = this.#heldIfaces.get(ip);
      if (had !== undefined && had !== key) for (const owner of owners) this.#o.port.announce(ip, owner, ifaces);
      this.#heldIfaces.set(ip, key);
    }
    for (const ip of [...this.#heldIfaces.keys()]) if (!this.#held.has(ip)) this.#heldIfaces.delete(ip);
    this.#armYieldTimer();
  }

  /**
   * IPs we hold that the election now gives to a live peer stay held until that peer claims them
   * on the wire (its first gratuitous ARP / NA), at most `handoverMs`. A peer that just (re)started
   * probes for ~0.5 s before its first announcement, and a withdraw at once would leave nobody
   * answering ARP that long; answering together for the few ms between its claim and our
   * withdraw is harmless (both forward to the Service).
   */
  #holdForHandover(target: Map<string, readonly string[]>, handover: ReadonlyMap<string, string>): void {
    // A handover ends when the IP is ours again or goes to someone else; an ended one (claimed, or
    // timed out) is not started again for the same peer.
    for (const [ip, h] of [...this.#handovers]) if (target.has(ip) || handover.get(ip) !== h.peer) this.#endHandover(ip, true);
    for (const [ip, peer] of handover) {
      const owners = this.#held.get(ip);
      if (target.has(ip)) continue;
      let h = this.#handovers.get(ip);
      if (h === undefined) {
        if (owners === undefined) continue;
        const timer = this.#o.clock.setTimeout(() => {
          this.#endHandover(ip, false);
          this.#o.onChange();
        }, this.#o.handoverMs ?? 2000);
        this.#handovers.set(ip, (h = { peer, timer }));
      }
      if (h.timer !== undefined && owners !== undefined) target.set(ip, [...owners]);
    }
  }

  /** Stops the handover timer of `ip`; `forget`: drop the record too (else it stays, ended). */
  #endHandover(ip: string, forget: boolean): void {
    const h = this.#handovers.get(ip);
    if (h === undefined) return;
    if (h.timer !== undefined) this.#o.clock.clearTimeout(h.timer);
    h.timer = undefined;
    if (forget) this.#handovers.delete(ip);
  }

  /** A frame on the wire claimed `ip` for `mac` (ARP reply, gratuitous ARP, NA). */
  onClaim(ip: string, mac: string): void {
    if (this.#closed) return;
    const m = mac.toLowerCase();
    const handover = this.#handovers.get(ip);
    if (handover?.timer !== undefined && this.#o.peerOfMac(m) === handover.peer) {
      // The new owner answers: let go now.
      this.#endHandover(ip, false);
      for (const owner of this.#held.get(ip) ?? []) this.#o.port.withdraw(ip, owner);
      this.#held.delete(ip);
      this.#heldIfaces.delete(ip);
      this.#o.onChange();
      return;
    }
    const yieldedTo = this.#yields.peerOf(ip);
    if (yieldedTo !== undefined) {
      if (this.#o.peerOfMac(m) === yieldedTo) this.#yields.renew(ip, yieldedTo);
      return;
    }
    // A claim from a peer gossip sees healthy is a handover in progress (both processed the same
    // change, one a few ms before the other): the election over one shared membership decides,
    // not the wire. Yielding or re-asserting here would race it, and a yield would then hold the
    // IP dark until its lease ran out. The wire rule is for peers we cannot hear (a partition);
    // the claim is kept for a moment, because the wire rate-limits claims and gossip may suspect
    // that peer a few ms later (a partition starting), and then it is decided after all.
    const claimant = this.#o.peerOfMac(m);
    if (claimant !== undefined && claimant !== this.#o.self && this.#healthy?.has(claimant) === true) {
      this.#deferredClaims.set(ip, { peer: claimant, mac: m, at: this.#o.clock.now() });
      return;
    }
    this.#deferredClaims.delete(ip);
    const ctx: ClaimContext = {
      self: this.#o.self,
      selfMacs: this.#o.selfMacs(),
      peerOfMac: this.#o.peerOfMac,
      electionIpOf: (x) => (this.#held.has(x) ? this.#want.get(x)?.electionIp : undefined),
    };
    const v = decideClaim({ ip, mac: m }, ctx);
    switch (v.kind) {
      case 'ignore':
        return;
      case 'reassert':
        this.#o.port.reassert(ip, 'peer');
        this.#o.report({ kind: 'reasserted', ip, peer: v.peer });
        return;
      case 'conflict':
        this.#o.port.reassert(ip, 'foreign');
        this.#o.report({ kind: 'conflict', ip, mac: m, owners: [...(this.#held.get(ip) ?? [])] });
        return;
      case 'yield': {
        this.#yields.yieldTo(ip, v.peer);
        for (const owner of this.#held.get(ip) ?? []) this.#o.port.withdraw(ip, owner);
        this.#held.delete(ip);
        this.#o.report({ kind: 'yielded', ip, peer: v.peer });
        this.#startYieldProbe(ip);
        this.#armYieldTimer();
        return;
      }
    }
  }

  /** Withdraws everything and stops timers. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [ip, owners] of this.#held) for (const o of owners) this.#o.port.withdraw(ip, o);
    this.#held.clear();
    for (const ip of [...this.#gates.keys()]) this.#dropGate(ip);
    for (const ip of [...this.#yieldProbes.keys()]) this.#stopYieldProbe(ip);
    for (const ip of [...this.#handovers.keys()]) this.#endHandover(ip, true);
    if (this.#yieldTimer !== undefined) this.#o.clock.clearTimeout(this.#yieldTimer);
  }

  /** True when `ip` may be announced now; starts a probe when one is needed first. */
  #passesGate(ip: string, w: WantedIP): boolean {
    const g = this.#gates.get(ip);
    if (g === undefined) {
      if (!w.probeFirst) return true;
      this.#gates.set(ip, { kind: 'probing', started: this.#o.clock.now() });
      void this.#firstProbe(ip);
      return false;
    }
    return g.kind === 'clear';
  }

  async #firstProbe(ip: string): Promise<void> {
    const out = await this.#o.port.probe(ip);
    const g = this.#gates.get(ip);
    if (this.#closed || g === undefined || g.kind !== 'probing') return;
    const foreign = this.#foreignMac(out);
    if (foreign === undefined) {
      this.#gates.set(ip, { kind: 'clear' });
      // A peer that outranks us already answers: our view of the cluster is behind (we just
      // started and have not heard everyone yet). Let it keep the IP until the lease says otherwise.
      const w = this.#want.get(ip);
      const boss = w === undefined ? undefined : out.macs.map((m) => this.#o.peerOfMac(m.toLowerCase())).find((p) => p !== undefined && p !== this.#o.self && outranks(p, this.#o.self, w.electionIp));
      if (boss !== undefined) {
        this.#yields.yieldTo(ip, boss);
        this.#o.report({ kind: 'yielded', ip, peer: boss });
        this.#startYieldProbe(ip);
        this.#armYieldTimer();
      }
    } else {
      this.#block(ip, foreign, this.#o.blockedProbeMs ?? 5000);
      this.#o.report({ kind: 'inUse', ip, mac: foreign, owners: this.#want.get(ip)?.owners ?? [] });
    }
    this.#o.onChange();
  }

  #block(ip: string, mac: string, retryMs: number): void {
    const timer = this.#o.clock.setTimeout(() => void this.#reprobe(ip), retryMs);
    this.#gates.set(ip, { kind: 'blocked', mac, retryMs, timer, probing: false });
  }

  async #reprobe(ip: string): Promise<void> {
    const g = this.#gates.get(ip);
    if (this.#closed || g === undefined || g.kind !== 'blocked') return;
    g.probing = true;
    const out = await this.#o.port.probe(ip);
    if (this.#closed || this.#gates.get(ip) !== g) return;
    const foreign = this.#foreignMac(out);
    if (foreign === undefined) {
      this.#gates.set(ip, { kind: 'clear' });
      this.#o.report({ kind: 'freed', ip, owners: this.#want.get(ip)?.owners ?? [] });
      this.#o.onChange();
      return;
    }
    const next = Math.min(g.retryMs * 2, this.#o.maxBlockedProbeMs ?? 60_000);
    this.#block(ip, foreign, next);
  }

  /** The first answering MAC that is neither ours nor a peer speaker's. */
  #foreignMac(out: ProbeOutcome): string | undefined {
    const own = this.#o.selfMacs();
    return out.macs.map((m) => m.toLowerCase()).find((m) => !own.has(m) && this.#o.peerOfMac(m) === undefined);
  }

  #dropGate(ip: string): void {
    const g = this.#gates.get(ip);
    if (g !== undefined && g.kind === 'blocked') this.#o.clock.clearTimeout(g.timer);
    this.#gates.delete(ip);
  }

  #startYieldProbe(ip: string): void {
    if (this.#yieldProbes.has(ip)) return;
    const every = this.#o.yieldProbeMs ?? 1000;
    const tick = async (): Promise<void> => {
      const peer = this.#yields.peerOf(ip);
      if (this.#closed || peer === undefined) {
        this.#yieldProbes.delete(ip);
        return;
      }
      const out = await this.#o.port.probe(ip);
      if (this.#closed || !this.#yieldProbes.has(ip)) return;
      if (out.macs.some((m) => this.#o.peerOfMac(m.toLowerCase()) === peer)) this.#yields.renew(ip, peer);
      else if (this.#want.has(ip) && this.#yields.peerOf(ip) === peer) {
        // A whole probe (three requests) and no answer from the peer: it is gone. Waiting out the
        // lease would keep the VIP dark up to 3 s longer. If it was only a lost answer, its next
        // claim makes us yield again.
        this.#endYield(ip, true);
        return;
      }
      this.#yieldProbes.set(
        ip,
        this.#o.clock.setTimeout(() => void tick(), every),
      );
    };
    this.#yieldProbes.set(
      ip,
      this.#o.clock.setTimeout(() => void tick(), every),
    );
  }

  /**
   * A yielded IP that the election gives us is checked with one quick probe at once, and again
   * whenever gossip's verdict on the peer changes, instead of waiting for the lease to run out
   * (up to 3 s after the peer was last seen answering, all that time with the VIP dark):
   *  - the peer was declared dead (it crashed, or its link was cut): it no longer answers;
   *  - the peer is alive but the election moved the IP to us (its endpoint went away, a drain):
   *    it withdrew and no longer answers.
   * Silent: the yield ends and we announce. Still answering (a gossip partition, or views that
   * disagree for a moment): the lease is renewed and the yield stands, checked once per situation.
   */
  /** Deferred claims whose peer gossip no longer sees healthy (within 3 s) are decided now. */
  #replayDeferredClaims(): void {
    const now = this.#o.clock.now();
    for (const [ip, c] of [...this.#deferredClaims]) {
      if (now - c.at > 3000 || !this.#held.has(ip)) {
        this.#deferredClaims.delete(ip);
        continue;
      }
      if (this.#healthy?.has(c.peer) === true) continue;
      this.#deferredClaims.delete(ip);
      this.onClaim(ip, c.mac);
    }
  }

  #checkYields(alive: ReadonlySet<string>): void {
    for (const ip of [...this.#yieldChecked.keys()]) if (this.#yields.peerOf(ip) === undefined) this.#yieldChecked.delete(ip);
    for (const [ip, peer] of this.#yields.live()) {
      if (!this.#want.has(ip)) {
        // Not ours now (the peer is back in the election): the next time it is, check again.
        this.#yieldChecked.delete(ip);
        continue;
      }
      if (this.#healthy?.has(peer) === true) {
        // The peer is healthy in gossip and the election, over that shared view, gives the IP to
        // us: it is handing the IP over (it keeps answering until our claim), so its answers are
        // no reason to wait. Yielding here would deadlock with its handover until a timeout.
        this.#endYield(ip, false);
        continue;
      }
      const situation = `${peer} ${alive.has(peer) ? 'alive' : 'gone'}`;
      if (this.#yieldChecked.get(ip) === situation) continue;
      this.#yieldChecked.set(ip, situation);
      void this.#verifyYield(ip, peer);
    }
  }

  async #verifyYield(ip: string, peer: string): Promise<void> {
    const out = await this.#o.port.probe(ip, 'quick');
    if (this.#closed || this.#yields.peerOf(ip) !== peer) return;
    if (out.macs.some((m) => this.#o.peerOfMac(m.toLowerCase()) === peer)) {
      this.#yields.renew(ip, peer);
      return;
    }
    this.#endYield(ip, true);
  }

  /**
   * Ends the yield of `ip` before its lease runs out; `resync`: ask the election to run again
   * (from inside reconcile it is running already, and it re-arms the lease timer itself).
   */
  #endYield(ip: string, resync: boolean): void {
    this.#yields.clear(ip);
    this.#stopYieldProbe(ip);
    this.#yieldChecked.delete(ip);
    this.#o.report({ kind: 'reclaimed', ip });
    if (!resync) return;
    this.#armYieldTimer();
    this.#o.onChange();
  }

  #stopYieldProbe(ip: string): void {
    const t = this.#yieldProbes.get(ip);
    if (t !== undefined) this.#o.clock.clearTimeout(t);
    this.#yieldProbes.delete(ip);
  }

  /** One timer at the earliest lease expiry: then the election decides again. */
  #armYieldTimer(): void {
    if (this.#yieldTimer !== undefined) this.#o.clock.clearTimeout(this.#yieldTimer);
    this.#yieldTimer = undefined;
    const next = this.#yields.nextExpiry();
    if (next === undefined || this.#closed) return;
    this.#yieldTimer = this.#o.clock.setTimeout(
      () => {
        this.#yieldTimer = undefined;
        const gone = this.#yields.takeExpired();
        for (const ip of gone) {
          this.#stopYieldProbe(ip);
          this.#o.report({ kind: 'reclaimed', ip });
        }
        // Renewed leases need a later timer; expired ones need the election to run again.
        this.#armYieldTimer();
        if (gone.length > 0) this.#o.onChange();
      },
      Math.max(0, next - this.#o.clock.now()),
    );
  }
}
