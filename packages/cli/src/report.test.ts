import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Node, V1Service } from '@kubernetes/client-node';
import { electionHash } from '@ironlb/core';
import { renderExplain, renderStatus } from './render.js';
import { type ClusterView, explain, statusReport } from './report.js';

const node = (name: string, labels: Record<string, string> = {}, ready = true): V1Node => ({
  metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } },
  status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});
const svc = (ns: string, name: string, ips: string[], extra: Partial<V1Service['spec']> = {}, created = 0): V1Service => ({
  metadata: { namespace: ns, name, creationTimestamp: new Date(created) },
  spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }], selector: { app: name }, ...extra },
  status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } },
});

function view(o: Partial<ClusterView>): ClusterView {
  return {
    namespace: 'ironlb-system',
    configMapName: 'config',
    lbClass: undefined,
    configMap: undefined,
    pools: [],
    advertisements: [],
    crds: true,
    services: [],
    nodes: [node('n1', { zone: 'a' }), node('n2', { zone: 'b' }), node('n3', { zone: 'a' }, false)],
    namespaces: [],
    slices: [],
    l2statuses: [],
    speakers: undefined,
    now: Date.parse('2026-01-01T00:10:00Z'),
    notes: [],
    ...o,
  };
}

const pools = [
  { metadata: { name: 'web' }, spec: { addresses: ['198.51.100.0/30', '2001:db8::/126'] } },
  { metadata: { name: 'dark' }, spec: { addresses: ['198.51.100.16/30'] } },
];
const ads = [{ metadata: { name: 'zone-a' }, spec: { ipAddressPools: ['web'], nodeSelectors: [{ matchLabels: { zone: 'a' } }], interfaces: ['eth1'] } }];
const slice = (ns: string, name: string, nodes: string[]): ClusterView['slices'][number] => ({
  addressType: 'IPv4',
  metadata: { namespace: ns, name: `${name}-x`, labels: { 'kubernetes.io/service-name': name } },
  endpoints: nodes.map((n) => ({ addresses: ['10.0.0.1'], nodeName: n, conditions: { ready: true } })),
});

void describe('kubectl ironlb status', { timeout: 10_000 }, () => {
  void it('counts per pool and family from Service status, flags a pool nobody announces, lists announcers', () => {
    const v = view({
      pools,
      advertisements: ads,
      services: [svc('shop', 'front', ['198.51.100.1']), svc('shop', 'pending', []), svc('ops', 'lost', ['198.51.100.17'])],
      l2statuses: [
        {
          metadata: { namespace: 'shop', name: 'front' },
          status: { node: 'n1', serviceName: 'front', serviceNamespace: 'shop', interfaces: [{ name: 'eth1' }], ips: ['198.51.100.1'], since: '2026-01-01T00:07:00Z' },
        },
      ],
    });
    const r = statusReport(v);
    assert.equal(r.config, 'crds');
    assert.deepEqual(
      r.pools.map((p) => [p.name, p.usedV4, p.freeV4, p.usedV6, p.freeV6, p.advertised]),
      [
        ['dark', 1, '3', 0, '0', 'NO: no L2Advertisement'],
        ['web', 1, '3', 0, '4', 'yes'],
      ],
    );
    const front = r.services.find((s) => s.service === 'shop/front');
    assert.deepEqual([front?.node, front?.interfaces, front?.ageSeconds, front?.state], ['n1', ['eth1'], 180, 'announced']);
    assert.equal(r.services.find((s) => s.service === 'shop/pending')?.state, 'pending (no IP)');
    assert.match(r.services.find((s) => s.service === 'ops/lost')?.state ?? '', /not announced: noAdvertisement/);
    const text = renderStatus(r);
    assert.match(text, /POOLS\nNAME\s+SOURCE\s+IPv4 USED/);
    assert.match(text, /shop\/front\s+198\.51\.100\.1\s+web\s+n1\s+eth1\s+3m\s+announced/);
  });

  void it('legacy ConfigMap only', () => {
    const r = statusReport(view({ crds: false, configMap: { data: { config: 'address-pools:\n- {name: p, protocol: layer2, addresses: [198.51.100.0/30]}\n' } } }));
    assert.equal(r.config, 'configmap');
    assert.deepEqual(
      r.pools.map((p) => [p.name, p.source, p.advertised]),
      [['p', 'configmap', 'yes']],
    );
  });
});

void describe('kubectl ironlb explain', { timeout: 10_000 }, () => {
  void it('names the announcer the election picks among selected, live nodes', () => {
    const ip = '198.51.100.2';
    const v = view({ pools, advertisements: ads, services: [svc('shop', 'front', [ip])], slices: [slice('shop', 'front', ['n1', 'n2', 'n3'])] });
    const e = explain(v, 'shop', 'front');
    // n2 is not in zone a, n3 is not Ready: only n1 can announce.
    assert.equal(e.decision?.winner, 'n1');
    assert.deepEqual(Object.fromEntries(e.decision?.nodes.map((n) => [n.name, n.verdict]) ?? []), { n1: 'winner', n2: 'notSelectedByAdvertisement', n3: 'notAlive' });
    assert.deepEqual(e.decision?.interfaces, ['eth1']);
    assert.match(renderExplain(e), /^Service shop\/front: announced by n1/);
    void electionHash;
  });

  void it('says why nobody announces: no advertisement, no endpoints', () => {
    const v = view({ pools, advertisements: ads, services: [svc('ops', 'lost', ['198.51.100.17']), svc('shop', 'idle', ['198.51.100.3'])] });
    assert.match(explain(v, 'ops', 'lost').verdict, /not announced: noAdvertisement/);
    assert.match(explain(v, 'ops', 'lost').reasons.join(), /no L2Advertisement covers pool "dark"/);
    assert.match(explain(v, 'shop', 'idle').verdict, /not announced: noServingEndpoints/);
  });

  void it('says why a Service has no IP, from the same allocator the controller runs', () => {
    const v = view({
      pools: [{ metadata: { name: 'tiny' }, spec: { addresses: ['198.51.100.1'] } }],
      advertisements: [],
      services: [svc('a', 'holder', ['198.51.100.1'], {}, 1), svc('a', 'waiting', [], {}, 2), svc('a', 'wrong', [], { loadBalancerIP: '203.0.113.1' }, 3)],
    });
    assert.match(explain(v, 'a', 'waiting').verdict, /no IP: poolExhausted/);
    assert.match(explain(v, 'a', 'wrong').reasons.join(), /IP 203\.0\.113\.1 is not in any pool/);
    assert.equal(explain(v, 'a', 'nope').verdict, 'no such Service');
    const cls = view({ services: [svc('a', 'other', [], { loadBalancerClass: 'x.io/lb' })] });
    assert.equal(explain(cls, 'a', 'other').verdict, 'handled by another load balancer');
  });
});
