import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Config, EMPTY_CONFIG, LEGACY_ADVERTISEMENT, isConfigError, parseConfig } from './config.js';
import { type BuildInput, advertisementKey, buildConfig, poolKey } from './crd.js';
import { IN_FORCE_FORMAT, IN_FORCE_LIMITS, decodeInForce, encodeInForce, legacyPartOf } from './in-force.js';
import { formatRange } from './ip.js';

function legacy(text: string): Config {
  const c = parseConfig(text);
  if (isConfigError(c)) throw new Error(c.message);
  return c;
}

function decoded(text: string): Config {
  const r = decodeInForce(text);
  if (!r.ok) throw new Error(r.error);
  return r.config;
}

/** What buildConfig and the allocator use of a config: pool and advertisement keys in order. */
const meaning = (c: Config): string => JSON.stringify([c.pools.map((p) => [p.name, poolKey(p)]), (c.l2Advertisements ?? []).map((a) => [a.name, advertisementKey(a)])]);
const summary = (c: Config): string[] => c.pools.map((p) => `${p.name}(${p.source ?? '?'}):${p.addresses.map(formatRange).join(',')}`);

const LEGACY = 'address-pools:\n- name: old\n  protocol: layer2\n  addresses: [198.51.100.0/28, 2001:db8::10-2001:db8::1f]\n  avoid-buggy-ips: true\n';

function richInput(): BuildInput {
  return {
    legacy: legacy(LEGACY),
    pools: [
      {
        name: 'gold',
        labels: { tier: 'gold', 'example.com/zone': 'a' },
        createdMs: 1,
        spec: {
          addresses: ['198.51.100.64/27', '198.51.100.100-198.51.100.110', '2001:db8::1:0/112', '203.0.113.7'],
          autoAssign: false,
          serviceAllocation: {
            priority: 5,
            namespaces: ['team-a', 'team-b'],
            namespaceSelectors: [{ matchLabels: { env: 'prod' } }],
            serviceSelectors: [
              {
                matchExpressions: [
                  { key: 'app', operator: 'In', values: ['web', 'api'] },
                  { key: 'canary', operator: 'DoesNotExist' },
                ],
              },
            ],
          },
        },
      },
      { name: 'plain', createdMs: 2, spec: { addresses: ['198.18.0.0/24'] } },
    ],
    advertisements: [
      { name: 'all', spec: {} },
      {
        name: 'picky',
        spec: {
          ipAddressPools: ['gold'],
          ipAddressPoolSelectors: [{ matchLabels: { tier: 'gold' } }],
          nodeSelectors: [{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['b'] }] }],
          interfaces: ['eth0', 'bond0.100'],
        },
      },
    ],
  };
}

