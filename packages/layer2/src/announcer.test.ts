import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Announcer } from './announcer.js';
import type { AnnouncerOptions, AnnouncerStats, CountEvent } from './announcer.js';
import { ARP_REPLY, ARP_REQUEST, arpRequestFrame, decodeArpFrame, encodeArpFrame, gratuitousArpFrames } from './arp.js';
import { arpProbeFrame } from './conflict.js';
import type { Claim } from './conflict.js';
import { CodecError } from './errors.js';
import type { EligibleInterface, Selection } from './interfaces.js';
import type { LinkEvent } from './linkwatch.js';
import { decodeNdpFrame, neighborSolicitationFrame, unsolicitedNaFrame } from './ndp.js';
import { MemoryPort } from './port.js';
import type { PortKind } from './port.js';

const CLIENT = '02:00:00:00:00:0c';
const eth0: EligibleInterface = { name: 'eth0', ifindex: 2, mac: '02:00:00:00:00:0a', linkLocal: 'fe80::a' };
const eth1: EligibleInterface = { name: 'eth1', ifindex: 3, mac: '02:00:00:00:00:1a', linkLocal: null };
const eth2: EligibleInterface = { name: 'eth2', ifindex: 4, mac: '02:00:00:00:00:2a', linkLocal: null };

/** A fake world: a mutable interface list and the ports the announcer opened, by "kind/name". */
class World {
  links: EligibleInterface[] = [eth0, eth1];
  readonly ports = new Map<string, MemoryPort>();
  readonly allPorts: MemoryPort[] = [];
  failOpen = new Set<string>();
  readonly events: CountEvent[] = [];

  options(extra: Partial<AnnouncerOptions> = {}): AnnouncerOptions {
    return {
      listInterfaces: (): Selection => ({ arp: this.links, ndp: this.links.filter((l) => l.linkLocal !== null), skipped: [] }),
      openPort: (iface: EligibleInterface, kind: PortKind) => {
        const key = `${kind}/${iface.name}`;
        if (this.failOpen.has(key)) throw new Error('EPERM');
        const p = new MemoryPort();
        this.ports.set(key, p);
        this.allPorts.push(p);
        return p;
      },
      onCount: (ev) => this.events.push(ev),
      ...extra,
    };
  }

  port(key: string): MemoryPort {
    return this.ports.get(key) ?? assert.fail(`no port ${key}`);
  }

  /** Sent frames per port since the last call, summarised as "op sender-ip" strings. */
  drain(key: string): string[] {
    return this.port(key).takeSent().map(describeFrame);
  }
}

function describeFrame(f: Uint8Array): string {
  const a = decodeArpFrame(f);
  if (!(a instanceof CodecError)) {
    const op = a.arp.op === ARP_REQUEST ? 'who-has' : a.arp.op === ARP_REPLY ? 'is-at' : `op${a.arp.op}`;
    return `arp ${op} ${a.arp.senderIp}->${a.arp.targetIp} to ${a.ethernet.dst}`;
  }
  const n = decodeNdpFrame(f);
  if (!(n instanceof CodecError) && n.message.type === 'na') {
    return `na ${n.message.target} ${n.ip.src}->${n.ip.dst} S=${Number(n.message.solicited)} O=${Number(n.message.override)}`;
  }
  return 'other';
}

const GARP = (ip: string): string[] => [`arp who-has ${ip}->${ip} to ff:ff:ff:ff:ff:ff`, `arp is-at ${ip}->${ip} to ff:ff:ff:ff:ff:ff`];

/**
 * Advances mock time in steps: Node 20's MockTimers schedules a timer created inside a callback
 * relative to the end of the current tick(), so one big tick would skip chained rounds.
 */
function advance(ms: number, step = 100): void {
  for (let t = 0; t < ms; t += step) mock.timers.tick(Math.min(step, ms - t));
}

function assertBalanced(s: AnnouncerStats): void {
  const drops = Object.values(s.drops).reduce((a, b) => a + b, 0);
  assert.equal(s.requestsReceived, s.repliesSent + drops, 'every received frame ends in a reply or a drop reason');
}

