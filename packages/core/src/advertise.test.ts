import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { advertisementFor, nodesSelectedBy, poolForIP, unannouncedPools, type AdvertisementVerdict } from './advertise.js';
import { type Config, isConfigError, parseConfig } from './config.js';
import { buildConfig, type AdvertisementObject, type PoolObject } from './crd.js';

const nodes = {
  n1: { name: 'n1', labels: { 'kubernetes.io/hostname': 'n1', zone: 'a', edge: 'true' } },
  n2: { name: 'n2', labels: { 'kubernetes.io/hostname': 'n2', zone: 'b' } },
  n3: { name: 'n3', labels: { 'kubernetes.io/hostname': 'n3', zone: 'b', edge: 'true' } },
};

function crds(pools: PoolObject[], advertisements: AdvertisementObject[]): Config {
  const r = buildConfig({ pools, advertisements });
  assert.deepEqual(r.problems, []);
  return r.config;
}

const short = (v: AdvertisementVerdict): string => (v.announce ? `yes ${v.interfaces === null ? '*' : v.interfaces.join('+')}` : `no ${v.reason}`);

void describe('advertisementFor (MetalLB L2Advertisement semantics)', { timeout: 10_000 }, () => {
  const pools: PoolObject[] = [
    { name: 'web', labels: { tier: 'front' }, spec: { addresses: ['198.51.100.0/28'] } },
    { name: 'db', labels: { tier: 'back' }, spec: { addresses: ['198.51.100.16/28', '2001:db8::/120'] } },
    { name: 'lonely', spec: { addresses: ['198.51.100.32/28'] } },
  ];
  const cases: { name: string; ads: AdvertisementObject[]; pool: string; want: Record<keyof typeof nodes, string> }[] = [
    { name: 'no advertisement at all: never announced', ads: [], pool: 'web', want: { n1: 'no noAdvertisement', n2: 'no noAdvertisement', n3: 'no noAdvertisement' } },
    { name: 'an empty advertisement covers every pool, every node, every interface', ads: [{ name: 'all', spec: {} }], pool: 'lonely', want: { n1: 'yes *', n2: 'yes *', n3: 'yes *' } },
    {
      name: 'by pool name; other pools uncovered',
      ads: [{ name: 'a', spec: { ipAddressPools: ['web'] } }],
      pool: 'db',
      want: { n1: 'no noAdvertisement', n2: 'no noAdvertisement', n3: 'no noAdvertisement' },
    },
    { name: 'by pool selector', ads: [{ name: 'a', spec: { ipAddressPoolSelectors: [{ matchLabels: { tier: 'back' } }] } }], pool: 'db', want: { n1: 'yes *', n2: 'yes *', n3: 'yes *' } },
    {
      name: 'nodeSelectors restrict the nodes (any selector)',
      ads: [{ name: 'a', spec: { ipAddressPools: ['web'], nodeSelectors: [{ matchLabels: { zone: 'a' } }, { matchLabels: { 'kubernetes.io/hostname': 'n3' } }] } }],
      pool: 'web',
      want: { n1: 'yes *', n2: 'no nodeNotSelected', n3: 'yes *' },
    },
    {
      name: 'interfaces: the union over the advertisements selecting the node',
      ads: [
        { name: 'a', spec: { ipAddressPools: ['web'], interfaces: ['eth1'] } },
        { name: 'b', spec: { ipAddressPools: ['web'], interfaces: ['eth0', 'eth1'], nodeSelectors: [{ matchLabels: { edge: 'true' } }] } },
      ],
      pool: 'web',
      want: { n1: 'yes eth0+eth1', n2: 'yes eth1', n3: 'yes eth0+eth1' },
    },
    {
      name: 'one advertisement without interfaces means all, whatever the others list',
      ads: [
        { name: 'a', spec: { ipAddressPools: ['web'], interfaces: ['eth1'] } },
        { name: 'b', spec: { nodeSelectors: [{ matchLabels: { zone: 'b' } }] } },
      ],
      pool: 'web',
      want: { n1: 'yes eth1', n2: 'yes *', n3: 'yes *' },
    },
    {
      name: 'name and selector of one advertisement combine (either is enough)',
      ads: [{ name: 'a', spec: { ipAddressPools: ['web'], ipAddressPoolSelectors: [{ matchLabels: { tier: 'back' } }], interfaces: ['eth2'] } }],
      pool: 'db',
      want: { n1: 'yes eth2', n2: 'yes eth2', n3: 'yes eth2' },
    },
  ];
  for (const c of cases) {
    void it(c.name, () => {
      const config = crds(pools, c.ads);
      const got = Object.fromEntries(Object.entries(nodes).map(([k, n]) => [k, short(advertisementFor(config, c.pool, n))]));
      assert.deepEqual(got, c.want);
    });
  }

  void it('an unknown pool is refused; a hand-made Config without advertisements announces everywhere', () => {
    const config = crds(pools, []);
    assert.equal(short(advertisementFor(config, 'nope', nodes.n1)), 'no unknownPool');
    const handMade: Config = { kind: 'Config', pools: config.pools, warnings: [], blank: false };
    assert.equal(short(advertisementFor(handMade, 'web', nodes.n1)), 'yes *');
  });

  void it('the legacy ConfigMap implies every node and interface for its pools', () => {
    const c = parseConfig('address-pools:\n- {name: p, protocol: layer2, addresses: [198.51.100.0/28]}\n');
    if (isConfigError(c)) throw new Error(c.message);
    assert.equal(short(advertisementFor(c, 'p', nodes.n2)), 'yes *');
  });

  void it('lists the nodes an advertisement selects and the pools nobody can announce', () => {
    const config = crds(pools, [
      { name: 'a', spec: { ipAddressPools: ['web'], nodeSelectors: [{ matchLabels: { edge: 'true' } }] } },
      { name: 'b', spec: { ipAddressPools: ['db'], nodeSelectors: [{ matchLabels: { zone: 'z' } }] } },
    ]);
    const ad = config.l2Advertisements?.find((a) => a.name === 'a');
    assert.ok(ad);
    assert.deepEqual(nodesSelectedBy(ad, Object.values(nodes)), ['n1', 'n3']);
    assert.deepEqual([...unannouncedPools(config, Object.values(nodes))].sort(), [
      ['db', 'noSelectedNodes'],
      ['lonely', 'noAdvertisement'],
    ]);
  });
});

void describe('poolForIP', { timeout: 10_000 }, () => {
  void it('finds the pool of an IP by binary search, canonicalising the text', () => {
    const config = crds(
      [
        { name: 'a', spec: { addresses: ['198.51.100.0/28', '203.0.113.7'] } },
        { name: 'b', spec: { addresses: ['198.51.100.16-198.51.100.20', '2001:db8::/64'] } },
      ],
      [],
    );
    assert.equal(poolForIP(config, '198.51.100.15'), 'a');
    assert.equal(poolForIP(config, '198.51.100.16'), 'b');
    assert.equal(poolForIP(config, '198.51.100.21'), undefined);
    assert.equal(poolForIP(config, '203.0.113.7'), 'a');
    assert.equal(poolForIP(config, '2001:DB8::ffff'), 'b');
    assert.equal(poolForIP(config, 'not an ip'), undefined);
    assert.equal(poolForIP(config, '198.51.100.0/28'), undefined);
  });
});
