import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Announcer } from './announcer.js';
import type { AnnouncerOptions, AnnouncerStats, CountEvent } from './announcer.js';
import { ARP_REPLY, ARP_REQUEST, arpRequestFrame, decodeArpFrame } from './arp.js';
import { CodecError } from './errors.js';
import type { EligibleInterface, Selection } from './interfaces.js';
import { decodeNdpFrame, neighborSolicitationFrame } from './ndp.js';
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

const GARP = (ip: string): string[] => [
  `arp who-has ${ip}->${ip} to ff:ff:ff:ff:ff:ff`,
  `arp is-at ${ip}->${ip} to ff:ff:ff:ff:ff:ff`,
];

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

describe('Announcer', () => {
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
    assert.deepEqual(world.drain('ndp/eth0'), [
      'na 2001:db8::10 2001:db8::10->2001:db8::2 S=1 O=1',
      'na 2001:db8::10 2001:db8::10->2001:db8::2 S=1 O=1',
    ]);

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
    ann = new Announcer({ ...opts, listInterfaces: () => { if (fail) throw new Error('EIO'); return list(); } });
    ann.start();
    fail = true;
    ann.rescan();
    assert.deepEqual(ann.responders(), ['arp/eth0', 'arp/eth1', 'ndp/eth0']);
  });

  it('counts a refused reply as sendFailed and survives a throwing metrics callback', () => {
    ann = new Announcer(world.options({ rescanIntervalMs: 0, onCount: () => { throw new Error('metrics bug'); } }));
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
