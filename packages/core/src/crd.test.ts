import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Config, isConfigError, parseConfig, LEGACY_ADVERTISEMENT } from './config.js';
import { buildConfig, parseAdvertisementObject, parsePoolObject, type BuildInput } from './crd.js';
import { formatRange } from './ip.js';

function legacy(text: string): Config {
  const c = parseConfig(text);
  if (isConfigError(c)) throw new Error(c.message);
  return c;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

const summary = (c: Config): string[] => c.pools.map((p) => `${p.name}(${p.source ?? '?'}):${p.addresses.map(formatRange).join(',')}`);

function errorsOf(r: { ok: true } | { ok: false; errors: readonly string[] }): string[] {
  assert.equal(r.ok, false, 'expected a refusal');
  return r.ok ? [] : [...r.errors];
}

void describe('IPAddressPool objects', { timeout: 10_000 }, () => {
  void it('applies MetalLB defaults: autoAssign true, avoidBuggyIPs false, no serviceAllocation', () => {
    const r = parsePoolObject({ name: 'p', labels: { tier: 'gold' }, spec: { addresses: ['198.51.100.0/28', '198.51.100.100-198.51.100.110', '2001:db8::5'] } });
    assert.ok(r.ok);
    assert.deepEqual(r.value.addresses.map(formatRange), ['198.51.100.0/28', '198.51.100.100-198.51.100.110', '2001:db8::5']);
    assert.equal(r.value.autoAssign, true);
    assert.equal(r.value.avoidBuggyIPs, false);
    assert.equal(r.value.serviceAllocation, undefined);
    assert.deepEqual(r.value.labels, { tier: 'gold' });
    assert.equal(r.value.source, 'crd');
  });

  void it('reads every field', () => {
    const r = parsePoolObject({
      name: 'p',
      spec: {
        addresses: ['198.51.100.0/24'],
        autoAssign: false,
        avoidBuggyIPs: true,
        serviceAllocation: {
          priority: 5,
          namespaces: ['web', 'db'],
          namespaceSelectors: [{ matchLabels: { team: 'a' } }],
          serviceSelectors: [{ matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold'] }] }],
        },
      },
    });
    assert.ok(r.ok);
    assert.equal(r.value.autoAssign, false);
    assert.equal(r.value.avoidBuggyIPs, true);
    assert.deepEqual(r.value.serviceAllocation?.namespaces, ['web', 'db']);
    assert.equal(r.value.serviceAllocation?.priority, 5);
    assert.equal(r.value.serviceAllocation?.namespaceSelectors.length, 1);
    assert.equal(r.value.serviceAllocation?.serviceSelectors[0]?.matchExpressions[0]?.operator, 'In');
  });

  void it('a serviceAllocation that selects nobody is kept, with a warning that it is never auto-assigned (MetalLB)', () => {
    for (const sa of [{}, { priority: 4 }, { namespaces: [], serviceSelectors: [] }]) {
      const r = parsePoolObject({ name: 'p', spec: { addresses: ['198.51.100.0/24'], serviceAllocation: sa } });
      assert.ok(r.ok);
      assert.deepEqual(r.value.serviceAllocation, { priority: (sa as { priority?: number }).priority ?? 0, namespaces: [], namespaceSelectors: [], serviceSelectors: [] });
      assert.equal(r.warnings.length, 1);
      assert.match(r.warnings[0] ?? '', /^IPAddressPool "p": spec\.serviceAllocation selects no namespace and no Service, so \(as in MetalLB\) the pool is never auto-assigned/);
    }
    const pinned = parsePoolObject({ name: 'p', spec: { addresses: ['198.51.100.0/24'], serviceAllocation: { namespaces: ['a'] } } });
    assert.deepEqual(pinned.ok && pinned.warnings, []);
  });

  void it('a CIDR with host bits set is masked with a warning naming the range used (MetalLB)', () => {
    const cases: [string, bigint, bigint, RegExp | null][] = [
      [
        '198.51.100.7/24',
        0xc6336400n,
        0xc63364ffn,
        /^IPAddressPool "p": spec\.addresses\[0\]: "198\.51\.100\.7\/24" has host bits set; using 198\.51\.100\.0\/24 \(198\.51\.100\.0-198\.51\.100\.255\)/,
      ],
      ['198.51.100.0/24', 0xc6336400n, 0xc63364ffn, null],
      ['2001:db8::1/127', 0x20010db8000000000000000000000000n, 0x20010db8000000000000000000000001n, /using 2001:db8::\/127/],
    ];
    for (const [text, first, last, warning] of cases) {
      const r = parsePoolObject({ name: 'p', spec: { addresses: [text] } });
      assert.ok(r.ok, text);
      assert.deepEqual([r.value.addresses[0]?.first, r.value.addresses[0]?.last], [first, last], text);
      if (warning === null) assert.deepEqual(r.warnings, [], text);
      else assert.match(r.warnings.join(' | '), warning, text);
    }
  });

  void it('refuses mistakes with the field and the value named', () => {
    const e = (spec: unknown): string => errorsOf(parsePoolObject({ name: 'p', spec })).join(' | ');
    assert.match(e({}), /^IPAddressPool "p": spec\.addresses: required/);
    assert.match(e({ addresses: [] }), /spec\.addresses: is empty/);
    assert.match(e({ addresses: ['10.0.0.9-10.0.0.1'] }), /spec\.addresses\[0\]: range 10\.0\.0\.9-10\.0\.0\.1 is reversed/);
    assert.match(e({ addresses: ['10.0.0.1/33'] }), /spec\.addresses\[0\]: CIDR 10\.0\.0\.1\/33: prefix length must be 0-32/);
    assert.match(e({ addresses: ['127.0.0.1'] }), /spec\.addresses\[0\]: 127\.0\.0\.1 is in 127\.0\.0\.0\/8 \(IPv4 loopback\)/);
    assert.match(e({ addresses: ['::ffff:198.51.100.1'] }), /IPv4-mapped/);
    assert.match(e({ addresses: ['10.0.0.0/24', '10.0.0.128/25'] }), /spec\.addresses: IPv4 range 10\.0\.0\.128\/25 overlaps 10\.0\.0\.0\/24 in the same pool/);
    assert.match(e({ addresses: [42] }), /spec\.addresses\[0\]: must be a string .* got number 42/);
    assert.match(e({ addresses: ['10.0.0.0/24'], autoAssign: 'yes' }), /spec\.autoAssign: must be true or false, got string "yes"/);
    assert.match(e({ addresses: ['10.0.0.0/24'], protocol: 'layer2' }), /spec: unknown field "protocol"/);
    assert.match(e({ addresses: ['10.0.0.0/24'], serviceAllocation: { priority: -1 } }), /spec\.serviceAllocation\.priority: number -1 must be a whole number/);
    assert.match(e({ addresses: ['10.0.0.0/24'], serviceAllocation: { namespaces: ['Web'] } }), /spec\.serviceAllocation\.namespaces\[0\]: "Web" is not a namespace name/);
    assert.match(e({ addresses: ['10.0.0.0/24'], serviceAllocation: { namespaces: ['a', 'a'] } }), /"a" is listed twice/);
    assert.match(
      e({ addresses: ['10.0.0.0/24'], serviceAllocation: { serviceSelectors: [{ matchExpressions: [{ key: 'a', operator: 'In' }] }] } }),
      /spec\.serviceAllocation\.serviceSelectors\[0\]\.matchExpressions\[0\]\.values: operator In needs at least one value/,
    );
    assert.match(errorsOf(parsePoolObject({ name: 'p', spec: 'x' })).join(), /spec must be a mapping/);
  });

  void it('warns when avoidBuggyIPs leaves nothing to hand out', () => {
    const r = parsePoolObject({ name: 'p', spec: { addresses: ['198.51.100.255-198.51.101.0'], avoidBuggyIPs: true } });
    assert.ok(r.ok);
    assert.match(r.warnings[0] ?? '', /avoidBuggyIPs leaves no usable address/);
  });
});

void describe('L2Advertisement objects', { timeout: 10_000 }, () => {
  void it('reads every field; an empty spec is valid (every pool, every node, every interface)', () => {
    const r = parseAdvertisementObject({
      name: 'a',
      spec: { ipAddressPools: ['p1'], ipAddressPoolSelectors: [{ matchLabels: { t: 'x' } }], nodeSelectors: [{ matchLabels: { 'kubernetes.io/hostname': 'n1' } }], interfaces: ['eth0', 'bond0.100'] },
    });
    assert.ok(r.ok);
    assert.deepEqual(r.value.ipAddressPools, ['p1']);
    assert.deepEqual(r.value.interfaces, ['eth0', 'bond0.100']);
    const empty = parseAdvertisementObject({ name: 'b', spec: undefined });
    assert.ok(empty.ok);
    assert.deepEqual([empty.value.ipAddressPools, empty.value.nodeSelectors, empty.value.interfaces], [[], [], []]);
  });

  void it('refuses mistakes with the field named, and MetalLB fields ironlb lacks with a reason', () => {
    const e = (spec: unknown): string => errorsOf(parseAdvertisementObject({ name: 'a', spec })).join(' | ');
    assert.match(e({ interfaces: ['eth 0'] }), /^L2Advertisement "a": spec\.interfaces\[0\]: "eth 0" is not an interface name/);
    assert.match(e({ interfaces: ['averyveryverylongname'] }), /is not an interface name/);
    assert.match(e({ interfaces: ['eth0', 'eth0'] }), /"eth0" is listed twice/);
    assert.match(e({ ipAddressPools: ['Bad_Name'] }), /spec\.ipAddressPools\[0\]: "Bad_Name" is not an IPAddressPool name/);
    assert.match(e({ nodeSelectors: [{ matchLabels: { a: 'b' } }, { matchLabels: { a: 'b' } }] }), /spec\.nodeSelectors\[1\]: duplicate selector/);
    assert.match(e({ serviceSelectors: [{}] }), /spec\.serviceSelectors: serviceSelectors is not supported/);
    assert.match(e({ peers: ['x'] }), /spec: unknown field "peers"/);
  });
});

void describe('buildConfig: both styles merged', { timeout: 10_000 }, () => {
  const cm = legacy(`
address-pools:
- name: old
  protocol: layer2
  addresses: [198.51.100.0/28]
- name: shared
  protocol: layer2
  addresses: [198.51.100.16/28]
`);
  const pool = (name: string, addresses: string[], extra: Record<string, unknown> = {}, createdMs?: number): BuildInput['pools'][number] => ({
    name,
    spec: { addresses, ...extra },
    ...(createdMs !== undefined ? { createdMs } : {}),
  });

  void it('the ConfigMap alone: its pools, announced everywhere by the implied advertisement', () => {
    const r = buildConfig({ legacy: cm, pools: [], advertisements: [] });
    assert.deepEqual(summary(r.config), ['old(configmap):198.51.100.0/28', 'shared(configmap):198.51.100.16/28']);
    assert.deepEqual(
      r.config.l2Advertisements?.map((a) => [a.name, a.ipAddressPools]),
      [[LEGACY_ADVERTISEMENT, ['old', 'shared']]],
    );
    assert.deepEqual(r.problems, []);
  });

  void it('objects alone: pools by name, and a warning for a pool no advertisement covers', () => {
    const r = buildConfig({ pools: [pool('b', ['198.51.100.64/28']), pool('a', ['198.51.100.80/28'])], advertisements: [{ name: 'adv', spec: { ipAddressPools: ['a'] } }] });
    assert.deepEqual(summary(r.config), ['a(crd):198.51.100.80/28', 'b(crd):198.51.100.64/28']);
    assert.deepEqual(
      r.objectWarnings.map((w) => `${w.kind}/${w.name}: ${w.message}`),
      ['IPAddressPool/b: pool "b": no L2Advertisement covers it, so its IPs are allocated but never announced (create an L2Advertisement listing it)'],
    );
  });

  void it('a name in both: the object wins, silently when the addresses agree, with a warning when not', () => {
    const same = buildConfig({ legacy: cm, pools: [pool('shared', ['198.51.100.16/28'])], advertisements: [] });
    assert.deepEqual(summary(same.config), ['old(configmap):198.51.100.0/28', 'shared(crd):198.51.100.16/28']);
    assert.equal(same.objectWarnings.length, 0, 'migration in progress: the implied advertisement still covers "shared"');
    const differ = buildConfig({ legacy: cm, pools: [pool('shared', ['198.51.100.32/28'])], advertisements: [] });
    assert.deepEqual(summary(differ.config), ['old(configmap):198.51.100.0/28', 'shared(crd):198.51.100.32/28']);
    assert.match(differ.objectWarnings.map((w) => w.message).join(), /defined both in the ConfigMap and as an IPAddressPool, differently/);
  });

  void it('overlaps: what is in force keeps its addresses, the newcomer is refused (older new object first)', () => {
    const first = buildConfig({ legacy: cm, pools: [pool('z', ['198.51.100.0/27'], {}, 1)], advertisements: [] });
    assert.deepEqual(summary(first.config), ['old(configmap):198.51.100.0/28', 'shared(configmap):198.51.100.16/28']);
    assert.deepEqual(
      first.problems.map((p) => [p.kind, p.name, p.keptPrevious]),
      [['IPAddressPool', 'z', false]],
    );
    assert.match(first.problems[0]?.errors[0] ?? '', /IPAddressPool "z": IPv4 range 198\.51\.100\.0\/27 overlaps 198\.51\.100\.0\/28 in pool "old"/);

    const two = buildConfig({ pools: [pool('young', ['198.51.100.64/28'], {}, 20), pool('aged', ['198.51.100.64/29'], {}, 10)], advertisements: [] });
    assert.deepEqual(summary(two.config), ['aged(crd):198.51.100.64/29']);
    assert.equal(two.problems[0]?.name, 'young');
  });

  void it('an invalid or contested change keeps the version in force; nothing is taken away', () => {
    const before = deepFreeze(buildConfig({ pools: [pool('a', ['198.51.100.64/28']), pool('b', ['198.51.100.80/28'])], advertisements: [] }).config);
    const broken = buildConfig({ pools: [pool('a', ['198.51.100.70-198.51.100.64']), pool('b', ['198.51.100.80/28'])], advertisements: [], previous: before });
    assert.deepEqual(summary(broken.config), ['a(crd):198.51.100.64/28', 'b(crd):198.51.100.80/28']);
    assert.deepEqual(
      broken.problems.map((p) => [p.name, p.keptPrevious]),
      [['a', true]],
    );
    assert.match(broken.problems[0]?.errors[0] ?? '', /spec\.addresses\[0\]: range 198\.51\.100\.70-198\.51\.100\.64 is reversed/);
    // b grows into a's addresses: a (unchanged, in force) keeps them, b keeps its old version.
    const grab = buildConfig({ pools: [pool('a', ['198.51.100.64/28']), pool('b', ['198.51.100.64/27'], {}, 0)], advertisements: [], previous: before });
    assert.deepEqual(summary(grab.config), ['a(crd):198.51.100.64/28', 'b(crd):198.51.100.80/28']);
    assert.deepEqual(
      grab.problems.map((p) => [p.name, p.keptPrevious]),
      [['b', true]],
    );
    // Then a (in force, unchanged addresses) gets a label, and b is older: a still keeps its
    // addresses (a metadata edit never costs a pool its precedence), b still its old version.
    const labelled = buildConfig({
      pools: [{ ...pool('a', ['198.51.100.64/28'], {}, 50), labels: { team: 'web' } }, pool('b', ['198.51.100.64/27'], {}, 0)],
      advertisements: [],
      previous: grab.config,
    });
    assert.deepEqual(summary(labelled.config), ['a(crd):198.51.100.64/28', 'b(crd):198.51.100.80/28']);
  });

  void it('advertisements: a broken one keeps its version in force; one naming a missing pool warns', () => {
    const before = buildConfig({ pools: [pool('a', ['198.51.100.64/28'])], advertisements: [{ name: 'adv', spec: { interfaces: ['eth0'] } }] }).config;
    const r = buildConfig({
      pools: [pool('a', ['198.51.100.64/28'])],
      advertisements: [
        { name: 'adv', spec: { interfaces: ['not valid'] } },
        { name: 'later', spec: { ipAddressPools: ['nope'] } },
      ],
      previous: before,
    });
    assert.deepEqual(
      r.config.l2Advertisements?.map((a) => [a.name, a.interfaces]),
      [
        ['adv', ['eth0']],
        ['later', []],
      ],
    );
    assert.deepEqual(
      r.problems.map((p) => [p.kind, p.name, p.keptPrevious]),
      [['L2Advertisement', 'adv', true]],
    );
    assert.match(r.objectWarnings.map((w) => w.message).join(), /no pool named "nope" exists/);
  });

  void it('bounds: pools past the limit are left out and reported', () => {
    const limits = { maxChars: 1000, maxPools: 2, maxAddresses: 100, maxErrors: 5, maxAliases: 5 };
    const r = buildConfig({ pools: [pool('a', ['198.51.100.1']), pool('b', ['198.51.100.2']), pool('c', ['198.51.100.3'])], advertisements: [], limits });
    assert.equal(r.config.pools.length, 2);
    assert.match(r.problems[0]?.errors.join() ?? '', /more than 2 pools/);
  });
});
