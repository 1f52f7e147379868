/**
 * The faults operators meet, in the lab with the real processes (issue 9): a short link flap, a
 * gossip partition, a foreign host claiming a VIP, a pool address already in use, a rotated or
 * deleted gossip key, speakers that start before the controller, a rolling restart of every
 * speaker, and a long API outage. The VIP must stay reachable, answered by exactly one MAC.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { LabNode } from '../lab/lab.js';
import {
  type System,
  arpResponders,
  createServiceWithEndpoints,
  electionOrder,
  httpFromClient,
  metricValue,
  ndpResponder,
  nodeByMac,
  speakerMetrics,
  speakerProbe,
  startArpProbe,
  startHttpProbe,
  startSystem,
  until,
  waitIngress,
  waitSpeakerMembers,
} from './harness.js';

const NS = 'faults';

/** Helpers bound to one running system. */
function bind(sys: () => System): {
  node: (name: string | undefined) => LabNode;
  order: (ip: string) => string[];
  sole: (ip: string, expect?: string, timeoutMs?: number) => Promise<LabNode>;
  soleNdp: (ip: string, expect?: string, timeoutMs?: number) => Promise<LabNode>;
  pids: () => Map<string, number | undefined>;
} {
  const node = (name: string | undefined): LabNode => {
    const n = sys().lab.nodes.find((x) => x.name === name);
    assert.ok(n, `node ${name}`);
    return n;
  };
  return {
    node,
    order: (ip) =>
      electionOrder(
        ip,
        sys().lab.nodes.map((n) => n.name),
      ),
    sole: async (ip, expect, timeoutMs = 20_000) =>
      until(
        `a single ARP responder for ${ip}${expect ? ` (${expect})` : ''}`,
        () => {
          const macs = arpResponders(sys().lab, ip, 2);
          if (macs.length !== 1) return undefined;
          const n = nodeByMac(sys().lab, macs[0]);
          return n !== undefined && (expect === undefined || n.name === expect) ? n : undefined;
        },
        timeoutMs,
        100,
      ),
    soleNdp: async (ip, expect, timeoutMs = 20_000) =>
      until(
        `an NDP responder for ${ip}${expect ? ` (${expect})` : ''}`,
        () => {
          const n = nodeByMac(sys().lab, ndpResponder(sys().lab, ip));
          return n !== undefined && (expect === undefined || n.name === expect) ? n : undefined;
        },
        timeoutMs,
        100,
      ),
    pids: () => new Map([...sys().speakers].map(([name, p]) => [name, p.pid])),
  };
}

/** One gratuitous ARP / unsolicited NA for `ip` from a namespace's eth0 (tools/garp.mjs). */
function garp(sys: System, netns: string, ip: string): void {
  sys.lab.exec(netns, process.execPath, [join(import.meta.dirname, 'tools', 'garp.mjs'), 'eth0', ip]);
}

/** Runs `cmd` in a node namespace (iptables and the like). */
function inNode(sys: System, n: LabNode, cmd: string, args: string[]): void {
  sys.lab.exec(n.netns, cmd, args);
}