void describe('config in force: encode and decode', { timeout: 10_000 }, () => {
  void it('round-trips a config of both styles (meaning, order, labels, selectors, IPv6) and writes canonical text', () => {
    const built = buildConfig(richInput()).config;
    assert.equal(built.pools.length, 3);
    const text = encodeInForce(built);
    const back = decoded(text);
    assert.equal(meaning(back), meaning(built));
    assert.deepEqual(summary(back), summary(built));
    assert.equal(encodeInForce(back), text, 'encoding is deterministic and stable under a round trip');
    assert.deepEqual(back.pools.find((p) => p.name === 'gold')?.serviceAllocation, built.pools.find((p) => p.name === 'gold')?.serviceAllocation);
    assert.deepEqual(back.pools.find((p) => p.name === 'gold')?.labels, { tier: 'gold', 'example.com/zone': 'a' });
    assert.equal(back.pools.find((p) => p.name === 'old')?.labels, undefined, 'a ConfigMap pool has no labels');
    assert.deepEqual(back.warnings, []);
    assert.equal(back.blank, false);
    // Readable by a person: one pool per line, the format named, canonical range text.
    assert.match(text, /"format": "ironlb\.io\/config-in-force"/);
    assert.match(text, /"addresses":\["198\.51\.100\.64\/27","198\.51\.100\.100-198\.51\.100\.110","2001:db8::1:0\/112","203\.0\.113\.7"\]/);
    assert.equal(text.split('\n').filter((l) => l.startsWith('  {"name"')).length, 3 + 3);
  });

  void it('round-trips the empty config, a ConfigMap-only config and a hand-built one without advertisements', () => {
    for (const c of [EMPTY_CONFIG, legacy(LEGACY), { kind: 'Config', pools: legacy(LEGACY).pools, warnings: ['w'], blank: false } satisfies Config]) {
      const back = decoded(encodeInForce(c));
      assert.equal(meaning(back), meaning(c));
      assert.equal(back.l2Advertisements === undefined, c.l2Advertisements === undefined);
    }
    assert.equal(decoded(encodeInForce(EMPTY_CONFIG)).blank, true);
  });

  void it('seeding `previous` from the document gives the same outcome as the process memory did', () => {
    // b (older) is in force; a (newer) takes other addresses; then b is edited to overlap a.
    const a = { name: 'a', createdMs: 20, spec: { addresses: ['198.51.100.16/28'] } };
    const bOld = { name: 'b', createdMs: 10, spec: { addresses: ['198.51.100.0/28'] } };
    const bNew = { name: 'b', createdMs: 10, spec: { addresses: ['198.51.100.0/27'] } };
    const inForce = buildConfig({ pools: [a, bOld], advertisements: [{ name: 'all', spec: {} }] }).config;
    const running = buildConfig({ pools: [a, bNew], advertisements: [{ name: 'all', spec: {} }], previous: inForce });
    assert.deepEqual(summary(running.config), ['a(crd):198.51.100.16/28', 'b(crd):198.51.100.0/28'], 'a keeps its addresses, b its previous version');
    // A restart without the document: b, older, now wins and a loses its addresses.
    const amnesiac = buildConfig({ pools: [a, bNew], advertisements: [{ name: 'all', spec: {} }] });
    assert.deepEqual(summary(amnesiac.config), ['b(crd):198.51.100.0/27']);
    // With it: the same outcome as before the restart.
    const seeded = buildConfig({ pools: [a, bNew], advertisements: [{ name: 'all', spec: {} }], previous: decoded(encodeInForce(running.config)) });
    assert.equal(meaning(seeded.config), meaning(running.config));
    assert.deepEqual(
      seeded.problems.map((p) => [p.name, p.keptPrevious]),
      running.problems.map((p) => [p.name, p.keptPrevious]),
    );
  });

  void it('an invalid edit of a valid pool keeps its previous version across a restart', () => {
    const good = { name: 'p', createdMs: 1, spec: { addresses: ['198.51.100.0/29'] } };
    const bad = { name: 'p', createdMs: 1, spec: { addresses: ['198.51.100.9-198.51.100.1'] } };
    const inForce = buildConfig({ pools: [good], advertisements: [] }).config;
    assert.deepEqual(summary(buildConfig({ pools: [bad], advertisements: [] }).config), [], 'without the document: the pool is gone');
    const seeded = buildConfig({ pools: [bad], advertisements: [], previous: decoded(encodeInForce(inForce)) });
    assert.deepEqual(summary(seeded.config), ['p(crd):198.51.100.0/29']);
    assert.equal(seeded.problems[0]?.keptPrevious, true);
  });

  void it('legacyPartOf: the ConfigMap pools in force stand in for a ConfigMap that is gone', () => {
    const built = buildConfig(richInput()).config;
    const part = legacyPartOf(decoded(encodeInForce(built)));
    assert.deepEqual(summary(part as Config), ['old(configmap):198.51.100.0/28,2001:db8::10/124']);
    assert.deepEqual(
      part?.l2Advertisements?.map((a) => [a.name, a.ipAddressPools]),
      [[LEGACY_ADVERTISEMENT, ['old']]],
    );
    // Rebuilt with it in place of the ConfigMap: the same config.
    const again = buildConfig({ ...richInput(), legacy: part, previous: built }).config;
    assert.equal(meaning(again), meaning(built));
    assert.equal(legacyPartOf(buildConfig({ ...richInput(), legacy: undefined }).config), undefined);
  });
});

