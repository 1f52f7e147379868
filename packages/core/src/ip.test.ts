import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { countBuggy, formatIP, formatRange, isBuggyIP, isIPv4Mapped, parseIP, parseRange, rangeContains, rangeSize, rangesOverlap, reservedOverlap, quote, type IP, type IPRange } from './ip.js';

function range(text: string): IPRange {
  const r = parseRange(text);
  if (!r.ok) throw new Error(`test setup: ${r.error}`);
  return r.range;
}

function ip(text: string): IP {
  const p = parseIP(text);
  if (p === null) throw new Error(`test setup: ${text} is not an IP`);
  return p;
}

void describe('parseIP / formatIP', { timeout: 30_000 }, () => {
  const roundTrips: [input: string, canonical: string][] = [
    ['10.0.0.1', '10.0.0.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    // RFC 5952 4.2.2: a single zero group is not compressed.
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    // 4.2.3: the longest run wins; on a tie, the first one.
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    // 5: IPv4-mapped addresses keep the dotted quad.
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ];
  for (const [input, canonical] of roundTrips) {
    void it(`${input} → ${canonical}`, () => {
      const parsed = ip(input);
      assert.equal(formatIP(parsed), canonical);
      assert.deepEqual(parseIP(canonical), parsed);
    });
  }

  void it('gives the numeric value', () => {
    assert.deepEqual(parseIP('10.0.0.1'), { family: 'ipv4', value: 0x0a000001n });
    assert.deepEqual(parseIP('2001:db8::1'), { family: 'ipv6', value: (0x20010db8n << 96n) + 1n });
  });

  for (const bad of ['', ' ', '01.2.3.4', '1.2.3', '1.2.3.4/32', '256.0.0.1', '::1%eth0', '2001:db8:::1', '1:2:3:4:5:6:7:8:9', 'host']) {
    void it(`rejects ${JSON.stringify(bad)}`, () => assert.equal(parseIP(bad), null));
  }
});

void describe('parseRange', { timeout: 30_000 }, () => {
  const ok: [text: string, first: string, last: string, size: bigint][] = [
    ['10.0.0.0/24', '10.0.0.0', '10.0.0.255', 256n],
    ['10.0.0.7/32', '10.0.0.7', '10.0.0.7', 1n],
    ['10.0.0.7', '10.0.0.7', '10.0.0.7', 1n],
    ['198.51.100.200-198.51.100.250', '198.51.100.200', '198.51.100.250', 51n],
    ['10.0.0.1 - 10.0.0.1', '10.0.0.1', '10.0.0.1', 1n],
    ['2001:db8::1:0/112', '2001:db8::1:0', '2001:db8::1:ffff', 65536n],
    ['2001:db8::/64', '2001:db8::', '2001:db8::ffff:ffff:ffff:ffff', 1n << 64n],
    ['::/0', '::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 1n << 128n],
    ['2001:db8::5/128', '2001:db8::5', '2001:db8::5', 1n],
  ];
  for (const [text, first, last, size] of ok) {
    void it(`accepts ${text}`, () => {
      const r = range(text);
      assert.equal(formatIP({ family: r.family, value: r.first }), first);
      assert.equal(formatIP({ family: r.family, value: r.last }), last);
      assert.equal(rangeSize(r), size);
      assert.equal(r.text, text.trim());
    });
  }

  const bad: [text: string, message: RegExp][] = [
    ['10.0.0.9-10.0.0.1', /^range 10\.0\.0\.9-10\.0\.0\.1 is reversed$/],
    ['10.0.0.1-2001:db8::1', /mixes IPv4 and IPv6/],
    ['10.0.0.1/24', /host bits set \(did you mean 10\.0\.0\.0\/24\?\)/],
    ['10.0.0.0/33', /prefix length must be 0-32/],
    ['2001:db8::/129', /prefix length must be 0-128/],
    ['10.0.0.0/', /prefix length/],
    ['10.0.0.x/24', /"10\.0\.0\.x" is not an IP address/],
    ['10.0.0.1-', /"" is not an IP address/],
    ['nonsense', /not a CIDR, a start-end range or an IP address/],
  ];
  for (const [text, message] of bad) {
    void it(`rejects ${text}`, () => {
      const r = parseRange(text);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.error, message);
    });
  }
});

void describe('range predicates', { timeout: 30_000 }, () => {
  void it('containment respects family and bounds', () => {
    const r = range('10.0.0.0/30');
    assert.equal(rangeContains(r, ip('10.0.0.0')), true);
    assert.equal(rangeContains(r, ip('10.0.0.3')), true);
    assert.equal(rangeContains(r, ip('10.0.0.4')), false);
    // ::a00:1 has the same numeric value as 10.0.0.1 but another family.
    assert.equal(rangeContains(r, ip('::a00:1')), false);
  });

  const overlaps: [a: string, b: string, want: boolean][] = [
    ['10.0.0.0/24', '10.0.0.255', true],
    ['10.0.0.0/24', '10.0.1.0/24', false],
    ['10.0.0.0-10.0.0.10', '10.0.0.10-10.0.0.20', true],
    ['10.0.0.0/8', '10.200.0.0/16', true],
    ['2001:db8::/64', '2001:db8::ffff:0:0:0-2001:db8:0:1::', true],
    ['0.0.0.0/0', '::/0', false],
  ];
  for (const [a, b, want] of overlaps) {
    void it(`${a} ${want ? 'overlaps' : 'does not overlap'} ${b}`, () => {
      assert.equal(rangesOverlap(range(a), range(b)), want);
      assert.equal(rangesOverlap(range(b), range(a)), want);
    });
  }

  void it('isBuggyIP flags only IPv4 .0 and .255', () => {
    assert.equal(isBuggyIP(ip('10.0.0.0')), true);
    assert.equal(isBuggyIP(ip('10.0.0.255')), true);
    assert.equal(isBuggyIP(ip('10.0.0.1')), false);
    assert.equal(isBuggyIP(ip('2001:db8::ff')), false);
    assert.equal(isBuggyIP(ip('2001:db8::')), false);
  });

  void it('countBuggy matches brute force on assorted small ranges', () => {
    const samples = ['10.0.0.0/24', '10.0.0.0/23', '10.0.0.254-10.0.1.1', '10.0.0.1-10.0.0.254', '10.0.0.255', '0.0.0.0-0.0.3.3', '10.0.0.5/32'];
    for (const text of samples) {
      const r = range(text);
      let brute = 0n;
      for (let v = r.first; v <= r.last; v++) if (isBuggyIP({ family: 'ipv4', value: v })) brute++;
      assert.equal(countBuggy(r), brute, text);
    }
    assert.equal(countBuggy(range('10.0.0.0/8')), 2n * 65536n);
    assert.equal(countBuggy(range('2001:db8::/64')), 0n);
  });

  void it('formatRange prints an IP, a CIDR or a range', () => {
    assert.equal(formatRange(range('10.0.0.7')), '10.0.0.7');
    assert.equal(formatRange(range('10.0.0.0-10.0.0.255')), '10.0.0.0/24');
    assert.equal(formatRange(range('10.0.0.1-10.0.0.4')), '10.0.0.1-10.0.0.4');
    assert.equal(formatRange(range('2001:db8::/64')), '2001:db8::/64');
    assert.equal(formatRange(range('::/0')), '::/0');
  });
});

void describe('addresses never handed out', { timeout: 30_000 }, () => {
  const cases: [text: string, block: string | undefined][] = [
    ['0.0.0.0', '0.0.0.0/8'],
    ['10.0.0.0/8', undefined],
    ['126.255.255.255', undefined],
    ['126.0.0.0-128.0.0.0', '127.0.0.0/8'],
    ['169.254.169.254', '169.254.0.0/16'],
    ['223.255.255.255', undefined],
    ['239.1.1.1', '224.0.0.0/4'],
    ['255.255.255.255', '240.0.0.0/4'],
    ['::', '::/128'],
    ['::1', '::1/128'],
    ['::2', undefined],
    ['::ffff:10.0.0.1', '::ffff:0:0/96'],
    ['fe80::1', 'fe80::/10'],
    ['febf::1', 'fe80::/10'],
    ['fec0::1', undefined],
    ['ff02::1', 'ff00::/8'],
    ['2001:db8::/32', undefined],
  ];
  for (const [text, block] of cases) {
    void it(`${text} -> ${block ?? 'allowed'}`, () => assert.equal(reservedOverlap(range(text))?.text, block));
  }
  void it('recognises IPv4-mapped ranges only when wholly mapped', () => {
    assert.equal(isIPv4Mapped(range('::ffff:198.51.100.0/120')), true);
    assert.equal(isIPv4Mapped(range('::ffff:0.0.0.0-::ffff:255.255.255.255')), true);
    assert.equal(isIPv4Mapped(range('2001:db8::/64')), false);
    assert.equal(isIPv4Mapped(range('198.51.100.0/24')), false);
  });
  void it('quote bounds what a message repeats', () => {
    assert.equal(quote('abc'), '"abc"');
    assert.equal(quote('a"b'), '"a\\"b"');
    assert.equal(quote('x'.repeat(100), 4), '"xxxx"… (100 characters)');
  });
});
