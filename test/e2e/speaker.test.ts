/**
 * ironlb end to end in the lab: real kube-apiserver, the controller, one speaker per node
 * namespace, a client namespace with kernel defaults. Exactly one node answers ARP/NDP for each
 * VIP, the one the election names; traffic fails over on link cut, SIGKILL and SIGTERM.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { LabNode } from '../lab/lab.js';
import { E2E_POOLS, type System, arpResponders, createServiceWithEndpoints, electionOrder, httpFromClient, ndpResponder, nodeByMac, setEndpoints, startSystem, until, waitIngress } from './harness.js';

describe('speakers in a 3-node lab', () => {
  let sys: System;
  const names = (): string[] => sys.lab.nodes.map((n) => n.name);
  const node = (name: string | undefined): LabNode => {
    const n = sys.lab.nodes.find((x) => x.name === name);
    assert.ok(n, `node ${name}`);
    return n;
  };
  /** Waits until exactly one MAC answers ARP for ip and returns that node. */
  const soleResponder = async (ip: string, expect?: string): Promise<LabNode> =>
    until(
      `a single ARP responder for ${ip}${expect ? ` (${expect})` : ''}`,
      () => {
        const macs = arpResponders(sys.lab, ip, 2);
        if (macs.length !== 1) return undefined;
        const n = nodeByMac(sys.lab, macs[0]);
        return n !== undefined && (expect === undefined || n.name === expect) ? n : undefined;
      },
      20_000,
      200,
    );

  before(async () => {
    sys = await startSystem(3);
  });
  after(async () => {
    await sys?.stop();
  });

  it('announces a Service from exactly the elected node, and HTTP to the VIP reaches it', async () => {
    await createServiceWithEndpoints(sys, 'web', 'web', sys.lab.nodes);
    const [vip] = await waitIngress(sys, 'web', 'web');
    assert.ok(vip);
    const winner = electionOrder(vip, names())[0];
    const responder = await soleResponder(vip, winner);
    assert.equal(responder.name, winner);
    assert.equal(httpFromClient(sys.lab, vip), winner);
    const events = await sys.core.listNamespacedEvent({ namespace: 'web', fieldSelector: 'involvedObject.name=web' });
    assert.ok(
      events.items.some((e) => e.reason === 'nodeAssigned' && e.message?.includes(winner ?? '?')),
      'nodeAssigned event names the node',
    );
  });

  // The controller's mass-release guard refuses `address-pools: []`; speakers follow the config
  // in force the controller publishes, not the ConfigMap's text, so no VIP goes silent.
  it('a ConfigMap edit the controller refuses (address-pools: []) leaves the VIP answered', async () => {
    const [vip] = await waitIngress(sys, 'web', 'web');
    assert.ok(vip);
    const winner = electionOrder(vip, names())[0];
    await soleResponder(vip, winner);
    const set = async (config: string): Promise<void> => {
      await sys.core.patchNamespacedConfigMap({ namespace: 'ironlb-system', name: 'config', body: { data: { config } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    };
    await set('address-pools: []\n');
    try {
      await until(
        'the controller refuses the edit',
        async () => {
          const ev = await sys.core.listNamespacedEvent({ namespace: 'ironlb-system', fieldSelector: 'involvedObject.name=config' });
          return ev.items.some((e) => e.type === 'Warning' && /refused/.test(e.message ?? '')) ? true : undefined;
        },
        30_000,
        200,
      );
      await sleep(3000);
      assert.equal((await soleResponder(vip, winner)).name, winner, 'the VIP is still answered by its node');
      assert.equal(httpFromClient(sys.lab, vip), winner);
    } finally {
      await set(E2E_POOLS);
    }
  });

  it('fails over when the winner loses its link; back on the segment it is elected again and answers alone', async () => {
    const [vip] = await waitIngress(sys, 'web', 'web');
    const order = electionOrder(vip ?? '', names());
    const first = node(order[0]);
    sys.lab.setLink(first, false);
    try {
      const answer = await until(
        'HTTP from another node',
        () => {
          const body = httpFromClient(sys.lab, vip ?? '', 0.3);
          return body !== undefined && body !== first.name ? body : undefined;
        },
        15_000,
        10,
      );
      assert.equal(answer, order[1], 'the next node in the election order took over');
    } finally {
      sys.lab.setLink(first, true);
    }
    // Back on the segment, the first node rejoins and wins again; exactly one node answers.
    const back = await soleResponder(vip ?? '', order[0]);
    assert.equal(back.name, order[0]);
    await until('HTTP back on the elected node', () => httpFromClient(sys.lab, vip ?? '') === order[0], 15_000, 100);
  });

  it('an isolated node that claimed the IP goes silent when it comes back and is no longer elected', async () => {
    const [vip] = await waitIngress(sys, 'web', 'web');
    const order = electionOrder(vip ?? '', names());
    const first = node(order[0]);
    sys.lab.setLink(first, false);
    const label = async (value: string | null): Promise<void> => {
      await sys.core.patchNode(
        { name: first.name, body: { metadata: { labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': value } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    };
    try {
      await until('HTTP from the second node', () => httpFromClient(sys.lab, vip ?? '', 0.3) === order[1], 15_000, 10);
      // While it is cut off (and, alone, believes it still owns the IP), the node is excluded.
      await label('true');
    } finally {
      sys.lab.setLink(first, true);
    }
    try {
      // Back on the segment it sees the label and the others: only the second node may answer.
      const sole = await soleResponder(vip ?? '', order[1]);
      assert.equal(sole.name, order[1]);
      await sleep(1500);
      assert.deepEqual(arpResponders(sys.lab, vip ?? '', 3), [node(order[1]).mac], 'the returning node stays silent');
    } finally {
      await label(null);
    }
    await soleResponder(vip ?? '', order[0]);
  });

  it('fails over on speaker SIGKILL and on SIGTERM; a node without a speaker never answers', async () => {
    const [vip] = await waitIngress(sys, 'web', 'web');
    const order = electionOrder(vip ?? '', names());
    const first = node(order[0]);
    sys.speakers.get(first.name)?.kill('SIGKILL');
    await until('HTTP from the second node after SIGKILL', () => httpFromClient(sys.lab, vip ?? '', 0.3) === order[1], 15_000, 10);
    const second = await soleResponder(vip ?? '', order[1]);
    assert.equal(second.name, order[1], 'the killed node no longer answers ARP');
    // Graceful: SIGTERM the second; the third takes over without failure detection.
    const secondProc = sys.speakers.get(order[1] ?? '');
    const exited = new Promise<number | null>((r) => secondProc?.once('exit', (code) => r(code)));
    secondProc?.kill('SIGTERM');
    await until('HTTP from the third node after SIGTERM', () => httpFromClient(sys.lab, vip ?? '', 0.3) === order[2], 15_000, 10);
    assert.equal(await exited, 0, 'speaker exits 0 on SIGTERM');
    // Restart both; the first wins again and is the only one answering.
    sys.startSpeaker(first);
    sys.startSpeaker(node(order[1]));
    await soleResponder(vip ?? '', order[0]);
  });

  it('with externalTrafficPolicy Local, only a node with an endpoint announces, and moving the endpoint moves it', async () => {
    const ordered = (ip: string): string[] => electionOrder(ip, names());
    await createServiceWithEndpoints(sys, 'local', 'loc', [], { externalTrafficPolicy: 'Local' });
    const [vip] = await waitIngress(sys, 'local', 'loc');
    // No endpoints: not announced.
    assert.deepEqual(arpResponders(sys.lab, vip ?? '', 2), [], 'a Service without endpoints is not announced');
    // Endpoint on the node that hashes LAST, so only the policy can make it win.
    const last = node(ordered(vip ?? '')[2]);
    await setEndpoints(sys, 'local', 'loc', [last]);
    assert.equal((await soleResponder(vip ?? '', last.name)).name, last.name);
    const other = node(ordered(vip ?? '')[1]);
    await setEndpoints(sys, 'local', 'loc', [other]);
    assert.equal((await soleResponder(vip ?? '', other.name)).name, other.name);
  });

  it('announces an IPv6 VIP through NDP and fails over', async () => {
    await createServiceWithEndpoints(sys, 'v6', 'six', sys.lab.nodes, { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'] });
    const [vip] = await waitIngress(sys, 'v6', 'six');
    assert.match(vip ?? '', /^2001:db8::1:/);
    const order = electionOrder(vip ?? '', names());
    const mac = await until('NDP answer', () => ndpResponder(sys.lab, vip ?? ''), 20_000, 200);
    assert.equal(nodeByMac(sys.lab, mac)?.name, order[0]);
    assert.equal(httpFromClient(sys.lab, vip ?? ''), order[0]);
    sys.speakers.get(order[0] ?? '')?.kill('SIGTERM');
    await until('IPv6 HTTP from the second node', () => httpFromClient(sys.lab, vip ?? '', 0.3) === order[1], 15_000, 10);
    sys.startSpeaker(node(order[0]));
  });

  it('ran every process under its least-privilege ServiceAccount without a single refusal', () => {
    for (const [who, text] of sys.logs()) {
      assert.ok(text.length > 0, `${who} logged something`);
      assert.doesNotMatch(text, /forbidden|"code":403|HTTP-Code: 403/i, `${who} was refused by RBAC`);
    }
  });
});
