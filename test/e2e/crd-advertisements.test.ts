/**
 * ironlb.io objects end to end in the network lab: real ARP on real interfaces. Only nodes an
 * L2Advertisement selects ever answer, only on the interfaces it lists, and ServiceL2Status names
 * the announcing node through a failover.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { LabNode } from '../lab/lab.js';
import { type ExtraInterface, addInterface, applyIn, l2status, labAdvertisement, labPool, useCrds } from './crd-helpers.js';
import { type System, arpResponders, createServiceWithEndpoints, electionOrder, nodeByMac, startSystem, until, waitIngress, waitSpeakerMembers } from './harness.js';

const NODE_LABEL = 'lab.ironlb.io/node';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

describe('L2Advertisements and ServiceL2Status in a 3-node lab', { timeout: 900_000 }, () => {
  let sys: System;
  const extra: ExtraInterface[] = [];
  const names = (): string[] => sys.lab.nodes.map((n) => n.name);
  const node = (name: string | undefined): LabNode => {
    const n = sys.lab.nodes.find((x) => x.name === name);
    assert.ok(n, `node ${name}`);
    return n;
  };
  /** Everyone who answered ARP for `ip` over `rounds` rounds (a bounded loop). */
  const answerers = (ip: string, rounds: number): Set<string> => {
    const macs = new Set<string>();
    for (let i = 0; i < rounds; i++) for (const m of arpResponders(sys.lab, ip, 2)) macs.add(m);
    return macs;
  };

  before(async () => {
    // The legacy ConfigMap holds no pool: every address comes from an IPAddressPool.
    sys = await startSystem(3, { pools: 'address-pools: []\n' });
    for (const n of sys.lab.nodes) await sys.core.patchNode({ name: n.name, body: { metadata: { labels: { [NODE_LABEL]: n.name } } } }, mergePatch);
    await useCrds(sys, [labPool('lab', ['198.51.100.200-198.51.100.230', '2001:db8::1:c8-2001:db8::1:e6'])]);
    await Promise.all(sys.lab.nodes.map(async (n) => waitSpeakerMembers(sys.lab, n, sys.lab.nodes.length, 60_000)));
  });
  after(async () => {
    for (const e of extra) e.remove();
    await sys?.stop();
  });

  it('the controller allocates from an IPAddressPool in the lab, and warns that no advertisement covers it', async () => {
    await createServiceWithEndpoints(sys, 'adv', 'web', sys.lab.nodes);
    const [vip] = await waitIngress(sys, 'adv', 'web');
    assert.ok(vip?.startsWith('198.51.100.2'), `an IP of the pool, got ${vip}`);
    await until(
      'NotAdvertised event',
      async () => {
        const ev = await sys.core.listNamespacedEvent({ namespace: 'adv', fieldSelector: 'involvedObject.name=web' });
        return ev.items.some((e) => e.reason === 'NotAdvertised' && /no L2Advertisement covers pool "lab"/.test(e.message ?? ''));
      },
      30_000,
    );
  });

  it('lab plumbing: a node gets a second interface on the segment (used by the interfaces test)', () => {
    const n = node(sys.lab.nodes[0]?.name);
    const e = addInterface(sys, n, 'eth9');
    try {
      assert.match(e.mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      assert.notEqual(e.mac, n.mac);
      const link = sys.lab.exec(n.netns, 'ip', ['-o', 'link', 'show', 'eth9']);
      assert.match(link, /state UP|LOWER_UP/, link);
    } finally {
      e.remove();
    }
  });

  it('a node no L2Advertisement selects never answers, even when it ranks first', async () => {
    const [vip] = await waitIngress(sys, 'adv', 'web');
    const order = electionOrder(vip ?? '', names());
    const chosen = node(order[1]);
    await applyIn(sys, [labAdvertisement('only-one', { ipAddressPools: ['lab'], nodeSelectors: [{ matchLabels: { [NODE_LABEL]: chosen.name } }] })]);
    const first = await until(
      `only ${chosen.name} answers`,
      () => {
        const macs = arpResponders(sys.lab, vip ?? '', 2);
        return macs.length === 1 && nodeByMac(sys.lab, macs[0])?.name === chosen.name ? true : undefined;
      },
      30_000,
      200,
    );
    assert.ok(first);
    const seen = answerers(vip ?? '', 5);
    assert.deepEqual(
      [...seen].map((m) => nodeByMac(sys.lab, m)?.name),
      [chosen.name],
      `${order[0]} ranks first but is not selected`,
    );
    await until(`ServiceL2Status names ${chosen.name}`, async () => ((await l2status(sys, 'adv', 'web'))?.node === chosen.name ? true : undefined), 30_000, 200);
    // The selected node goes away: nobody else may take over, and no record keeps naming it.
    sys.lab.setLink(chosen, false);
    try {
      await sleep(5000);
      assert.equal(answerers(vip ?? '', 5).size, 0, 'no unselected node answers');
      await until("the dead node's ServiceL2Status is removed", async () => ((await l2status(sys, 'adv', 'web')) === undefined ? true : undefined), 30_000, 200);
    } finally {
      sys.lab.setLink(chosen, true);
    }
    await until(`ServiceL2Status names ${chosen.name} again`, async () => ((await l2status(sys, 'adv', 'web'))?.node === chosen.name ? true : undefined), 60_000, 200);
  });

  it('a node answers only on the interfaces the advertisement lists', async () => {
    const [vip] = await waitIngress(sys, 'adv', 'web');
    const order = electionOrder(vip ?? '', names());
    const chosen = node(order[1]);
    const eth1 = addInterface(sys, chosen);
    extra.push(eth1);
    await applyIn(sys, [labAdvertisement('only-one', { ipAddressPools: ['lab'], nodeSelectors: [{ matchLabels: { [NODE_LABEL]: chosen.name } }], interfaces: ['eth1'] })]);
    await until('eth1 answers', () => (arpResponders(sys.lab, vip ?? '', 2).includes(eth1.mac) ? true : undefined), 30_000, 200);
    const seen = answerers(vip ?? '', 5);
    assert.ok(seen.has(eth1.mac), 'the listed interface answers');
    assert.ok(!seen.has(chosen.mac), 'eth0 is not listed and never answers');
    assert.equal(seen.size, 1);
  });

  it('ServiceL2Status names the announcer and follows a failover', async () => {
    await applyIn(sys, [labAdvertisement('only-one', { ipAddressPools: ['lab'] })]);
    await createServiceWithEndpoints(sys, 'adv', 'moving', sys.lab.nodes);
    const [vip] = await waitIngress(sys, 'adv', 'moving');
    const order = electionOrder(vip ?? '', names());
    const before = await until(
      'ServiceL2Status of the winner',
      async () => {
        const s = await l2status(sys, 'adv', 'moving');
        return s?.node === order[0] ? s : undefined;
      },
      30_000,
      200,
    );
    const winner = node(order[0]);
    sys.lab.setLink(winner, false);
    try {
      const after = await until(
        'ServiceL2Status moves to the next node',
        async () => {
          const s = await l2status(sys, 'adv', 'moving');
          return s?.node === order[1] ? s : undefined;
        },
        30_000,
        200,
      );
      assert.ok(new Date(after.since).getTime() > new Date(before.since).getTime(), 'since is the takeover time');
    } finally {
      sys.lab.setLink(winner, true);
    }
    await until('back on the winner', async () => ((await l2status(sys, 'adv', 'moving'))?.node === order[0] ? true : undefined), 30_000, 200);
  });
});
