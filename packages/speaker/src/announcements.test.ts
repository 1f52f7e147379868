/** AnnouncementSet scenarios: probe-first, foreign conflicts, split-brain yield/reassert, leases. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { electionHash } from '@ironlb/core';
import { type AnnouncePort, AnnouncementSet, type Clock, type ClusterView, type ProbeOutcome, type Report, type WantedIP } from './announcements.js';

/** A manual clock: timers fire only in advance(). */
class FakeClock implements Clock {
  t = 0;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.#timers.delete(h as number);
  }
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.#timers].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
      await flush();
    }
    this.t = end;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

/** Records port calls; probes answer from a script. */
class RecordingPort implements AnnouncePort {
  readonly calls: string[] = [];
  /** MACs the next probes see (consumed per probe; the last entry repeats). */
  answers: string[][] = [[]];
  announce(ip: string, owner: string, interfaces: readonly string[] | null): void {
    this.calls.push(interfaces === null ? `announce ${ip} ${owner}` : `announce ${ip} ${owner} on ${interfaces.join(',')}`);
  }
  withdraw(ip: string, owner: string): void {
    this.calls.push(`withdraw ${ip} ${owner}`);
  }
  reassert(ip: string, against: 'peer' | 'foreign'): void {
    this.calls.push(`reassert ${ip} ${against}`);
  }
  async probe(ip: string): Promise<ProbeOutcome> {
    this.calls.push(`probe ${ip}`);
    const macs = this.answers.length > 1 ? (this.answers.shift() ?? []) : (this.answers[0] ?? []);
    return Promise.resolve({ macs });
  }
  take(): string[] {
    return this.calls.splice(0);
  }
}

const ip = '198.51.100.200';
const ranked = ['n1', 'n2', 'n3'].sort((a, b) => Buffer.compare(electionHash(a, ip), electionHash(b, ip)));
const MAC: Record<string, string> = { n1: '02:00:00:00:00:01', n2: '02:00:00:00:00:02', n3: '02:00:00:00:00:03' };
const FOREIGN = '02:de:ad:00:00:01';

function setup(self: string): { set: AnnouncementSet; port: RecordingPort; clock: FakeClock; reports: Report[]; changes: () => number } {
  const port = new RecordingPort();
  const clock = new FakeClock();
  const reports: Report[] = [];
  let changes = 0;
  const set = new AnnouncementSet({
    self,
    port,
    clock,
    selfMacs: () => new Set([MAC[self] ?? '']),
    peerOfMac: (m) => Object.entries(MAC).find(([, v]) => v === m)?.[0],
    onChange: () => changes++,
    report: (r) => reports.push(r),
  });
  return { set, port, clock, reports, changes: () => changes };
}

const want = (probeFirst = false, owners = ['ns/a']): Map<string, WantedIP> => new Map([[ip, { owners, electionIp: ip, probeFirst }]]);
/** Gossip's view: `alive` members all healthy, and the election's handovers. */
const view = (alive: ReadonlySet<string>, handover: ReadonlyMap<string, string> = new Map()): ClusterView => ({ alive, healthy: alive, handover });