describe('faults: the VIP stays up, answered by one MAC', { timeout: 900_000 }, () => {
  let sys: System;
  const h = bind(() => sys);
  let vip = '';
  let vip6 = '';

  before(async () => {
    sys = await startSystem(3);
    await createServiceWithEndpoints(sys, NS, 'web', sys.lab.nodes);
    await createServiceWithEndpoints(sys, NS, 'web6', sys.lab.nodes, { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'] });
    [vip = ''] = await waitIngress(sys, NS, 'web');
    [vip6 = ''] = await waitIngress(sys, NS, 'web6');
    await h.sole(vip, h.order(vip)[0]);
  });
  after(async () => {
    await sys?.stop();
  });

  for (const seconds of [1, 3, 8]) {
    it(`a ${seconds} s link flap on the announcing node: answered again by exactly one MAC, no restart`, async () => {
      const before = h.pids();
      const owner = h.node(h.order(vip)[0]);
      const owner6 = h.node(h.order(vip6)[0]);
      sys.lab.setLink(owner, false);
      if (owner6 !== owner) sys.lab.setLink(owner6, false);
      await sleep(seconds * 1000);
      sys.lab.setLink(owner, true);
      sys.lab.setLink(owner6, true);
      // Generous bound for a busy machine; the time itself is measured by `npm run bench -- faults`.
      assert.equal((await h.sole(vip, owner.name, 15_000)).name, owner.name);
      assert.equal((await h.soleNdp(vip6, owner6.name, 15_000)).name, owner6.name);
      await until('HTTP to the VIP', () => httpFromClient(sys.lab, vip) === owner.name, 10_000, 100);
      assert.deepEqual(h.pids(), before, 'no speaker restarted');
      for (const n of sys.lab.nodes) assert.equal(sys.speakers.get(n.name)?.exitCode, null, `${n.name} speaker still running`);
    });
  }

  it('a foreign host sends gratuitous ARP / unsolicited NA for the VIP: the client is back on the speaker, a Warning names the MAC', async () => {
    const owner = h.node(h.order(vip)[0]);
    const intruder = sys.lab.foreignHost();
    // One gratuitous ARP (sender = target = VIP) from the intruder's MAC; it holds no such address.
    garp(sys, intruder.netns, vip);
    await until('client back on the speaker', () => httpFromClient(sys.lab, vip, 0.3) === owner.name, 5_000, 20);
    const events = await until(
      'a conflict Warning',
      async () => {
        const ev = await sys.core.listNamespacedEvent({ namespace: NS, fieldSelector: 'involvedObject.name=web' });
        return ev.items.find((e) => e.type === 'Warning' && e.message?.toLowerCase().includes(intruder.mac));
      },
      15_000,
      200,
    );
    assert.match(events.reason ?? '', /Conflict/i);
    assert.ok((metricValue(speakerMetrics(sys.lab, owner), 'ironlb_speaker_address_conflicts_total', { kind: 'claimed' }) ?? 0) >= 1, 'counted');
    // IPv6: one unsolicited NA with the override flag from the intruder.
    const owner6 = h.node(h.order(vip6)[0]);
    garp(sys, intruder.netns, vip6);
    await until('IPv6 client back on the speaker', () => nodeByMac(sys.lab, ndpResponder(sys.lab, vip6))?.name === owner6.name && httpFromClient(sys.lab, vip6, 0.5) === owner6.name, 10_000, 100);
    await until(
      'an IPv6 conflict Warning',
      async () => {
        const ev = await sys.core.listNamespacedEvent({ namespace: NS, fieldSelector: 'involvedObject.name=web6' });
        return ev.items.find((e) => e.type === 'Warning' && e.message?.toLowerCase().includes(intruder.mac));
      },
      15_000,
      200,
    );
  });

  it('a pool address a foreign host already uses is not announced, and a Warning names its MAC', async () => {
    const intruder = sys.lab.foreignHost();
    const taken = '198.51.100.229';
    sys.lab.exec(intruder.netns, 'ip', ['addr', 'add', `${taken}/32`, 'dev', 'eth0']);
    try {
      await createServiceWithEndpoints(sys, NS, 'taken', sys.lab.nodes, { loadBalancerIP: taken });
      await waitIngress(sys, NS, 'taken');
      const ev = await until(
        'a Warning about the address in use',
        async () => {
          const list = await sys.core.listNamespacedEvent({ namespace: NS, fieldSelector: 'involvedObject.name=taken' });
          return list.items.find((e) => e.type === 'Warning' && e.message?.toLowerCase().includes(intruder.mac));
        },
        20_000,
        200,
      );
      assert.ok(ev);
      await sleep(1000);
      assert.deepEqual(arpResponders(sys.lab, taken, 3), [intruder.mac], 'only the foreign host answers');
    } finally {
      sys.lab.exec(intruder.netns, 'ip', ['addr', 'del', `${taken}/32`, 'dev', 'eth0']);
    }
    // Once the foreign host is gone, the speaker takes the address (it keeps probing).
    const winner = h.order(taken)[0];
    await h.sole(taken, winner, 60_000);
    await sys.core.deleteNamespacedService({ name: 'taken', namespace: NS });
  });

  it('gossip blocked between the announcer and the others for 60 s: two MACs answer for at most ~2 s, none after heal', async () => {
    const owner = h.node(h.order(vip)[0]);
    const probe = await startArpProbe(sys.lab, vip, 100);
    const block = (add: boolean): void => {
      for (const proto of ['udp', 'tcp']) {
        for (const dir of [
          ['INPUT', '--dport'],
          ['OUTPUT', '--dport'],
          ['INPUT', '--sport'],
          ['OUTPUT', '--sport'],
        ] as const) {
          inNode(sys, owner, 'iptables', [add ? '-A' : '-D', dir[0], '-p', proto, dir[1], '7946', '-j', 'DROP']);
        }
      }
    };
    let start = 0;
    let healAt = 0;
    block(true);
    try {
      start = probe.elapsed();
      await sleep(60_000);
    } finally {
      block(false);
      healAt = probe.elapsed();
    }
    // After the heal, the cluster is whole again and one node answers.
    for (const n of sys.lab.nodes) await waitSpeakerMembers(sys.lab, n, 3, 30_000);
    await sleep(3000);
    const r = await probe.stop();
    const lateDuals = r.duals.filter((t) => t > start + 2000);
    assert.deepEqual(
      lateDuals.filter((t) => t < healAt),
      [],
      `two MACs answered after the first 2 s of the partition (${JSON.stringify(r)})`,
    );
    assert.deepEqual(
      lateDuals.filter((t) => t > healAt + 3000),
      [],
      'two MACs answered after the heal',
    );
    assert.ok(r.unanswered <= 10, `the VIP went silent for ${r.unanswered} probes`);
    await h.sole(vip, owner.name);
  });

  it('the gossip key rotated in the Secret: no probe fails and no member is declared dead', async () => {
    const before = new Map(sys.lab.nodes.map((n) => [n.name, metricValue(speakerMetrics(sys.lab, n), 'ironlb_speaker_member_events_total', { type: 'leave' }) ?? 0]));
    const probe = await startHttpProbe(sys.lab, vip, 10);
    await sys.core.replaceNamespacedSecret({
      name: 'memberlist',
      namespace: 'ironlb-system',
      body: { metadata: { name: 'memberlist', namespace: 'ironlb-system' }, type: 'Opaque', stringData: { secretkey: `rotated-${Date.now()}` } },
    });
    // Rotation is done when every speaker holds exactly one key, the new one.
    await until(
      'every speaker on the new key alone',
      () =>
        sys.lab.nodes.every((n) => {
          const m = speakerMetrics(sys.lab, n);
          return (
            metricValue(m, 'ironlb_speaker_gossip_keys') === 1 &&
            metricValue(m, 'ironlb_speaker_gossip_key_rotations_total') !== undefined &&
            (metricValue(m, 'ironlb_speaker_gossip_key_rotations_total') ?? 0) >= 1
          );
        }),
      60_000,
      500,
    );
    await sleep(2000);
    const r = await probe.stop();
    assert.equal(r.failed, 0, `failed probes during rotation: ${JSON.stringify(r.failures)}`);
    for (const n of sys.lab.nodes) {
      const leaves = metricValue(speakerMetrics(sys.lab, n), 'ironlb_speaker_member_events_total', { type: 'leave' }) ?? 0;
      assert.equal(leaves, before.get(n.name), `${n.name} saw a member leave during rotation`);
    }
  });

  it('Secret deleted, then a speaker restarted: it does not announce and says why; the controller re-creates the Secret and it joins', async () => {
    const order = h.order(vip);
    const victim = h.node(order[0]);
    // Without the controller nothing re-creates the Secret: the window is deterministic.
    const ctl = sys.controller;
    const ctlExited = new Promise((r) => ctl.once('exit', r));
    ctl.kill('SIGTERM');
    await ctlExited;
    await sys.core.deleteNamespacedSecret({ name: 'memberlist', namespace: 'ironlb-system' });
    const proc = sys.speakers.get(victim.name);
    const exited = new Promise((r) => proc?.once('exit', r));
    proc?.kill('SIGTERM');
    await exited;
    sys.startSpeaker(victim);
    await until('the restarted speaker says why it waits', () => /waiting for the memberlist Secret/i.test(sys.logs().get(victim.name) ?? ''), 30_000, 200);
    await sleep(2000);
    assert.equal(speakerProbe(sys.lab, victim, '/readyz'), 503, 'not ready without a key');
    assert.deepEqual(arpResponders(sys.lab, vip, 3), [h.node(order[1]).mac], 'the keyless speaker does not announce; the next node does');
    sys.startController();
    const recreated = await until('Secret re-created by the controller', async () => sys.core.readNamespacedSecret({ name: 'memberlist', namespace: 'ironlb-system' }), 30_000, 200);
    assert.ok(recreated.data?.['secretkey']);
    await waitSpeakerMembers(sys.lab, victim, 3, 60_000);
    await until('ready', () => speakerProbe(sys.lab, victim, '/readyz') === 200, 30_000, 200);
    await h.sole(vip, victim.name, 30_000);
    assert.doesNotMatch(sys.logs().get(victim.name) ?? '', /NOT encrypted/, 'it never gossiped in clear text');
  });

  it('a rolling restart of every speaker, one at a time, drops no client probe', async () => {
    const probe = await startHttpProbe(sys.lab, vip, 10);
    for (const n of sys.lab.nodes) {
      const proc = sys.speakers.get(n.name);
      const exited = new Promise((r) => proc?.once('exit', r));
      proc?.kill('SIGTERM');
      await exited;
      sys.startSpeaker(n);
      // The DaemonSet moves on when the new Pod is Ready; ready means it rejoined.
      await until(`${n.name} ready`, () => speakerProbe(sys.lab, n, '/readyz') === 200, 30_000, 100);
      await waitSpeakerMembers(sys.lab, n, 3, 30_000);
    }
    await sleep(1000);
    const r = await probe.stop();
    assert.ok(r.sent > 100, 'the probe ran');
    // The announcing node's restart moves the VIP away and back; a connection open at the instant
    // of a move is reset by the node that has no socket for it (the one loss L2 failover cannot
    // avoid). Nothing may be refused, time out or go unanswered.
    const moves = r.changes.length - 1;
    assert.equal(r.failed - r.resets, 0, `failed probes other than in-flight resets: ${JSON.stringify(r)}`);
    assert.ok(r.resets <= Math.max(1, Math.floor(moves / 2)), `at most one in-flight reset per restart of the announcing speaker: ${JSON.stringify(r)}`);
    await h.sole(vip, h.order(vip)[0]);
  });
});

describe('faults: speakers started before the controller on an empty cluster', { timeout: 300_000 }, () => {
  let sys: System;
  after(async () => {
    await sys?.stop();
  });
  it('they wait for the key, then form one encrypted cluster without a restart', async () => {
    sys = await startSystem(3, { speakersFirst: true });
    const pids = new Map([...sys.speakers].map(([n, p]) => [n, p.pid]));
    for (const n of sys.lab.nodes) await waitSpeakerMembers(sys.lab, n, 3, 60_000);
    for (const n of sys.lab.nodes) {
      const m = speakerMetrics(sys.lab, n);
      assert.equal(metricValue(m, 'ironlb_speaker_gossip_encrypted'), 1, `${n.name} gossips encrypted`);
      assert.equal(metricValue(m, 'ironlb_speaker_gossip_keys'), 1);
    }
    assert.deepEqual(new Map([...sys.speakers].map(([n, p]) => [n, p.pid])), pids, 'no speaker restarted');
    for (const [who, text] of sys.logs()) assert.doesNotMatch(text, /NOT encrypted/, `${who} gossiped in clear text`);
  });
});

describe('faults: a 5 minute API outage', { timeout: 900_000 }, () => {
  let sys: System;
  const h = bind(() => sys);
  before(async () => {
    sys = await startSystem(3);
  });
  after(async () => {
    await sys?.stop();
  });
  it('no probe fails, no process exits, and a Service created after the outage gets its IP and is announced', async () => {
    const outageMs = Number(process.env['IRONLB_E2E_API_OUTAGE_MS'] ?? 300_000);
    await createServiceWithEndpoints(sys, NS, 'web', sys.lab.nodes);
    const [vip = ''] = await waitIngress(sys, NS, 'web');
    await h.sole(vip, h.order(vip)[0]);
    const probe = await startHttpProbe(sys.lab, vip, 10);
    process.kill(sys.lab.controlPlane.apiserverPid(), 'SIGKILL');
    const deadline = Date.now() + outageMs;
    try {
      while (Date.now() < deadline) {
        await sleep(Math.min(10_000, deadline - Date.now()));
        for (const n of sys.lab.nodes) {
          assert.equal(sys.speakers.get(n.name)?.exitCode, null, `${n.name} speaker exited during the outage`);
          assert.equal(speakerProbe(sys.lab, n, '/healthz'), 200, `${n.name} speaker liveness during the outage`);
        }
        assert.equal(sys.controller.exitCode, null, 'controller exited during the outage');
      }
      for (const n of sys.lab.nodes) assert.equal(speakerProbe(sys.lab, n, '/readyz'), 503, `${n.name} reports degraded readiness`);
    } finally {
      await sys.lab.controlPlane.restartApiServer();
    }
    await createServiceWithEndpoints(sys, NS, 'after', sys.lab.nodes);
    const [vip2 = ''] = await waitIngress(sys, NS, 'after');
    await h.sole(vip2, h.order(vip2)[0], 60_000);
    const r = await probe.stop();
    assert.equal(r.failed, 0, `failed probes during the outage: ${JSON.stringify(r.failures)}`);
    const svc = await sys.core.readNamespacedService({ name: 'web', namespace: NS });
    assert.equal(svc.status?.loadBalancer?.ingress?.[0]?.ip, vip, 'the existing IP did not change');
  });
});