describe('Announcer', { timeout: 60_000 }, () => {
  let world: World;
  let ann: Announcer;
  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    world = new World();
  });
  afterEach(() => {
    ann.close();
    mock.timers.reset();
  });

  it('scenario: win an IPv4 VIP, burst, answer, share, refresh, lose', () => {
    ann = new Announcer(world.options({ refreshIntervalMs: 30_000, rescanIntervalMs: 0 }));
    ann.start();
    assert.deepEqual(ann.responders(), ['arp/eth0', 'arp/eth1', 'ndp/eth0']);

    // Step 1: svc-a wins the VIP: one gratuitous round at once on every ARP interface.
    ann.announce('198.51.100.10', 'ns/svc-a');
    assert.equal(ann.isAnnounced('198.51.100.10'), true);
    assert.deepEqual(world.drain('arp/eth0'), GARP('198.51.100.10'));
    assert.deepEqual(world.drain('arp/eth1'), GARP('198.51.100.10'));
    assert.deepEqual(world.drain('ndp/eth0'), []);

    // Step 2: the burst: rounds at 1.1, 2.2, 3.3, 4.4 s, then nothing until the refresh.
    for (let i = 0; i < 4; i++) {
      mock.timers.tick(1099);
      assert.deepEqual(world.drain('arp/eth0'), [], `nothing before round ${i + 1}`);
      mock.timers.tick(1);
      assert.deepEqual(world.drain('arp/eth0'), GARP('198.51.100.10'), `round ${i + 1}`);
    }
    mock.timers.tick(29_999);
    assert.deepEqual(world.drain('arp/eth0'), []);
    mock.timers.tick(1);
    assert.deepEqual(world.drain('arp/eth0'), GARP('198.51.100.10'), 'refresh 30 s after the last burst round');
    world.drain('arp/eth1');

    // Step 3: a client asks; the reply comes from eth0's MAC.
    world.port('arp/eth0').deliver(arpRequestFrame(CLIENT, '198.51.100.2', '198.51.100.10'));
    assert.deepEqual(world.drain('arp/eth0'), ['arp is-at 198.51.100.10->198.51.100.2 to 02:00:00:00:00:0c']);

    // Step 4: svc-b shares the IP: no new burst; svc-a leaving keeps it announced.
    ann.announce('198.51.100.10', 'ns/svc-b');
    assert.deepEqual(world.drain('arp/eth0'), []);
    ann.withdraw('198.51.100.10', 'ns/svc-a');
    assert.equal(ann.isAnnounced('198.51.100.10'), true);
    world.port('arp/eth0').deliver(arpRequestFrame(CLIENT, '198.51.100.2', '198.51.100.10'));
    assert.equal(world.drain('arp/eth0').length, 1);

    // Step 5: the last owner leaves: no answer at once, and the pending refresh is cancelled.
    ann.withdraw('198.51.100.10', 'ns/svc-b');
    assert.equal(ann.isAnnounced('198.51.100.10'), false);
    world.port('arp/eth0').deliver(arpRequestFrame(CLIENT, '198.51.100.2', '198.51.100.10'));
    advance(120_000);
    assert.deepEqual(world.drain('arp/eth0'), []);
    assert.deepEqual(world.drain('arp/eth1'), []);

    const s = ann.stats();
    assert.equal(s.requestsReceived, 3);
    assert.equal(s.repliesSent, 2);
    assert.equal(s.drops.notAnnounced, 1);
    assert.equal(s.gratuitousSent, 2 * 2 * 6); // 2 frames × 2 interfaces × (5 burst rounds + 1 refresh)
    assertBalanced(s);
  });

  it('withdrawing mid-burst cancels the remaining rounds', () => {
    ann = new Announcer(world.options({ rescanIntervalMs: 0 }));
    ann.start();
    ann.announce('198.51.100.10', 'a');
    mock.timers.tick(1100);
    ann.withdraw('198.51.100.10', 'a');
    world.drain('arp/eth0');
    advance(60_000);
    assert.deepEqual(world.drain('arp/eth0'), []);
  });

  it('burst interval, duration and refresh are configurable; refresh 0 disables it', () => {
    ann = new Announcer(world.options({ burstIntervalMs: 500, burstDurationMs: 1200, refreshIntervalMs: 0, rescanIntervalMs: 0 }));
    ann.start();
    ann.announce('198.51.100.10', 'a');
    advance(10 * 60_000);
    assert.equal(world.drain('arp/eth0').length, 2 * 3); // rounds at 0, 500, 1000 ms
  });

  it('reannounce restarts the burst', () => {
    ann = new Announcer(world.options({ refreshIntervalMs: 0, rescanIntervalMs: 0 }));
    ann.start();
    ann.announce('198.51.100.10', 'a');
    advance(60_000);
    world.drain('arp/eth0');
    ann.reannounce('198.51.100.10');
    advance(60_000);
    assert.equal(world.drain('arp/eth0').length, 2 * 5);
  });

  it('IPv6: joins the solicited-node group, sends unsolicited NAs, answers NS and NUD, leaves on withdraw', () => {
    ann = new Announcer(world.options({ rescanIntervalMs: 0 }));
    ann.start();
    ann.announce('2001:DB8::10', 'a');
    const ndp = world.port('ndp/eth0');
    assert.deepEqual([...ndp.memberships], ['33:33:ff:00:00:10']);
    assert.deepEqual(world.drain('ndp/eth0'), ['na 2001:db8::10 fe80::a->ff02::1 S=0 O=1']);
    assert.deepEqual(world.drain('arp/eth0'), [], 'no ARP for an IPv6 VIP');

    ndp.deliver(neighborSolicitationFrame(CLIENT, '2001:db8::2', '2001:db8::10'));
    ndp.deliver(neighborSolicitationFrame(CLIENT, '2001:db8::2', '2001:db8::10', { unicastTo: { mac: eth0.mac, ip: '2001:db8::10' } }));
    assert.deepEqual(world.drain('ndp/eth0'), ['na 2001:db8::10 2001:db8::10->2001:db8::2 S=1 O=1', 'na 2001:db8::10 2001:db8::10->2001:db8::2 S=1 O=1']);

    // A second VIP in the same solicited-node group shares the membership.
    ann.announce('2001:db8:0:0:1::10', 'b');
    ann.withdraw('2001:db8::10', 'a');
    assert.deepEqual([...ndp.memberships], ['33:33:ff:00:00:10']);
    ann.withdraw('2001:db8:0:0:1::10', 'b');
    assert.deepEqual(ndp.membershipLog, ['+33:33:ff:00:00:10', '-33:33:ff:00:00:10']);
    ndp.deliver(neighborSolicitationFrame(CLIENT, '2001:db8::2', '2001:db8::10'));
    assert.equal(ann.stats().drops.notAnnounced, 1);
    assertBalanced(ann.stats());
  });

  it('a failed multicast join is counted and retried by the next rescan', () => {
    ann = new Announcer(world.options({ rescanIntervalMs: 0 }));
    ann.start();
    world.port('ndp/eth0').failJoins = new Error('ENOBUFS');
    ann.announce('2001:db8::10', 'a');
    assert.equal(ann.stats().portErrors, 1);
    assert.deepEqual([...world.port('ndp/eth0').memberships], []);
    world.port('ndp/eth0').failJoins = null;
    ann.rescan();
    assert.deepEqual([...world.port('ndp/eth0').memberships], ['33:33:ff:00:00:10']);
  });

  it('an interface restriction limits answers, gratuitous sends and memberships', () => {
    world.links = [eth0, { ...eth1, linkLocal: 'fe80::1a' }];
    ann = new Announcer(world.options({ rescanIntervalMs: 0 }));
    ann.start();
    ann.announce('198.51.100.10', 'a', ['eth1']);
    ann.announce('2001:db8::10', 'a', ['eth1']);
    assert.deepEqual(world.drain('arp/eth0'), []);
    assert.deepEqual(world.drain('arp/eth1'), GARP('198.51.100.10'));
    assert.deepEqual([...world.port('ndp/eth0').memberships], []);
    assert.deepEqual([...world.port('ndp/eth1').memberships], ['33:33:ff:00:00:10']);
    world.port('arp/eth0').deliver(arpRequestFrame(CLIENT, '198.51.100.2', '198.51.100.10'));
    assert.equal(ann.stats().drops.wrongInterface, 1);
    // Another owner without a restriction widens it to every interface.
    ann.announce('198.51.100.10', 'b');
    world.port('arp/eth0').deliver(arpRequestFrame(CLIENT, '198.51.100.2', '198.51.100.10'));
    assert.equal(world.drain('arp/eth0').length, 1);
  });

  it('rescan opens new links (announcing to them at once), closes vanished ones, retries failed opens', () => {
    world.failOpen.add('arp/eth1');
    ann = new Announcer(world.options({ rescanIntervalMs: 10_000 }));
    ann.start();
    assert.deepEqual(ann.responders(), ['arp/eth0', 'ndp/eth0']);
    assert.equal(ann.stats().portErrors, 1);
    ann.announce('198.51.100.10', 'a');
    mock.timers.tick(60_000);

    world.failOpen.clear();
    world.links = [eth0, eth2];
    mock.timers.tick(10_000);
    assert.deepEqual(ann.responders(), ['arp/eth0', 'arp/eth2', 'ndp/eth0']);
    assert.deepEqual(world.drain('arp/eth2'), GARP('198.51.100.10'), 'a new link learns our IPs at once');

    world.links = [eth0, { ...eth2, mac: '02:00:00:00:00:2b' }];
    const old = world.port('arp/eth2');
    mock.timers.tick(10_000);
    assert.equal(old.closed, true, 'a changed MAC gets a fresh socket');
    assert.notEqual(world.port('arp/eth2'), old);
    // Frames still queued on the old port are ignored.
    old.closed = false;
    old.deliver(arpRequestFrame(CLIENT, '198.51.100.2', '198.51.100.10'));
    assert.equal(ann.stats().requestsReceived, 0);
  });

  it('a failing listInterfaces keeps the current responders', () => {
    let fail = false;
    const opts = world.options({ rescanIntervalMs: 0 });
    const list = opts.listInterfaces ?? assert.fail();
    ann = new Announcer({
      ...opts,
      listInterfaces: () => {
        if (fail) throw new Error('EIO');
        return list();
      },
    });
    ann.start();
    fail = true;
    ann.rescan();
    assert.deepEqual(ann.responders(), ['arp/eth0', 'arp/eth1', 'ndp/eth0']);
  });

  it('counts a refused reply as sendFailed and survives a throwing metrics callback', () => {
    ann = new Announcer(
      world.options({
        rescanIntervalMs: 0,
        onCount: () => {
          throw new Error('metrics bug');
        },
      }),
    );
    ann.start();
    ann.announce('198.51.100.10', 'a');
    world.port('arp/eth0').failSends = new Error('ENOBUFS');
    world.port('arp/eth0').deliver(arpRequestFrame(CLIENT, '198.51.100.2', '198.51.100.10'));
    world.port('arp/eth0').failSends = null;
    world.port('arp/eth0').deliver(arpRequestFrame(CLIENT, '198.51.100.2', '198.51.100.10'));
    const s = ann.stats();
    assert.equal(s.drops.sendFailed, 1);
    assert.equal(s.repliesSent, 1);
    assertBalanced(s);
  });

  it('reports counter events with family, interface and reason', () => {
    ann = new Announcer(world.options({ rescanIntervalMs: 0 }));
    ann.start();
    ann.announce('198.51.100.10', 'a');
    world.events.length = 0;
    world.port('arp/eth1').deliver(arpRequestFrame(CLIENT, '198.51.100.2', '198.51.100.99'));
    assert.deepEqual(world.events, [
      { kind: 'received', family: 4, iface: 'eth1' },
      { kind: 'drop', family: 4, iface: 'eth1', reason: 'notAnnounced' },
    ]);
  });

  it('close() closes every port and stops every timer', () => {
    ann = new Announcer(world.options());
    ann.start();
    ann.announce('198.51.100.10', 'a');
    ann.close();
    assert.ok(world.allPorts.every((p) => p.closed));
    world.links = [eth0, eth1, eth2];
    mock.timers.tick(10 * 60_000);
    assert.equal(world.ports.has('arp/eth2'), false, 'no rescan after close');
    assert.throws(() => ann.start(), /closed/);
  });

  it('takes a pino logger as is', () => {
    ann = new Announcer(world.options({ rescanIntervalMs: 0, logger: pino({ enabled: false }).child({ component: 'layer2' }) }));
    ann.start();
    ann.announce('198.51.100.10', 'a');
    assert.equal(ann.isAnnounced('198.51.100.10'), true);
  });

  it('rejects an invalid IP', () => {
    ann = new Announcer(world.options({ rescanIntervalMs: 0 }));
    assert.throws(() => ann.announce('198.51.100.300', 'a'), CodecError);
    assert.equal(ann.isAnnounced('nonsense'), false);
  });
});

