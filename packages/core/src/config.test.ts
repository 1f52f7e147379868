import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isConfigError, parseConfig } from './config.js';
import { formatRange } from './ip.js';

/** A pool as the tests write it: addresses in canonical range text. */
interface PoolSummary {
  name: string;
  addresses: string[];
  autoAssign: boolean;
  avoidBuggyIPs: boolean;
}

function summarize(text: string): PoolSummary[] {
  const c = parseConfig(text);
  if (isConfigError(c)) throw new Error(`unexpected: ${c.message}`);
  return c.pools.map((p) => ({ name: p.name, addresses: p.addresses.map(formatRange), autoAssign: p.autoAssign, avoidBuggyIPs: p.avoidBuggyIPs }));
}

void describe('parseConfig: valid', () => {
  const cases: { name: string; yaml: string; want: PoolSummary[] }[] = [
    {
      name: 'the documented example, defaults applied',
      yaml: `
address-pools:
- name: default
  protocol: layer2
  addresses: [198.51.100.200-198.51.100.250, 2001:db8::1:0/112]
`,
      want: [{ name: 'default', addresses: ['198.51.100.200-198.51.100.250', '2001:db8::1:0/112'], autoAssign: true, avoidBuggyIPs: false }],
    },
    {
      name: 'pools and ranges keep their written order; flags are read',
      yaml: `
address-pools:
- name: second
  protocol: layer2
  addresses:
  - 10.0.1.0/24
  - 10.0.0.5
  - 2001:db8::7/128
  auto-assign: false
  avoid-buggy-ips: true
- name: first
  protocol: layer2
  addresses: ["2001:db8:1::/64"]
`,
      want: [
        { name: 'second', addresses: ['10.0.1.0/24', '10.0.0.5', '2001:db8::7'], autoAssign: false, avoidBuggyIPs: true },
        { name: 'first', addresses: ['2001:db8:1::/64'], autoAssign: true, avoidBuggyIPs: false },
      ],
    },
    { name: 'empty address-pools list', yaml: 'address-pools: []\n', want: [] },
    { name: 'empty document', yaml: '', want: [] },
    { name: 'comment-only document', yaml: '# nothing yet\n', want: [] },
    {
      name: 'adjacent ranges do not overlap',
      yaml: `
address-pools:
- {name: a, protocol: layer2, addresses: [10.0.0.0/25]}
- {name: b, protocol: layer2, addresses: [10.0.0.128-10.0.0.255]}
`,
      want: [
        { name: 'a', addresses: ['10.0.0.0/25'], autoAssign: true, avoidBuggyIPs: false },
        { name: 'b', addresses: ['10.0.0.128/25'], autoAssign: true, avoidBuggyIPs: false },
      ],
    },
  ];
  for (const c of cases) void it(c.name, () => assert.deepEqual(summarize(c.yaml), c.want));
});