describe('AnnouncementSet', () => {
  it('announces and withdraws per owner, without probing when not asked', () => {
    const { set, port } = setup('n1');
    set.reconcile(want(false, ['ns/a', 'ns/b']));
    assert.deepEqual(port.take(), [`announce ${ip} ns/a`, `announce ${ip} ns/b`]);
    set.reconcile(want(false, ['ns/b']));
    assert.deepEqual(port.take(), [`withdraw ${ip} ns/a`]);
    set.reconcile(new Map());
    assert.deepEqual(port.take(), [`withdraw ${ip} ns/b`]);
  });

  it('probes a new IP first; silence or a peer answering lets it through', async () => {
    const { set, port, changes } = setup('n1');
    set.reconcile(want(true));
    assert.deepEqual(port.take(), [`probe ${ip}`]);
    assert.deepEqual(set.probing(), [ip]);
    await flush();
    assert.equal(changes(), 1, 'the probe result asks for a resync');
    set.reconcile(want(true));
    assert.deepEqual(port.take(), [`announce ${ip} ns/a`]);
    // A peer answering (a rolling restart's interim owner) is not a conflict.
    const b = setup('n1');
    b.port.answers = [[MAC.n2 ?? '']];
    b.set.reconcile(want(true));
    await flush();
    b.set.reconcile(want(true));
    assert.deepEqual(b.port.take(), [`probe ${ip}`, `announce ${ip} ns/a`]);
  });

  it('a foreign host answering the first probe blocks the IP, reported once; re-probes back off until it is gone', async () => {
    const { set, port, clock, reports } = setup('n1');
    port.answers = [[FOREIGN], [FOREIGN], [FOREIGN], []];
    set.reconcile(want(true));
    await flush();
    set.reconcile(want(true));
    assert.deepEqual(port.take(), [`probe ${ip}`], 'not announced');
    assert.deepEqual(set.blocked(), new Map([[ip, FOREIGN]]));
    assert.deepEqual(reports, [{ kind: 'inUse', ip, mac: FOREIGN, owners: ['ns/a'] }]);
    await clock.advance(5000);
    assert.deepEqual(port.take(), [`probe ${ip}`]);
    await clock.advance(9999);
    assert.deepEqual(port.take(), [], 'backs off: 10 s next');
    await clock.advance(1);
    assert.deepEqual(port.take(), [`probe ${ip}`]);
    await clock.advance(20_000);
    assert.deepEqual(port.take(), [`probe ${ip}`]);
    assert.deepEqual(reports.at(-1), { kind: 'freed', ip, owners: ['ns/a'] });
    set.reconcile(want(true));
    assert.deepEqual(port.take(), [`announce ${ip} ns/a`]);
  });

  it('a foreign claim on a held IP is defended and reported; our own frames are ignored', () => {
    const { set, port, reports } = setup('n1');
    set.reconcile(want());
    port.take();
    set.onClaim(ip, MAC.n1 ?? '');
    set.onClaim(ip, FOREIGN.toUpperCase());
    assert.deepEqual(port.take(), [`reassert ${ip} foreign`]);
    assert.deepEqual(reports, [{ kind: 'conflict', ip, mac: FOREIGN, owners: ['ns/a'] }]);
  });

  it('split brain: the higher-ranked speaker re-asserts, the lower one yields, keeps yielding while the peer answers, then reclaims', async () => {
    const [hi = '', lo = ''] = ranked;
    const top = setup(hi);
    top.set.reconcile(want());
    top.port.take();
    top.set.onClaim(ip, MAC[lo] ?? '');
    assert.deepEqual(top.port.take(), [`reassert ${ip} peer`]);

    const low = setup(lo);
    low.set.reconcile(want());
    low.port.take();
    low.set.onClaim(ip, MAC[hi] ?? '');
    assert.deepEqual(low.port.take(), [`withdraw ${ip} ns/a`]);
    assert.deepEqual(low.set.yielded(), new Map([[ip, hi]]));
    // The election still wants it here (gossip is cut), but the lease holds it back.
    low.set.reconcile(want());
    assert.deepEqual(low.port.take(), []);
    low.port.answers = [[MAC[hi] ?? '']];
    await low.clock.advance(2500);
    assert.deepEqual(low.port.take(), [`probe ${ip}`, `probe ${ip}`], 'probes the peer every second');
    await low.clock.advance(2000);
    assert.deepEqual(low.set.yielded(), new Map([[ip, hi]]), 'renewed while the peer answers');
    // The peer goes silent: the lease runs out and the election decides again.
    low.port.answers = [[]];
    const before = low.changes();
    await low.clock.advance(4000);
    assert.deepEqual(low.set.yielded(), new Map());
    assert.ok(low.changes() > before, 'asks for a resync');
    low.port.take();
    low.set.reconcile(want());
    assert.deepEqual(low.port.take(), [`announce ${ip} ns/a`]);
  });

  it('a yielded IP the election gives us is checked at once: reclaimed when the peer is silent, kept while it answers (a partition)', async () => {
    const [hi = '', lo = ''] = ranked;
    const alone = new Set([lo]);
    const low = setup(lo);
    low.set.reconcile(want(), view(alone));
    low.port.take();
    // Partition: gossip says hi is dead, but it answers on the wire: we yield, one quick probe confirms it.
    low.set.onClaim(ip, MAC[hi] ?? '');
    assert.deepEqual(low.set.yielded(), new Map([[ip, hi]]));
    low.port.take();
    low.port.answers = [[MAC[hi] ?? '']];
    low.set.reconcile(want(), view(alone));
    await flush();
    assert.deepEqual(low.port.take(), [`probe ${ip}`], 'one quick probe');
    assert.deepEqual(low.set.yielded(), new Map([[ip, hi]]), 'the peer answers: the yield stands');
    low.set.reconcile(want(), view(alone));
    await flush();
    assert.deepEqual(low.port.take(), [], 'checked once per situation');
    // hi is heard again and wins the election (not ours for a moment), then crashes for real:
    // silent on the wire, reclaimed at once.
    low.set.reconcile(new Map(), view(new Set([hi, lo])));
    await flush();
    assert.deepEqual(low.set.yielded(), new Map([[ip, hi]]), 'the yield outlives a moment of not being wanted');
    low.port.answers = [[]];
    const before = low.changes();
    low.set.reconcile(want(), view(alone));
    await flush();
    assert.deepEqual(low.set.yielded(), new Map(), 'reclaimed long before the 3 s lease');
    assert.equal(low.clock.now(), 0);
    assert.ok(low.changes() > before, 'asks for a resync');
    low.port.take();
    low.set.reconcile(want(), view(alone));
    assert.deepEqual(low.port.take(), [`announce ${ip} ns/a`]);
  });

  it('a yield to a peer gossip sees healthy ends at once when the election gives us the IP (the peer is handing it over)', () => {
    const [hi = '', lo = ''] = ranked;
    const low = setup(lo);
    low.set.reconcile(want(), view(new Set([lo])));
    low.port.take();
    low.set.onClaim(ip, MAC[hi] ?? '');
    assert.deepEqual(low.set.yielded(), new Map([[ip, hi]]));
    low.port.take();
    low.port.answers = [[MAC[hi] ?? '']];
    low.set.reconcile(want(), view(new Set([hi, lo])));
    assert.deepEqual(low.set.yielded(), new Map());
    assert.deepEqual(low.port.take(), [`announce ${ip} ns/a`], 'announced without waiting for the peer to fall silent');
  });

  it('a claim from a peer gossip sees alive is a handover in progress: neither yield nor re-assert', () => {
    const [hi = '', lo = ''] = ranked;
    const both = new Set([hi, lo]);
    for (const [self, other] of [
      [lo, hi],
      [hi, lo],
    ] as const) {
      const s = setup(self);
      s.set.reconcile(want(), view(both));
      s.port.take();
      s.set.onClaim(ip, MAC[other] ?? '');
      assert.deepEqual(s.port.take(), [], `${self} leaves it to the election`);
      assert.deepEqual(s.set.yielded(), new Map());
      assert.deepEqual(s.reports, []);
    }
  });

  it('a claim left to the election is decided after all when gossip suspects its peer a moment later (a partition starting)', async () => {
    const [hi = '', lo = ''] = ranked;
    const both = new Set([hi, lo]);
    const low = setup(lo);
    low.set.reconcile(want(), view(both));
    low.port.take();
    low.set.onClaim(ip, MAC[hi] ?? '');
    assert.deepEqual(low.port.take(), []);
    // hi is suspected (still in the election's view, no longer healthy): the deferred claim decides.
    low.port.answers = [[MAC[hi] ?? '']];
    low.set.reconcile(want(), { alive: both, healthy: new Set([lo]), handover: new Map() });
    await flush();
    assert.deepEqual(low.set.yielded(), new Map([[ip, hi]]), 'yields to the higher-ranked peer');
    assert.ok(low.port.take().includes(`withdraw ${ip} ns/a`));
    const top = setup(hi);
    top.set.reconcile(want(), view(both));
    top.port.take();
    top.set.onClaim(ip, MAC[lo] ?? '');
    await top.clock.advance(4000);
    top.set.reconcile(want(), { alive: both, healthy: new Set([hi]), handover: new Map() });
    assert.deepEqual(top.port.take(), [], 'a claim older than 3 s is forgotten');
  });

  it('an IP the election gives to a live peer stays held until that peer claims it, at most the handover time', async () => {
    const [hi = '', lo = ''] = ranked;
    const both = new Set([hi, lo]);
    const { set, port, clock } = setup(lo);
    set.reconcile(want(), view(both));
    port.take();
    // hi (re)joined and wins: we keep answering while it probes, and let go at its first claim.
    set.reconcile(new Map(), view(both, new Map([[ip, hi]])));
    assert.deepEqual(port.take(), [], 'still held');
    set.onClaim(ip, MAC[hi] ?? '');
    assert.deepEqual(port.take(), [`withdraw ${ip} ns/a`]);
    set.reconcile(new Map(), view(both, new Map([[ip, hi]])));
    assert.deepEqual(port.take(), [], 'not held again');
    // Ours again, then handed over to a peer that never claims it: withdrawn after the handover time.
    set.reconcile(want(), view(both));
    assert.deepEqual(port.take(), [`announce ${ip} ns/a`]);
    set.reconcile(new Map(), view(both, new Map([[ip, hi]])));
    await clock.advance(1900);
    set.reconcile(new Map(), view(both, new Map([[ip, hi]])));
    assert.deepEqual(port.take(), []);
    await clock.advance(200);
    set.reconcile(new Map(), view(both, new Map([[ip, hi]])));
    assert.deepEqual(port.take(), [`withdraw ${ip} ns/a`]);
    // Not handed to anyone (the Service went away): withdrawn at once.
    set.reconcile(want(), view(both));
    port.take();
    set.reconcile(new Map(), view(both, new Map()));
    assert.deepEqual(port.take(), [`withdraw ${ip} ns/a`]);
  });

  it('close withdraws everything and stops timers', async () => {
    const { set, port, clock } = setup('n1');
    port.answers = [[FOREIGN]];
    set.reconcile(new Map([...want(), ['198.51.100.201', { owners: ['ns/b'], electionIp: '198.51.100.201', probeFirst: true }]]));
    await flush();
    port.take();
    set.close();
    assert.deepEqual(port.take(), [`withdraw ${ip} ns/a`]);
    await clock.advance(120_000);
    assert.deepEqual(port.take(), [], 'no probe after close');
  });
});