/** A MemoryPort that reports batch ends and sends batches, like the AF_PACKET port. */
class BatchPort extends MemoryPort {
  #batchEnd: (() => void) | null = null;
  /** Sizes of the sendMany calls. */
  readonly batches: number[] = [];
  /** When set, sendMany sends only this many frames of each call. */
  sendLimit: number | null = null;

  onBatchEnd(cb: () => void): void {
    this.#batchEnd = cb;
  }

  sendMany(frames: readonly Uint8Array[]): number {
    const n = Math.min(frames.length, this.sendLimit ?? frames.length);
    this.batches.push(frames.length);
    for (const f of frames.slice(0, n)) this.sent.push(f.slice());
    return n;
  }

  /** Delivers frames as one kernel batch. */
  deliverBatch(frames: Uint8Array[]): void {
    for (const f of frames) this.deliver(f);
    this.#batchEnd?.();
  }
}

describe('Announcer: recovery, conflicts, defence and probing', { timeout: 60_000 }, () => {
  const FOREIGN = '02:00:00:00:00:0f';
  const VIP4 = '198.51.100.70';
  const VIP6 = '2001:db8::1:70';
  let world: World;
  let ann: Announcer;
  let clock = 0;
  let linkEvent: ((ev: LinkEvent) => void) | null = null;
  let opens: string[] = [];
  let scans = 0;
  const now = (): number => clock;
  /** Advances mock timers and the injected clock together, in 10 ms steps. */
  const tick = (ms: number): void => {
    for (let t = 0; t < ms; t += 10) {
      const step = Math.min(10, ms - t);
      clock += step;
      mock.timers.tick(step);
    }
  };
  const link = (l: EligibleInterface, running: boolean, name = l.name): void => linkEvent?.({ kind: 'link', ifindex: l.ifindex, name, up: running, running, deleted: false });
  const netDown = (): Error => Object.assign(new Error('packet socket: Network is down'), { code: 'ENETDOWN' });
  const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

  function options(extra: Partial<AnnouncerOptions> = {}): AnnouncerOptions {
    const base = world.options();
    const list = base.listInterfaces ?? assert.fail();
    const open = base.openPort ?? assert.fail();
    return {
      ...base,
      rescanIntervalMs: 0,
      now,
      listInterfaces: () => {
        scans++;
        return list();
      },
      openPort: (iface, kind) => {
        opens.push(`${clock} ${kind}/${iface.name}`);
        return open(iface, kind);
      },
      watchLinks: (onEvent) => {
        linkEvent = onEvent;
        return {
          close: () => {
            linkEvent = null;
          },
        };
      },
      ...extra,
    };
  }

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    world = new World();
    clock = 1_000_000;
    opens = [];
    scans = 0;
    linkEvent = null;
  });
  afterEach(() => {
    ann.close();
    mock.timers.reset();
  });

  it('scenario: a socket error closes it; reopens back off 100, 200, 400, 400 ms; replies resume', () => {
    ann = new Announcer(options({ reopenInitialMs: 100, reopenMaxMs: 400 }));
    ann.start();
    ann.announce(VIP4, 'a');
    const first = world.port('arp/eth0');
    world.drain('arp/eth0');
    opens = [];
    world.failOpen.add('arp/eth0');
    first.raiseError(netDown());
    assert.equal(first.closed, true, 'the failed socket is closed at once');
    let h = ann.health();
    assert.equal(h.errored, 1);
    assert.deepEqual(
      h.responders.find((r) => r.name === 'arp/eth0'),
      {
        name: 'arp/eth0',
        iface: 'eth0',
        kind: 'arp',
        state: 'errored',
        errors: 1,
        reopens: 0,
        lastError: 'packet socket: Network is down',
        socketDrops: 0,
        rcvbuf: 0,
        linkUp: null,
      },
    );
    const t0 = clock;
    tick(1200);
    assert.deepEqual(
      opens.map((o) => Number(o.split(' ')[0]) - t0),
      [100, 300, 700, 1100],
      'bounded exponential backoff',
    );
    world.failOpen.clear();
    tick(400);
    h = ann.health();
    assert.equal(h.errored, 0);
    assert.equal(h.reopens, 1);
    assert.equal(ann.stats().portReopens, 1);
    const second = world.port('arp/eth0');
    assert.notEqual(second, first);
    assert.deepEqual(world.drain('arp/eth0'), GARP(VIP4), 'the reopened socket announces at once');
    second.deliver(arpRequestFrame(CLIENT, '198.51.100.2', VIP4));
    assert.equal(world.drain('arp/eth0').length, 1, 'answers again');
    first.closed = false;
    first.deliver(arpRequestFrame(CLIENT, '198.51.100.2', VIP4));
    assert.equal(ann.stats().requestsReceived, 1, 'the dead socket is ignored');
    assertBalanced(ann.stats());
  });

  it('scenario: link down, socket error, reopen while down, link up: fresh socket and a burst at once', () => {
    ann = new Announcer(options());
    ann.start();
    link(eth0, true); // the initial dump
    ann.announce(VIP4, 'a');
    ann.announce(VIP6, 'a');
    tick(60_000);
    world.drain('arp/eth0');
    world.drain('arp/eth1');
    world.drain('ndp/eth0');
    link(eth0, false);
    const before = world.port('arp/eth0');
    before.raiseError(netDown());
    world.port('ndp/eth0').raiseError(netDown());
    tick(150); // reopened (bind succeeds on a down link), but nothing sent: every send would fail
    const whileDown = world.port('arp/eth0');
    assert.notEqual(whileDown, before);
    assert.deepEqual(world.drain('arp/eth0'), []);
    assert.equal(ann.health().errored, 0);
    link(eth0, true);
    const after = world.port('arp/eth0');
    assert.notEqual(after, whileDown, 'a socket opened while the link was down is replaced at link up');
    assert.equal(whileDown.closed, true);
    assert.deepEqual(world.drain('arp/eth0'), GARP(VIP4), 'burst round 0 at once');
    assert.deepEqual(world.drain('ndp/eth0'), [`na ${VIP6} fe80::a->ff02::1 S=0 O=1`]);
    assert.deepEqual(world.drain('arp/eth1'), [], 'eth1 did not flap');
    tick(250);
    assert.deepEqual(world.drain('arp/eth0'), GARP(VIP4), 'denser at first: 250 ms');
    tick(250);
    assert.deepEqual(world.drain('arp/eth0'), GARP(VIP4), '500 ms');
    tick(600);
    assert.deepEqual(world.drain('arp/eth0'), GARP(VIP4), 'then the usual 1.1 s steps');
    assert.equal(ann.health().reopens, 4);
    after.deliver(arpRequestFrame(CLIENT, '198.51.100.2', VIP4));
    assert.equal(world.drain('arp/eth0').length, 1);
  });

  it('a carrier flap (no socket error) restarts the burst when the link is back', () => {
    ann = new Announcer(options({ refreshIntervalMs: 0 }));
    ann.start();
    link(eth1, true);
    ann.announce(VIP4, 'a');
    tick(60_000);
    world.drain('arp/eth0');
    world.drain('arp/eth1');
    const port = world.port('arp/eth1');
    link(eth1, false);
    tick(3000);
    assert.deepEqual(world.drain('arp/eth1'), []);
    link(eth1, true);
    assert.equal(world.port('arp/eth1'), port, 'a healthy socket is kept');
    assert.deepEqual(world.drain('arp/eth1'), GARP(VIP4));
    tick(4400);
    assert.equal(world.drain('arp/eth1').length, 2 * 6, 'the rest of the burst: 250, 500, 1100, 2200, 3300, 4400 ms');
  });

  it("interfaceMacs lists the eligible interfaces' MACs", () => {
    ann = new Announcer(options());
    ann.start();
    assert.deepEqual(ann.interfaceMacs(), [eth0.mac, eth1.mac]);
  });

  it('link events: unservable names cost no rescan; new links and overflows rescan once per burst of events', async () => {
    ann = new Announcer(options());
    ann.start();
    const base = scans;
    linkEvent?.({ kind: 'link', ifindex: 40, name: 'veth1234abcd', up: true, running: true, deleted: false });
    linkEvent?.({ kind: 'link', ifindex: 41, name: 'cali0123', up: true, running: false, deleted: false });
    link(eth0, true);
    await settle();
    assert.equal(scans, base, 'pod interfaces and the initial state of a served link are no news');
    world.links = [eth0, eth1, eth2];
    link(eth2, true);
    linkEvent?.({ kind: 'link', ifindex: 5, name: 'eth3', up: true, running: true, deleted: false });
    linkEvent?.({ kind: 'overflow' });
    await settle();
    assert.equal(scans, base + 1, 'one rescan for the lot');
    assert.deepEqual(ann.responders(), ['arp/eth0', 'arp/eth1', 'arp/eth2', 'ndp/eth0']);
    world.links = [eth0, eth1];
    linkEvent?.({ kind: 'link', ifindex: eth2.ifindex, name: 'eth2', up: false, running: false, deleted: true });
    await settle();
    assert.deepEqual(ann.responders(), ['arp/eth0', 'arp/eth1', 'ndp/eth0']);
  });

  it('counts kernel socket drops as received and dropped (reason socket), on stats() and on a timer', () => {
    ann = new Announcer(options({ socketStatsIntervalMs: 1000 }));
    ann.start();
    world.events.length = 0;
    world.port('arp/eth0').socketDrops = 5;
    let s = ann.stats();
    assert.equal(s.drops.socket, 5);
    assert.equal(s.requestsReceived, 5);
    assertBalanced(s);
    assert.deepEqual(world.events, [
      { kind: 'received', family: 4, iface: 'eth0', n: 5 },
      { kind: 'drop', family: 4, iface: 'eth0', reason: 'socket', n: 5 },
    ]);
    world.events.length = 0;
    world.port('arp/eth0').socketDrops = 7;
    tick(1000);
    assert.deepEqual(
      world.events.filter((e) => e.kind === 'drop'),
      [{ kind: 'drop', family: 4, iface: 'eth0', reason: 'socket', n: 2 }],
    );
    s = ann.stats();
    assert.equal(s.drops.socket, 7);
    assert.equal(ann.health().responders.find((r) => r.name === 'arp/eth0')?.socketDrops, 7);
  });

  it('a batching port gets one sendMany per receive batch and counts per batch', () => {
    const ports: BatchPort[] = [];
    ann = new Announcer(
      options({
        openPort: (iface, kind) => {
          const p = new BatchPort();
          world.ports.set(`${kind}/${iface.name}`, p);
          ports.push(p);
          return p;
        },
      }),
    );
    ann.start();
    ann.announce(VIP4, 'a');
    const p = world.ports.get('arp/eth0') as BatchPort;
    p.takeSent();
    world.events.length = 0;
    const ask = (ip: string): Uint8Array => arpRequestFrame(CLIENT, '198.51.100.2', ip);
    p.deliverBatch([ask(VIP4), ask(VIP4), ask('198.51.100.99'), ask(VIP4)]);
    assert.deepEqual(p.batches, [3]);
    assert.equal(p.takeSent().length, 3);
    assert.deepEqual(world.events, [
      { kind: 'received', family: 4, iface: 'eth0', n: 4 },
      { kind: 'reply', family: 4, iface: 'eth0', n: 3 },
      { kind: 'drop', family: 4, iface: 'eth0', reason: 'notAnnounced' },
    ]);
    p.sendLimit = 1;
    p.deliverBatch([ask(VIP4), ask(VIP4)]);
    const s = ann.stats();
    assert.equal(s.repliesSent, 4);
    assert.equal(s.drops.sendFailed, 1);
    assertBalanced(s);
  });

  it('scenario: onClaim gets foreign claims on announced IPs, after the receive path, rate-limited per ip+mac', async () => {
    const claims: Claim[] = [];
    ann = new Announcer(options({ onClaim: (c) => claims.push(c), claimIntervalMs: 1000 }));
    ann.start();
    ann.announce(VIP4, 'a', ['eth0']);
    ann.announce(VIP6, 'a');
    const arp0 = world.port('arp/eth0');
    arp0.deliver(gratuitousArpFrames(FOREIGN, VIP4)[0]);
    assert.equal(claims.length, 0, 'never called from inside the receive path');
    await settle();
    assert.deepEqual(claims, [{ ip: VIP4, mac: FOREIGN, family: 4, kind: 'arpAnnouncement', iface: 'eth0' }]);
    arp0.deliver(gratuitousArpFrames(FOREIGN, VIP4)[1]); // same ip+mac within the interval
    arp0.deliver(gratuitousArpFrames('02:00:00:00:00:0e', VIP4)[1]); // another MAC
    world.port('arp/eth1').deliver(gratuitousArpFrames(FOREIGN, VIP4)[0]); // not announced on eth1
    arp0.deliver(gratuitousArpFrames(eth1.mac, VIP4)[0]); // our own other NIC
    arp0.deliver(gratuitousArpFrames(FOREIGN, '198.51.100.99')[0]); // not ours
    arp0.deliver(arpProbeFrame(FOREIGN, VIP4)); // a probe is answered, not a claim
    assert.equal(world.drain('arp/eth0').filter((d) => d.startsWith('arp is-at')).length, 2, 'the probe got its answer (plus a GARP of the burst)');
    await settle();
    assert.deepEqual(
      claims.slice(1).map((c) => `${c.kind} ${c.mac}`),
      ['arpReply 02:00:00:00:00:0e'],
    );
    tick(1000);
    arp0.deliver(gratuitousArpFrames(FOREIGN, VIP4)[0]);
    world.port('ndp/eth0').deliver(unsolicitedNaFrame(FOREIGN, 'fe80::f', VIP6));
    await settle();
    assert.deepEqual(
      claims.slice(2).map((c) => `${c.kind} ${c.ip} ${c.mac} ${c.iface}`),
      [`arpAnnouncement ${VIP4} ${FOREIGN} eth0`, `na ${VIP6} ${FOREIGN} eth0`],
    );
    const s = ann.stats();
    assert.equal(s.claimsSeen, 5);
    assert.equal(s.claimsDelivered, 4);
    assert.equal(s.claimsSuppressed, 1);
    assertBalanced(s);
  });

  it('a throwing onClaim is logged, not fatal', async () => {
    const warned: object[] = [];
    ann = new Announcer(
      options({
        onClaim: () => {
          throw new Error('speaker bug');
        },
        logger: { debug: () => {}, info: () => {}, warn: (o) => warned.push(o) },
      }),
    );
    ann.start();
    ann.announce(VIP4, 'a');
    world.port('arp/eth0').deliver(gratuitousArpFrames(FOREIGN, VIP4)[0]);
    await settle();
    assert.equal(ann.stats().claimsDelivered, 1);
    assert.equal(warned.length, 1);
  });

  it('reassert defends at most once per defendIntervalMs (RFC 5227 §2.4)', () => {
    ann = new Announcer(options({ defendIntervalMs: 10_000, refreshIntervalMs: 0 }));
    ann.start();
    ann.announce(VIP4, 'a');
    tick(60_000);
    world.drain('arp/eth0');
    world.drain('arp/eth1');
    assert.equal(ann.reassert(VIP4), 'sent');
    assert.deepEqual(world.drain('arp/eth0'), GARP(VIP4));
    assert.deepEqual(world.drain('arp/eth1'), GARP(VIP4));
    tick(9_990);
    assert.equal(ann.reassert(VIP4), 'rateLimited');
    assert.deepEqual(world.drain('arp/eth0'), []);
    tick(10);
    assert.equal(ann.reassert('198.51.100.070'.replace('070', '70')), 'sent');
    assert.equal(ann.reassert('198.51.100.99'), 'notAnnounced');
    assert.throws(() => ann.reassert('not-an-ip'), CodecError);
    ann.withdraw(VIP4, 'a');
    ann.announce(VIP4, 'a');
    assert.equal(ann.reassert(VIP4), 'sent', 'a re-announced IP starts a fresh interval');
    const s = ann.stats();
    assert.equal(s.defencesSent, 3);
    assert.equal(s.defencesSuppressed, 1);
  });

  it('probe (IPv4): three probes 150 ms apart per interface, then 200 ms of listening, no conflict', async () => {
    ann = new Announcer(options());
    ann.start();
    const done = ann.probe(VIP4);
    const probe = `arp who-has 0.0.0.0->${VIP4} to ff:ff:ff:ff:ff:ff`;
    assert.deepEqual(world.drain('arp/eth0'), [probe]);
    assert.deepEqual(world.drain('arp/eth1'), [probe]);
    tick(150);
    assert.deepEqual(world.drain('arp/eth0'), [probe]);
    tick(150);
    assert.deepEqual(world.drain('arp/eth0'), [probe]);
    tick(190);
    let settled = false;
    void done.then(() => {
      settled = true;
    });
    await settle();
    assert.equal(settled, false, 'still listening');
    tick(10);
    assert.deepEqual(await done, { conflict: null, probesSent: 6, interfaces: ['eth0', 'eth1'] });
    assert.equal(ann.isAnnounced(VIP4), false, 'probing announces nothing');
    assert.equal(ann.stats().probesSent, 6);
  });

  it("probe (IPv4): an answer or another host's probe from another MAC is a conflict, reported at once", async () => {
    ann = new Announcer(options());
    ann.start();
    const done = ann.probe(VIP4, { interfaces: ['eth1'] });
    assert.deepEqual(world.drain('arp/eth0'), [], 'only the given interfaces');
    world.port('arp/eth1').deliver(
      encodeArpFrame(eth1.mac, FOREIGN, {
        op: ARP_REPLY,
        senderMac: FOREIGN,
        senderIp: VIP4,
        targetMac: eth1.mac,
        targetIp: '0.0.0.0',
      }),
    );
    assert.deepEqual(await done, { conflict: { mac: FOREIGN, iface: 'eth1' }, probesSent: 1, interfaces: ['eth1'] });
    tick(1000);
    assert.deepEqual(world.drain('arp/eth1').length, 1, 'no probes after the conflict');
    const again = ann.probe(VIP4);
    world.port('arp/eth0').deliver(arpProbeFrame(FOREIGN, VIP4));
    assert.deepEqual((await again).conflict, { mac: FOREIGN, iface: 'eth0' }, 'simultaneous probing (RFC 5227 §2.1.1)');
    assert.equal(ann.stats().probeConflicts, 2);
  });

  it('probe (IPv6): DAD probes from ::, the solicited-node group joined meanwhile, an NA is a conflict', async () => {
    ann = new Announcer(options());
    ann.start();
    const ndp = world.port('ndp/eth0');
    const done = ann.probe(VIP6);
    assert.deepEqual([...ndp.memberships], ['33:33:ff:01:00:70']);
    const sent = ndp.takeSent().map((f) => decodeNdpFrame(f));
    assert.equal(sent.length, 1);
    const ns = sent[0];
    assert.ok(ns !== undefined && !(ns instanceof CodecError));
    assert.deepEqual([ns.ip.src, ns.ip.dst, ns.message.type, ns.message.target], ['::', 'ff02::1:ff01:70', 'ns', VIP6]);
    ndp.deliver(unsolicitedNaFrame(FOREIGN, 'fe80::f', VIP6));
    assert.deepEqual((await done).conflict, { mac: FOREIGN, iface: 'eth0' });
    assert.deepEqual([...ndp.memberships], [], 'the group is left after the probe');
    const again = ann.probe(VIP6);
    ndp.deliver(neighborSolicitationFrame(FOREIGN, '::', VIP6));
    assert.deepEqual((await again).conflict, { mac: FOREIGN, iface: 'eth0' }, "another host's DAD probe");
  });

  it('probe: one probe per IP at a time, invalid IPs and close() reject', async () => {
    ann = new Announcer(options());
    ann.start();
    const a = ann.probe(VIP4);
    assert.equal(ann.probe('198.51.100.70'), a);
    await assert.rejects(ann.probe('nope'), CodecError);
    ann.close();
    await assert.rejects(a, /closed while probing/);
    await assert.rejects(ann.probe(VIP4), /closed/);
  });
});
