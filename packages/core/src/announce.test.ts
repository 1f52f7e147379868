import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AnnounceInput, type AnnounceNode, decideAnnouncement } from './announce.js';
import { type Config } from './config.js';
import { buildConfig, type AdvertisementObject } from './crd.js';
import { electionHash } from './election.js';

function config(ads: AdvertisementObject[]): Config {
  return buildConfig({
    pools: [
      { name: 'web', spec: { addresses: ['198.51.100.0/28'] } },
      { name: 'db', spec: { addresses: ['198.51.100.16/28'] } },
    ],
    advertisements: ads,
  }).config;
}

const node = (name: string, o: Partial<AnnounceNode> = {}): AnnounceNode => ({
  name,
  labels: { 'kubernetes.io/hostname': name, ...(o.labels ?? {}) },
  alive: true,
  networkUnavailable: false,
  excludedByLabel: false,
  ...o,
});
const order = (ip: string, names: string[]): string[] => [...names].sort((a, b) => Buffer.compare(electionHash(a, ip), electionHash(b, ip)));

void describe('decideAnnouncement', { timeout: 10_000 }, () => {
  const ip = '198.51.100.3';
  const all = ['n1', 'n2', 'n3'];
  const base = (o: Partial<AnnounceInput>): AnnounceInput => ({
    ips: [ip],
    trafficPolicy: 'Cluster',
    endpoints: all.map((n) => ({ nodeName: n, serving: true })),
    nodes: all.map((n) => node(n)),
    config: config([{ name: 'every', spec: {} }]),
    ...o,
  });

  void it('elects the lowest hash among the selected live nodes and reports the winner interfaces', () => {
    const d = decideAnnouncement(base({ config: config([{ name: 'a', spec: { ipAddressPools: ['web'], interfaces: ['eth1'] } }]) }));
    assert.equal(d.winner, order(ip, all)[0]);
    assert.deepEqual(d.ranking, order(ip, all));
    assert.deepEqual(d.interfaces, ['eth1']);
    assert.equal(d.pool, 'web');
    assert.equal(d.nodes.filter((n) => n.verdict === 'winner').length, 1);
  });

  void it('only nodes an advertisement selects take part (a node not selected never announces)', () => {
    const first = order(ip, all)[0] ?? '';
    const others = all.filter((n) => n !== first);
    const c = config([{ name: 'a', spec: { nodeSelectors: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: others }] }] } }]);
    const d = decideAnnouncement(base({ config: c }));
    assert.equal(d.winner, order(ip, others)[0]);
    assert.equal(d.nodes.find((n) => n.name === first)?.verdict, 'notSelectedByAdvertisement');
  });

  const reasons: { name: string; input: Partial<AnnounceInput>; reason: string; message: RegExp }[] = [
    { name: 'no IP yet', input: { ips: [] }, reason: 'noServiceIPs', message: /no load-balancer IP/ },
    { name: 'IP outside every pool', input: { ips: ['203.0.113.9'] }, reason: 'ipNotInPool', message: /203\.0\.113\.9 is in no address pool/ },
    { name: 'IPs in two pools', input: { ips: [ip, '198.51.100.17'] }, reason: 'poolsDiffer', message: /different pools/ },
    {
      name: 'no advertisement for the pool (metallb#1154)',
      input: { config: config([{ name: 'a', spec: { ipAddressPools: ['db'] } }]) },
      reason: 'noAdvertisement',
      message: /no L2Advertisement covers pool "web"/,
    },
    {
      name: 'advertisements select no node',
      input: { config: config([{ name: 'a', spec: { nodeSelectors: [{ matchLabels: { zone: 'mars' } }] } }]) },
      reason: 'noSelectedNodes',
      message: /select none of the nodes/,
    },
    { name: 'no serving endpoint', input: { endpoints: [{ nodeName: 'n1', serving: false }] }, reason: 'noServingEndpoints', message: /no endpoint/ },
    { name: 'every selected node dead', input: { nodes: all.map((n) => node(n, { alive: false })) }, reason: 'noCandidates', message: /no node is eligible/ },
    {
      name: 'Local policy, endpoints only on an unselected node',
      input: {
        trafficPolicy: 'Local',
        endpoints: [{ nodeName: 'n1', serving: true }],
        config: config([{ name: 'a', spec: { nodeSelectors: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'NotIn', values: ['n1'] }] }] } }]),
      },
      reason: 'noLocalEndpointCandidates',
      message: /Local/,
    },
  ];
  for (const c of reasons) {
    void it(`nobody announces: ${c.name}`, () => {
      const d = decideAnnouncement(base(c.input));
      assert.equal(d.winner, null);
      assert.equal(d.reason, c.reason);
      assert.match(d.message, c.message);
    });
  }

  void it('prefers ready endpoints, falls back to terminating-but-serving ones (as the speaker plan does)', () => {
    const [first, second] = order(ip, ['n1', 'n2']);
    const local = { trafficPolicy: 'Local' as const, nodes: [node('n1'), node('n2')] };
    const drained = decideAnnouncement(
      base({
        ...local,
        endpoints: [
          { nodeName: first, ready: false, serving: true },
          { nodeName: second, ready: true, serving: true },
        ],
      }),
    );
    assert.equal(drained.winner, second, 'the node with a ready endpoint, though the other ranks first');
    const onlyTerminating = decideAnnouncement(base({ ...local, endpoints: [{ nodeName: first, ready: false, serving: true }] }));
    assert.equal(onlyTerminating.winner, first, 'no ready endpoint anywhere: serving ones still count');
  });

  void it('per-node verdicts say why each node is out', () => {
    const nodes = [node('n1', { networkUnavailable: true }), node('n2', { excludedByLabel: true }), node('n3', { alive: false }), node('n4'), node('n5')];
    const d = decideAnnouncement(base({ nodes, trafficPolicy: 'Local', endpoints: [{ nodeName: 'n4', serving: true }] }));
    assert.equal(d.winner, 'n4');
    assert.deepEqual(Object.fromEntries(d.nodes.map((n) => [n.name, n.verdict])), {
      n1: 'networkUnavailable',
      n2: 'excludedByLabel',
      n3: 'notAlive',
      n4: 'winner',
      n5: 'noLocalEndpoint',
    });
  });
});
