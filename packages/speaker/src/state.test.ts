/** The speaker's decision table: who announces, and why nobody does. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Config, electionHash, isConfigError, parseConfig } from '@ironlb/core';
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import { EXCLUDE_LABEL, type EndpointView, type NodeView, type Snapshot, endpointViews, nodeView, plan, serviceView, slimEndpointSlice, slimNode, slimService, sliceServiceKey } from './state.js';

const nodes: NodeView[] = ['n1', 'n2', 'n3'].map((name) => ({ name, labels: {}, networkUnavailable: false, excluded: false }));
const everywhere: EndpointView[] = nodes.map((n) => ({ nodeName: n.name, ready: true, serving: true }));

function order(ip: string, names: string[]): string[] {
  return [...names].sort((a, b) => Buffer.compare(electionHash(a, ip), electionHash(b, ip)));
}

function config(text: string): Config {
  const c = parseConfig(text);
  if (isConfigError(c)) throw new Error(c.message);
  return c;
}
const POOL = config('address-pools:\n- name: p\n  protocol: layer2\n  addresses: [198.51.100.192/26]\n');
const OTHER_POOL = config('address-pools:\n- name: q\n  protocol: layer2\n  addresses: [203.0.113.0/24]\n');

function snap(over: Partial<Snapshot>): Snapshot {
  return {
    self: 'n1',
    services: [{ key: 'ns/a', ips: ['198.51.100.200'], trafficPolicy: 'Cluster' }],
    endpoints: new Map([['ns/a', everywhere]]),
    nodes,
    alive: new Set(['n1', 'n2', 'n3']),
    config: POOL,
    ...over,
  };
}

describe('plan', () => {
  const ip = '198.51.100.200';
  const ranked = order(ip, ['n1', 'n2', 'n3']);
  it('elects the first node by SHA-256(node#ip), and only that node announces', () => {
    for (const self of ['n1', 'n2', 'n3']) {
      const p = plan(snap({ self }));
      assert.equal(p.decisions[0]?.winner, ranked[0]);
      assert.deepEqual([...p.announce.keys()], self === ranked[0] ? [ip] : []);
    }
  });
  it('skips dead members, NetworkUnavailable and excluded nodes', () => {
    const [first, second, third] = ranked as [string, string, string];
    assert.equal(plan(snap({ alive: new Set([second, third]) })).decisions[0]?.winner, second);
    const nodes2 = nodes.map((n) => (n.name === first ? { ...n, networkUnavailable: true } : n.name === second ? { ...n, excluded: true } : n));
    assert.equal(plan(snap({ nodes: nodes2 })).decisions[0]?.winner, third);
  });
  it('does not announce a service without serving endpoints', () => {
    const p = plan(snap({ endpoints: new Map([['ns/a', [{ nodeName: 'n1', ready: false, serving: false }]]]) }));
    const { detail: _d, ...d } = p.decisions[0] ?? { detail: undefined };
    assert.deepEqual(d, { key: 'ns/a', ips: [ip], winner: null, reason: 'noServingEndpoints' });
    assert.equal(p.announce.size, 0);
  });
  it('with externalTrafficPolicy Local, only a node hosting an endpoint announces', () => {
    const last = ranked[2] as string;
    const p = plan(snap({ self: last, services: [{ key: 'ns/a', ips: [ip], trafficPolicy: 'Local' }], endpoints: new Map([['ns/a', [{ nodeName: last, ready: true, serving: true }]]]) }));
    assert.equal(p.decisions[0]?.winner, last);
    assert.deepEqual([...p.announce.entries()], [[ip, { owners: ['ns/a'], interfaces: null }]]);
  });
  it('Local: a node whose only endpoint is terminating (serving, not ready) hands over to a node with a ready one', () => {
    const [first, , last] = ranked as [string, string, string];
    const eps = [
      { nodeName: first, ready: false, serving: true },
      { nodeName: last, ready: true, serving: true },
    ];
    const p = plan(snap({ self: last, services: [{ key: 'ns/a', ips: [ip], trafficPolicy: 'Local' }], endpoints: new Map([['ns/a', eps]]) }));
    assert.equal(p.decisions[0]?.winner, last, 'the drained node gives the IP up while its Pod still serves');
  });
  it('Local: with no ready endpoint anywhere, a terminating-but-serving one still keeps the IP announced', () => {
    const [first] = ranked as [string];
    const eps = [{ nodeName: first, ready: false, serving: true }];
    const p = plan(snap({ self: first, services: [{ key: 'ns/a', ips: [ip], trafficPolicy: 'Local' }], endpoints: new Map([['ns/a', eps]]) }));
    assert.equal(p.decisions[0]?.winner, first);
    const cluster = plan(snap({ self: first, endpoints: new Map([['ns/a', eps]]) }));
    assert.equal(cluster.decisions[0]?.winner, first, 'Cluster policy: serving endpoints count when none is ready');
  });
  it('puts services sharing an IP on the same node and refuses IPs outside every pool', () => {
    const shared = snap({
      self: ranked[0] as string,
      services: [
        { key: 'ns/a', ips: [ip], trafficPolicy: 'Cluster' },
        { key: 'ns/b', ips: [ip], trafficPolicy: 'Cluster' },
      ],
      endpoints: new Map([
        ['ns/a', everywhere],
        ['ns/b', everywhere],
      ]),
    });
    assert.deepEqual(plan(shared).announce.get(ip)?.owners, ['ns/a', 'ns/b']);
    const outside = plan(snap({ config: OTHER_POOL }));
    assert.equal(outside.decisions[0]?.winner, null);
    assert.match(outside.decisions[0]?.reason ?? '', /^ipNotInPool/);
  });
});

describe('adapters', () => {
  it('reads ready (unset or true) and serving (ready, or serving while terminating)', () => {
    const views = endpointViews({
      addressType: 'IPv4',
      endpoints: [
        { addresses: ['198.51.100.19'], nodeName: 'a', conditions: {} },
        { addresses: ['198.51.100.20'], nodeName: 'b', conditions: { ready: false, serving: true } },
        { addresses: ['198.51.100.21'], nodeName: 'c', conditions: { ready: false, serving: false } },
      ],
    });
    assert.deepEqual(
      views.map((v) => v.serving),
      [true, true, false],
    );
    assert.deepEqual(
      views.map((v) => v.ready),
      [true, false, false],
    );
  });
  it('reads NetworkUnavailable and the exclude label from a Node', () => {
    const v = nodeView({
      metadata: { name: 'x', labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': '' } },
      status: { conditions: [{ type: 'NetworkUnavailable', status: 'True' }] },
    });
    assert.deepEqual(v, { name: 'x', labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': '' }, networkUnavailable: true, excluded: true });
  });
});

describe('slimming transforms keep everything the speaker reads', () => {
  it('a slim Service, EndpointSlice and Node give the same views as the full objects', () => {
    const svc = {
      metadata: { name: 'web', namespace: 'ns', uid: 'u1', resourceVersion: '7', annotations: { a: 'b' }, managedFields: [{ manager: 'x', fieldsV1: { big: true } }] },
      spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ port: 80 }], clusterIP: '198.18.0.1' },
      status: { loadBalancer: { ingress: [{ ip: '198.51.100.200', ipMode: 'VIP' }, { ip: '2001:db8::1:1' }] } },
    } as unknown as V1Service;
    const slim = slimService(svc);
    assert.deepEqual(serviceView(slim, undefined), serviceView(svc, undefined));
    assert.equal(slim.metadata?.uid, 'u1');
    assert.equal(slim.metadata?.resourceVersion, '7');
    assert.equal((slim.metadata as { managedFields?: unknown }).managedFields, undefined);
    const slice = {
      addressType: 'IPv4',
      metadata: { name: 'web-x', namespace: 'ns', resourceVersion: '3', labels: { 'kubernetes.io/service-name': 'web', other: 'y' } },
      endpoints: [
        { addresses: ['198.19.0.5'], nodeName: 'n1', conditions: { ready: true } },
        { addresses: ['198.19.0.6'], nodeName: 'n2', conditions: { ready: false, serving: true, terminating: true } },
      ],
      ports: [{ port: 80 }],
    } as unknown as V1EndpointSlice;
    const slimSlice = slimEndpointSlice(slice);
    assert.deepEqual(endpointViews(slimSlice), endpointViews(slice));
    assert.equal(sliceServiceKey(slimSlice), sliceServiceKey(slice));
    const node = {
      metadata: { name: 'n1', resourceVersion: '9', labels: { zone: 'a', [EXCLUDE_LABEL]: '' } },
      status: {
        addresses: [
          { type: 'InternalIP', address: '198.51.100.35' },
          { type: 'Hostname', address: 'n1' },
        ],
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'NetworkUnavailable', status: 'True' },
        ],
        images: [{ names: ['a'], sizeBytes: 1 }],
      },
    } as unknown as V1Node;
    const slimmed = slimNode(node);
    assert.deepEqual(nodeView(slimmed), nodeView(node));
    assert.deepEqual(slimmed.status?.addresses, node.status?.addresses);
    assert.equal((slimmed.status as { images?: unknown }).images, undefined);
  });
});
