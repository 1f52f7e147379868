import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CONFIG_LIMITS, type ConfigError, isConfigError, parseConfig } from './config.js';
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

void describe('parseConfig: valid', { timeout: 30_000 }, () => {
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

void describe('parseConfig: errors name the pool and the value', { timeout: 30_000 }, () => {
  const pool = (extra: string, addresses = '[10.0.0.0/24]', name = 'default'): string => `address-pools:\n- name: ${name}\n  protocol: layer2\n  addresses: ${addresses}\n${extra}`;
  const cases: { name: string; yaml: string; errors: RegExp[] }[] = [
    { name: 'reversed range', yaml: pool('', '[10.0.0.9-10.0.0.1]'), errors: [/^pool "default": range 10\.0\.0\.9-10\.0\.0\.1 is reversed \(line 4\)$/] },
    { name: 'mixed-family range', yaml: pool('', '["10.0.0.1-2001:db8::1"]'), errors: [/pool "default": range 10\.0\.0\.1-2001:db8::1 mixes IPv4 and IPv6/] },
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
    { name: 'missing name', yaml: 'address-pools:\n- protocol: layer2\n  addresses: [10.0.0.0/24]\n', errors: [/^pool #1: missing "name" \(line 2\)$/] },
    { name: 'missing protocol', yaml: 'address-pools:\n- name: p\n  addresses: [10.0.0.0/24]\n', errors: [/^pool "p": missing "protocol"/] },
    { name: 'missing addresses', yaml: 'address-pools:\n- name: p\n  protocol: layer2\n', errors: [/^pool "p": missing "addresses" \(line 2\)$/] },
    { name: 'empty addresses', yaml: pool('', '[]'), errors: [/pool "default": "addresses" is empty/] },
    { name: 'addresses not a list', yaml: pool('', '10.0.0.0/24'), errors: [/pool "default": "addresses" must be a list/] },
    { name: 'non-boolean flag', yaml: pool('  auto-assign: "yes"\n'), errors: [/pool "default": "auto-assign" must be true or false, got string "yes"/] },
    { name: 'duplicate pool names', yaml: pool('') + pool('', '[10.0.1.0/24]').replace('address-pools:\n', ''), errors: [/^pool "default": duplicate pool name \(line 5\)$/] },
    { name: 'overlap within a pool', yaml: pool('', '[10.0.0.0/24, 10.0.0.128-10.0.1.5]'), errors: [/pool "default": IPv4 range 10\.0\.0\.128-10\.0\.1\.5 overlaps 10\.0\.0\.0\/24 in the same pool/] },
    {
      name: 'overlap across pools',
      yaml: pool('', '["2001:db8::/64"]', 'a') + pool('', '["2001:db8::5"]', 'b').replace('address-pools:\n', ''),
      errors: [/pool "b": IPv6 range 2001:db8::5 overlaps 2001:db8::\/64 in pool "a"/],
    },
    { name: 'duplicate YAML key', yaml: pool('  name: again\n'), errors: [/^YAML: key "name" appears twice in the same mapping; keep one \(line 5, column 3\)$/] },
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
    assert.equal(r.message, 'invalid config: pool "default": range 10.0.0.9-10.0.0.1 is reversed (line 4)');
  });
});

void describe('parseConfig: hostile and careless input is bounded and explained', { timeout: 60_000 }, () => {
  const pool = (addresses: string, extra = ''): string => `address-pools:\n- name: p\n  protocol: layer2\n  addresses: ${addresses}\n${extra}`;
  const err = (text: string, limits?: Parameters<typeof parseConfig>[1]): ConfigError => {
    const r = parseConfig(text, limits);
    assert.ok(isConfigError(r), `expected a ConfigError for ${text.slice(0, 80)}`);
    return r;
  };

  void it('one CIDR listed 1000 times: one error per repeat, only the first 20 listed, message bounded', () => {
    const r = err('address-pools:\n- name: p\n  protocol: layer2\n  addresses:\n' + '  - 10.0.0.0/8\n'.repeat(1000));
    assert.equal(r.errors.length, 20);
    assert.equal(r.omitted, 979, 'each repeat overlaps once (sweep), not once per pair (499,500)');
    assert.match(r.message, /^invalid config \(999 errors\): .*; and 979 more$/);
    assert.ok(r.message.length < 3000, `message is ${r.message.length} characters`);
    assert.match(r.errors[0] ?? '', /^pool "p": IPv4 range 10\.0\.0\.0\/8 overlaps 10\.0\.0\.0\/8 in the same pool \(line 6\)$/);
  });

  void it('an overlapping range is reported once, against the range reaching furthest', () => {
    const r = err(pool('[10.0.0.0/8, 10.1.0.0/16, 10.2.0.0/16, 11.0.0.0/24]'));
    assert.deepEqual(r.errors, ['pool "p": IPv4 range 10.1.0.0/16 overlaps 10.0.0.0/8 in the same pool (line 4)', 'pool "p": IPv4 range 10.2.0.0/16 overlaps 10.0.0.0/8 in the same pool (line 4)']);
  });

  void it('a YAML alias bomb is an invalid config, not an exception', () => {
    const laughs =
      'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n' +
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n';
    assert.match(err(laughs).errors[0] ?? '', /^unknown key "a" \(allowed: address-pools\) \(line 1\)$/);
    const inPools = laughs + 'address-pools:\n- name: p\n  protocol: layer2\n  addresses: *f\n';
    assert.match(err(inPools).message, /pool "p": address a list must be a string/);
    const many = `x: &x 10.0.0.1\naddress-pools:\n- name: p\n  protocol: layer2\n  addresses: [${Array.from({ length: 150 }, () => '*x').join(', ')}]\n`;
    assert.match(err(many).message, /more than 100 YAML aliases \(\*name\); write the values out/);
  });

  void it('size, pool and address limits are checked before the expensive work', () => {
    const limits = { ...CONFIG_LIMITS, maxChars: 1000, maxPools: 3, maxAddresses: 5 };
    assert.equal(err('#'.repeat(1001), limits).message, 'invalid config: config is 1001 characters long; the limit is 1000 (split it or remove unused pools)');
    const pools = 'address-pools:\n' + ['a', 'b', 'c', 'd'].map((n, i) => `- {name: ${n}, protocol: layer2, addresses: [10.0.${i}.0/24]}\n`).join('');
    assert.equal(err(pools, limits).message, 'invalid config: 4 pools; the limit is 3 (line 2)');
    assert.match(err(pool('[10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4, 10.0.0.5, 10.0.0.6]'), limits).message, /6 address entries; the limit is 5 across all pools/);
    assert.equal(CONFIG_LIMITS.maxChars, 128 * 1024);
  });

  void it('YAML mistakes name the line and the key in plain words', () => {
    assert.equal(
      err('address-pools: []\n---\naddress-pools: []\n').message,
      'invalid config: YAML: a second document ("---") is not allowed; put every pool in one list under "address-pools" (line 2, column 1)',
    );
    assert.equal(err(pool('[10.0.0.0/24]', '  "protocol": layer2\n')).message, 'invalid config: YAML: key "protocol" appears twice in the same mapping; keep one (line 5, column 3)');
    assert.match(err('address-pools:\n- name: a\n\tprotocol: layer2\n').message, /a tab is used for indentation; indent with spaces \(line 3, column 1\)/);
    assert.match(err(pool('[10.0.0.0/24]', '  colour: blue\n')).message, /pool "p": unknown key "colour" \(allowed: .*\) \(line 5\)/);
  });

  void it('long values are quoted short in messages', () => {
    const r = err(`address-pools:\n- name: p\n  protocol: ${'x'.repeat(10_000)}\n  addresses: [10.0.0.0/24]\n`);
    assert.ok(r.message.length < 300, r.message);
    assert.match(r.message, /unknown protocol "x{64}"… \(10000 characters\) \(want layer2\)/);
  });

  const reserved: [address: string, message: RegExp][] = [
    ['0.0.0.0/0', /0\.0\.0\.0\/0 includes 0\.0\.0\.0\/8 \("this network", RFC 791\); such addresses are never handed out as Service IPs/],
    ['"::/0"', /::\/0 includes ::\/128 \(the IPv6 unspecified address\)/],
    ['0.0.0.0/32', /0\.0\.0\.0\/32 is in 0\.0\.0\.0\/8/],
    ['"::/128"', /::\/128 is in ::\/128/],
    ['255.255.255.255', /255\.255\.255\.255 is in 240\.0\.0\.0\/4 \(reserved, and the limited broadcast/],
    ['224.0.0.1', /224\.0\.0\.1 is in 224\.0\.0\.0\/4 \(IPv4 multicast\)/],
    ['"ff02::1"', /ff02::1 is in ff00::\/8 \(IPv6 multicast\)/],
    ['127.0.0.1', /127\.0\.0\.1 is in 127\.0\.0\.0\/8 \(IPv4 loopback\)/],
    ['"::1"', /::1 is in ::1\/128 \(IPv6 loopback\)/],
    ['"fe80::1"', /fe80::1 is in fe80::\/10 \(IPv6 link-local\)/],
    ['169.254.1.0/24', /169\.254\.1\.0\/24 is in|includes 169\.254\.0\.0\/16/],
    ['"::ffff:198.51.100.0/120"', /::ffff:198\.51\.100\.0\/120 is an IPv4-mapped IPv6 address; write the IPv4 form 198\.51\.100\.0\/24 instead/],
    ['64.0.0.0/2', /64\.0\.0\.0\/2 includes 127\.0\.0\.0\/8 \(IPv4 loopback\)/],
  ];
  for (const [address, message] of reserved) {
    void it(`refuses ${address}, naming the pool and the address`, () => {
      const r = err(pool(`[${address}]`));
      assert.equal(r.errors.length, 1, r.message);
      assert.match(r.errors[0] ?? '', /^pool "p": /);
      assert.match(r.errors[0] ?? '', message);
    });
  }

  void it('ordinary subnets keep their .0 and .255; avoid-buggy-ips with nothing left is a warning', () => {
    const ok = parseConfig(pool('[198.51.100.0/24, 203.0.113.255, "2001:db8::/64"]'));
    assert.ok(!isConfigError(ok));
    assert.deepEqual(ok.warnings, []);
    const bare = parseConfig(pool('[198.51.100.0/32, 198.51.100.255]', '  avoid-buggy-ips: true\n'));
    assert.ok(!isConfigError(bare));
    assert.equal(bare.pools.length, 1);
    assert.deepEqual(bare.warnings, [
      'pool "p": avoid-buggy-ips leaves no usable address (every address in 198.51.100.0/32, 198.51.100.255 ends in .0 or .255); Services can only get an IP from it by request',
    ]);
    const some = parseConfig(pool('[198.51.100.0/31]', '  avoid-buggy-ips: true\n'));
    assert.ok(!isConfigError(some));
    assert.deepEqual(some.warnings, [], '198.51.100.1 is usable');
  });

  void it('tells a blank document from an explicit empty pool list', () => {
    for (const text of ['', '   \n', '# only a comment\n', '---\n']) {
      const c = parseConfig(text);
      assert.ok(!isConfigError(c));
      assert.equal(c.blank, true, JSON.stringify(text));
    }
    for (const text of ['address-pools: []\n', 'address-pools:\n']) {
      const c = parseConfig(text);
      assert.ok(!isConfigError(c));
      assert.equal(c.blank, false, JSON.stringify(text));
      assert.equal(c.pools.length, 0);
    }
  });

  void it('many disjoint pools parse, and a duplicate in the middle is found', () => {
    const n = 400;
    const text = 'address-pools:\n' + Array.from({ length: n }, (_, i) => `- {name: p${i}, protocol: layer2, addresses: [10.${i >> 8}.${i & 255}.0/24, "2001:db8:${i.toString(16)}::/64"]}\n`).join('');
    const c = parseConfig(text);
    assert.ok(!isConfigError(c), isConfigError(c) ? c.message : '');
    assert.equal(c.pools.length, n);
    const dup = text.replace('10.0.7.0/24', '10.0.6.128/25');
    assert.deepEqual(err(dup).errors, ['pool "p7": IPv4 range 10.0.6.128/25 overlaps 10.0.6.0/24 in pool "p6" (line 9)']);
  });
});

// MetalLB's ParseCIDR keeps the network of a CIDR with host bits set: accepted, masked, warned.
void describe('parseConfig: a CIDR with host bits set is masked, with a warning', { timeout: 10_000 }, () => {
  const cases: { text: string; range: string; warning: RegExp | null }[] = [
    {
      text: '198.51.100.7/24',
      range: '198.51.100.0/24',
      warning:
        /^pool "p": "198\.51\.100\.7\/24" has host bits set; using 198\.51\.100\.0\/24 \(198\.51\.100\.0-198\.51\.100\.255\), as MetalLB does; write 198\.51\.100\.0\/24 to silence this \(line 5\)$/,
    },
    { text: '198.51.100.9/29', range: '198.51.100.8/29', warning: /using 198\.51\.100\.8\/29 \(198\.51\.100\.8-198\.51\.100\.15\)/ },
    { text: '198.51.100.7/32', range: '198.51.100.7', warning: null },
    { text: '198.51.100.0/24', range: '198.51.100.0/24', warning: null },
    { text: '"2001:db8::5/64"', range: '2001:db8::/64', warning: /using 2001:db8::\/64 \(2001:db8::-2001:db8::ffff:ffff:ffff:ffff\)/ },
  ];
  for (const c of cases) {
    void it(c.text, () => {
      const r = parseConfig(`address-pools:\n- name: p\n  protocol: layer2\n  addresses:\n  - ${c.text}\n`);
      assert.ok(!isConfigError(r), isConfigError(r) ? r.message : '');
      assert.equal(formatRange(r.pools[0]?.addresses[0] ?? { family: 'ipv4', first: 0n, last: 0n }), c.range);
      if (c.warning === null) assert.deepEqual(r.warnings, []);
      else {
        assert.equal(r.warnings.length, 1);
        assert.match(r.warnings[0] ?? '', c.warning);
      }
    });
  }
  void it('still refuses a bad prefix length or address, and a masked prefix that overlaps', () => {
    const e = (a: string): string => {
      const r = parseConfig(`address-pools:\n- name: p\n  protocol: layer2\n  addresses: [${a}]\n`);
      return isConfigError(r) ? r.message : 'accepted';
    };
    assert.match(e('198.51.100.7/33'), /prefix length must be 0-32/);
    assert.match(e('198.51.100.300/24'), /is not an IP address/);
    assert.match(e('198.51.100.7/24, 198.51.100.0/28'), /overlaps/);
  });
});