describe('AnnouncementSet: a probe answered by a higher-ranked peer', () => {
  it('yields instead of announcing (our view of the cluster is behind), and reclaims when it goes silent', async () => {
    const [hi = '', lo = ''] = ranked;
    const { set, port, clock } = setup(lo);
    port.answers = [[MAC[hi] ?? ''], []];
    set.reconcile(want(true));
    await flush();
    set.reconcile(want(true));
    assert.deepEqual(port.take(), [`probe ${ip}`], 'not announced while the peer answers');
    assert.deepEqual(set.yielded(), new Map([[ip, hi]]));
    await clock.advance(5000);
    set.reconcile(want(true));
    assert.ok(port.take().includes(`announce ${ip} ns/a`));
  });
  it('a lower-ranked peer answering does not stop us (a rolling restart hands the IP back)', async () => {
    const [hi = '', lo = ''] = ranked;
    const { set, port } = setup(hi);
    port.answers = [[MAC[lo] ?? '']];
    set.reconcile(want(true));
    await flush();
    set.reconcile(want(true));
    assert.deepEqual(port.take(), [`probe ${ip}`, `announce ${ip} ns/a`]);
  });
});

describe('AnnouncementSet: interfaces', () => {
  it('announces on the advertised interfaces and follows a change without withdrawing', () => {
    const { set, port } = setup('n1');
    set.reconcile(new Map([[ip, { owners: ['ns/a'], electionIp: ip, probeFirst: false, interfaces: ['eth1'] }]]));
    assert.deepEqual(port.take(), [`announce ${ip} ns/a on eth1`]);
    set.reconcile(new Map([[ip, { owners: ['ns/a'], electionIp: ip, probeFirst: false, interfaces: ['eth1'] }]]));
    assert.deepEqual(port.take(), []);
    set.reconcile(new Map([[ip, { owners: ['ns/a'], electionIp: ip, probeFirst: false, interfaces: null }]]));
    assert.deepEqual(port.take(), [`announce ${ip} ns/a`]);
  });
});