void describe('config in force: hostile documents', { timeout: 10_000 }, () => {
  const good = JSON.parse(encodeInForce(buildConfig(richInput()).config)) as Record<string, unknown>;
  const withPool = (patch: Record<string, unknown>, i = 0): string => {
    const pools = [...(good['pools'] as Record<string, unknown>[])];
    pools[i] = { ...pools[i], ...patch };
    return JSON.stringify({ ...good, pools });
  };
  const withAd = (patch: Record<string, unknown>, i = 1): string => {
    const ads = [...(good['l2Advertisements'] as Record<string, unknown>[])];
    ads[i] = { ...ads[i], ...patch };
    return JSON.stringify({ ...good, l2Advertisements: ads });
  };
  const cases: [string, unknown, RegExp][] = [
    ['not text', 42, /must be text, got/],
    ['undefined (key missing)', undefined, /must be text/],
    ['empty', '', /not JSON/],
    ['not JSON', '{"format": ', /not JSON/],
    ['YAML, not JSON', 'format: ironlb.io/config-in-force\nversion: 1\n', /not JSON/],
    ['an array', '[]', /must be a JSON object, got/],
    ['null', 'null', /must be a JSON object/],
    ['another format', JSON.stringify({ ...good, format: 'something/else' }), /format must be/],
    ['a newer version', JSON.stringify({ ...good, version: 2 }), /format version 2 is not 1/],
    ['version as text', JSON.stringify({ ...good, version: '1' }), /format version/],
    ['an unknown top-level field', JSON.stringify({ ...good, extra: 1 }), /unknown field "extra"/],
    ['__proto__ at the top', `{"__proto__": {"x": 1}, ${JSON.stringify(good).slice(1)}`, /unknown field "__proto__"/],
    ['pools not a list', JSON.stringify({ ...good, pools: {} }), /pools: must be a list/],
    ['a pool that is a string', JSON.stringify({ ...good, pools: ['p'] }), /pools\[0\]: must be a mapping/],
    ['unknown pool field', withPool({ protocol: 'bgp' }), /pools\[0\]: unknown field "protocol"/],
    ['no name', withPool({ name: undefined }), /pools\[0\]\.name: must be a name/],
    ['a name with a newline', withPool({ name: 'a\nb' }), /pools\[0\]\.name/],
    ['a huge name', withPool({ name: 'x'.repeat(300) }), /pools\[0\]\.name/],
    ['a bogus source', withPool({ source: 'legacy' }), /source: must be "crd" or "configmap"/],
    ['addresses empty', withPool({ addresses: [] }), /addresses: must be a non-empty list/],
    ['an address that is junk', withPool({ addresses: ['nope'] }), /addresses\[0\]: "nope" is not a CIDR/],
    ['a reversed range', withPool({ addresses: ['198.51.100.9-198.51.100.1'] }), /reversed/],
    ['host bits set', withPool({ addresses: ['198.51.100.1/24'] }), /host bits/],
    ['non-canonical text', withPool({ addresses: ['198.51.100.0-198.51.100.15'] }), /not in canonical form \(198\.51\.100\.0\/28\)/],
    ['a reserved range', withPool({ addresses: ['127.0.0.1'] }), /127\.0\.0\.1 is in/],
    ['an address as a number', withPool({ addresses: [3325256704] }), /must be a CIDR, range or IP, got/],
    ['autoAssign as text', withPool({ autoAssign: 'yes' }), /autoAssign: must be true or false/],
    ['avoidBuggyIPs missing', withPool({ avoidBuggyIPs: undefined }), /avoidBuggyIPs: must be true or false/],
    ['labels on a ConfigMap pool', withPool({ labels: { a: 'b' } }, 0), /a ConfigMap pool has no labels/],
    ['a bad label', withPool({ labels: { '-bad': 'x' } }, 1), /label key "-bad"/],
    [
      '__proto__ label',
      `{"format":"${IN_FORCE_FORMAT}","version":1,"pools":[{"name":"p","source":"crd","addresses":["198.51.100.0/29"],"autoAssign":true,"avoidBuggyIPs":false,"labels":{"__proto__":"x"}}]}`,
      /label key "__proto__"/,
    ],
    ['a label value that is a number', withPool({ labels: { a: 1 } }, 1), /value must be a string/],
    ['priority below zero', withPool({ serviceAllocation: { priority: -1, namespaces: [], namespaceSelectors: [], serviceSelectors: [] } }, 1), /priority: must be a whole number/],
    ['unknown allocation field', withPool({ serviceAllocation: { priority: 0, namespaces: [], namespaceSelectors: [], serviceSelectors: [], x: 1 } }, 1), /unknown field "x"/],
    [
      'a selector that is null',
      withPool({ serviceAllocation: { priority: 0, namespaces: [], namespaceSelectors: [null], serviceSelectors: [] } }, 1),
      /namespaceSelectors\[0\]: must be a label selector/,
    ],
    [
      'a selector with a bad operator',
      withPool({ serviceAllocation: { priority: 0, namespaces: [], namespaceSelectors: [], serviceSelectors: [{ matchExpressions: [{ key: 'a', operator: 'Like', values: ['x'] }] }] } }, 1),
      /operator/,
    ],
    ['two pools with one name', JSON.stringify({ ...good, pools: [(good['pools'] as unknown[])[0], (good['pools'] as unknown[])[0]] }), /"old" is listed twice/],
    ['overlapping pools', withPool({ addresses: ['198.51.100.0/27'] }, 1), /overlaps 198\.51\.100\.0\/28 of pool "old"/],
    ['an advertisement with a bad interface', withAd({ interfaces: ['eth0/1'] }), /interfaces\[0\]: must be an interface name/],
    ['a CRD advertisement named like the ConfigMap one', withAd({ name: LEGACY_ADVERTISEMENT }), /only the "\(ConfigMap\)" advertisement comes from the ConfigMap/],
    ['advertisements not a list', JSON.stringify({ ...good, l2Advertisements: 'all' }), /l2Advertisements: must be a list/],
    ['deep nesting', `{"format":"${IN_FORCE_FORMAT}","version":1,"pools":${'['.repeat(100_000)}${']'.repeat(100_000)}}`, /./],
  ];
  for (const [name, input, want] of cases) {
    void it(`refuses ${name}`, () => {
      let r;
      assert.doesNotThrow(() => (r = decodeInForce(input)));
      const res = r as unknown as ReturnType<typeof decodeInForce>;
      assert.equal(res.ok, false, `${name}: accepted`);
      if (!res.ok) {
        assert.match(res.error, want);
        assert.ok(res.error.length < 4000, 'the message is bounded');
      }
    });
  }

  void it('bounds the work: text size first, then counts; errors listed are capped', () => {
    const huge = ' '.repeat(IN_FORCE_LIMITS.maxChars + 1);
    const r1 = decodeInForce(huge);
    assert.equal(r1.ok, false);
    assert.match(r1.ok ? '' : r1.error, /characters; the limit is/);
    const many = JSON.stringify({ format: IN_FORCE_FORMAT, version: 1, pools: Array.from({ length: 5 }, (_, i) => ({ name: `p${i}` })) });
    const r2 = decodeInForce(many, { ...IN_FORCE_LIMITS, maxPools: 4 });
    assert.match(r2.ok ? '' : r2.error, /5 pools; the limit is 4/);
    const junk = JSON.stringify({ format: IN_FORCE_FORMAT, version: 1, pools: Array.from({ length: 1000 }, () => 7) });
    const r3 = decodeInForce(junk);
    assert.equal(r3.ok, false);
    assert.ok((r3.ok ? '' : r3.error).split('; ').length <= IN_FORCE_LIMITS.maxErrors);
    const addrs = JSON.stringify({
      format: IN_FORCE_FORMAT,
      version: 1,
      pools: [{ name: 'p', source: 'crd', addresses: ['198.51.100.1', '198.51.100.2', '198.51.100.3'], autoAssign: true, avoidBuggyIPs: false }],
    });
    const r4 = decodeInForce(addrs, { ...IN_FORCE_LIMITS, maxAddresses: 2 });
    assert.match(r4.ok ? '' : r4.error, /more than 2 address entries/);
  });
});