void describe('parseConfig: errors name the pool and the value', () => {
  const pool = (extra: string, addresses = '[10.0.0.0/24]', name = 'default'): string =>
    `address-pools:\n- name: ${name}\n  protocol: layer2\n  addresses: ${addresses}\n${extra}`;
  const cases: { name: string; yaml: string; errors: RegExp[] }[] = [
    { name: 'reversed range', yaml: pool('', '[10.0.0.9-10.0.0.1]'), errors: [/^pool "default": range 10\.0\.0\.9-10\.0\.0\.1 is reversed$/] },
    { name: 'mixed-family range', yaml: pool('', '["10.0.0.1-2001:db8::1"]'), errors: [/pool "default": range 10\.0\.0\.1-2001:db8::1 mixes IPv4 and IPv6/] },
    { name: 'CIDR with host bits', yaml: pool('', '[10.0.0.1/24]'), errors: [/pool "default": CIDR 10\.0\.0\.1\/24 has host bits set/] },
    { name: 'garbage address', yaml: pool('', '[banana]'), errors: [/pool "default": "banana" is not a CIDR/] },
    { name: 'non-string address', yaml: pool('', '[42]'), errors: [/pool "default": address number 42 must be a string/] },
    { name: 'unknown pool key', yaml: pool('  colour: blue\n'), errors: [/pool "default": unknown key "colour"/] },
    { name: 'unknown top-level key', yaml: 'address-pool: []\n', errors: [/unknown key "address-pool"/] },
    { name: 'bgp protocol', yaml: pool('').replace('layer2', 'bgp'), errors: [/pool "default": protocol "bgp": BGP mode is not supported; use layer2/] },
    { name: 'unknown protocol', yaml: pool('').replace('layer2', 'l3'), errors: [/pool "default": unknown protocol "l3" \(want layer2\)/] },
    { name: 'bgp-advertisements', yaml: pool('  bgp-advertisements: []\n'), errors: [/pool "default": "bgp-advertisements": BGP mode is not supported/] },
    {
      name: 'BGP-only top-level keys',
      yaml: 'peers: []\nbgp-communities: {}\nbfd-profiles: []\naddress-pools: []\n',
      errors: [/"peers": BGP mode is not supported/, /"bgp-communities": BGP mode is not supported/, /"bfd-profiles": BGP mode is not supported/],
    },
    { name: 'missing name', yaml: 'address-pools:\n- protocol: layer2\n  addresses: [10.0.0.0/24]\n', errors: [/^pool #1: missing "name"$/] },
    { name: 'missing protocol', yaml: 'address-pools:\n- name: p\n  addresses: [10.0.0.0/24]\n', errors: [/^pool "p": missing "protocol"/] },
    { name: 'missing addresses', yaml: 'address-pools:\n- name: p\n  protocol: layer2\n', errors: [/^pool "p": missing "addresses"$/] },
    { name: 'empty addresses', yaml: pool('', '[]'), errors: [/pool "default": "addresses" is empty/] },
    { name: 'addresses not a list', yaml: pool('', '10.0.0.0/24'), errors: [/pool "default": "addresses" must be a list/] },
    { name: 'non-boolean flag', yaml: pool('  auto-assign: "yes"\n'), errors: [/pool "default": "auto-assign" must be true or false, got string "yes"/] },
    { name: 'duplicate pool names', yaml: pool('') + pool('', '[10.0.1.0/24]').replace('address-pools:\n', ''), errors: [/^pool "default": duplicate pool name$/] },
    { name: 'overlap within a pool', yaml: pool('', '[10.0.0.0/24, 10.0.0.128-10.0.1.5]'), errors: [/pool "default": IPv4 range 10\.0\.0\.128-10\.0\.1\.5 overlaps 10\.0\.0\.0\/24 in the same pool/] },
    {
      name: 'overlap across pools',
      yaml: pool('', '["2001:db8::/64"]', 'a') + pool('', '["2001:db8::5"]', 'b').replace('address-pools:\n', ''),
      errors: [/pool "b": IPv6 range 2001:db8::5 overlaps 2001:db8::\/64 in pool "a"/],
    },
    { name: 'duplicate YAML key', yaml: pool('  name: again\n'), errors: [/^YAML: .*[Mm]ap keys must be unique/] },
    { name: 'YAML syntax error', yaml: 'address-pools: [\n', errors: [/^YAML: /] },
    { name: 'top level not a mapping', yaml: '- a\n- b\n', errors: [/config must be a mapping/] },
    { name: 'address-pools not a list', yaml: 'address-pools: {name: x}\n', errors: [/"address-pools" must be a list/] },
    {
      name: 'all errors are collected',
      yaml: `
address-pools:
- name: a
  protocol: bgp
  addresses: [10.0.0.9-10.0.0.1]
- name: b
  protocol: layer2
  addresses: [10.0.0.0/24]
  extra: 1
`,
      errors: [/pool "a": protocol "bgp": BGP mode is not supported; use layer2/, /pool "a": range 10\.0\.0\.9-10\.0\.0\.1 is reversed/, /pool "b": unknown key "extra"/],
    },
  ];
  for (const c of cases) {
    void it(c.name, () => {
      const r = parseConfig(c.yaml);
      assert.ok(isConfigError(r), 'expected a ConfigError');
      assert.equal(r.errors.length, c.errors.length, `errors: ${JSON.stringify(r.errors)}`);
      c.errors.forEach((re, i) => assert.match(r.errors[i] ?? '', re));
      for (const e of r.errors) assert.ok(r.message.includes(e), 'the message contains every error');
    });
  }

  void it('one error gives a one-line message', () => {
    const r = parseConfig(pool('', '[10.0.0.9-10.0.0.1]'));
    assert.ok(isConfigError(r));
    assert.equal(r.message, 'invalid config: pool "default": range 10.0.0.9-10.0.0.1 is reversed');
  });
});
