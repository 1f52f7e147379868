import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { describe, it } from 'node:test';
import { Address4, Address6 } from 'ip-address';
import {
  familyOf,
  formatIPBytes,
  formatIPv4At,
  formatIPv4U32,
  formatIPv6At,
  formatIPv6BigInt,
  formatMacAt,
  isIPv4MappedAt,
  parseIPAddress,
  parseIPBytes,
  parseIPText,
  parseIPv4U32,
  parseIPv6BigInt,
  parseIPv6Into,
  parseMac,
  parseMacInto,
  parseMacText,
  viewOf,
} from './addr.js';
import { formatIP, parseIP } from './ip.js';

/** xorshift32: small, fast, deterministic (a failure names its seed). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

void describe('IPv4 text', { timeout: 30_000 }, () => {
  const ok: [text: string, value: number][] = [
    ['0.0.0.0', 0],
    ['255.255.255.255', 0xffffffff],
    ['198.51.100.7', 0xc6336407],
    ['10.0.0.1', 0x0a000001],
    ['1.20.199.0', 0x0114c700],
  ];
  for (const [text, value] of ok) {
    void it(`${text} = 0x${value.toString(16)}`, () => {
      assert.equal(parseIPv4U32(text), value);
      assert.equal(formatIPv4U32(value), text);
      assert.equal(parseIPText(text), text);
      assert.deepEqual(parseIPBytes(text), Uint8Array.of(value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255));
    });
  }
  const bad = [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.0.0.1',
    '1.2.3.256',
    '01.2.3.4',
    '1.2.3.04',
    '1.2.3.00',
    '1..2.3',
    '1.2.3.',
    '.1.2.3',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '1.2.3.4\n',
    '+1.2.3.4',
    '-1.2.3.4',
    '1e0.2.3.4',
    '0x1.2.3.4',
    '\uff11.2.3.4',
    '1.2.3.4/32',
    '1.2.3.4%eth0',
    '1.2.3.4:80',
    '1.2.3.4.',
    '1234.1.1.1',
    'a.b.c.d',
  ];
  for (const text of bad) {
    void it(`rejects ${JSON.stringify(text)}`, () => {
      assert.equal(parseIPv4U32(text), -1);
      assert.equal(parseIPText(text), null);
      assert.equal(parseIPBytes(text), null);
      assert.equal(parseIP(text), null);
    });
  }
});

void describe('IPv6 text', { timeout: 30_000 }, () => {
  const ok: [text: string, canonical: string][] = [
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    ['fe80::', 'fe80::'],
    ['ff02::1:ff00:1', 'ff02::1:ff00:1'],
    // RFC 5952 §4.2.2: a single zero group is not compressed, even at either end.
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
    // §4.2.3: the longest run wins; on a tie, the first one.
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],
    // §5: IPv4-mapped keeps (or gains) its dotted tail, however it was written.
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['::FFFF:c000:201', '::ffff:192.0.2.1'],
    ['0:0:0:0:0:ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['0000:0000:0000:0000:0000:ffff:255.255.255.255', '::ffff:255.255.255.255'],
    ['::ffff:0.0.0.0', '::ffff:0.0.0.0'],
    // Only the mapped prefix is shown dotted: compatible, translated and NAT64 text is hex.
    ['::192.0.2.1', '::c000:201'],
    ['::ffff:0:192.0.2.1', '::ffff:0:c000:201'],
    ['64:ff9b::192.0.2.1', '64:ff9b::c000:201'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['1:2:3:4:5::1.2.3.4', '1:2:3:4:5:0:102:304'],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ];
  for (const [text, canonical] of ok) {
    void it(`${text} → ${canonical}`, () => {
      assert.equal(parseIPText(text), canonical);
      assert.equal(parseIPText(canonical), canonical);
      const b = parseIPBytes(text);
      assert.ok(b !== null && b.length === 16);
      assert.equal(formatIPBytes(b), canonical);
      assert.equal(formatIPv6BigInt(parseIPv6BigInt(text)), canonical);
      assert.deepEqual(parseIPAddress(text), { family: 'ipv6', text: canonical });
    });
  }
  const zones = ['fe80::1%eth0', 'fe80::1%1', '::1%', 'fe80::1%eth0.100', '::ffff:1.2.3.4%x'];
  for (const text of zones) {
    void it(`refuses the zone in ${text}`, () => {
      assert.equal(parseIPText(text), null);
      assert.equal(parseIPBytes(text), null);
      assert.equal(parseIP(text), null);
    });
  }
  const bad = [
    '',
    ':',
    ':::',
    '::::',
    ':1::',
    '1::2:',
    '1:',
    ':1',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    '1:2:3:4:5:6:7:8::',
    '::1:2:3:4:5:6:7:8',
    '12345::1',
    '00001::',
    'g::1',
    '::ffff:1.2.3',
    '::ffff:1.2.3.4.5',
    '::ffff:01.2.3.4',
    '::ffff:256.1.1.1',
    '1:2:3:4:5:6:7:1.2.3.4',
    '1:2:3:4:5:6::1.2.3.4',
    '1.2.3.4::',
    '::1.2.3.4:1',
    '::1.2.3.4.',
    '[::1]',
    '::1/128',
    ' ::1',
    '::1 ',
    '::1\n',
    '2001:db8::1 ',
    'fe80:::1',
    '1:2:3:4:5:6:7:8:',
    ':1:2:3:4:5:6:7:8',
    '0:0:0:0:0:0:0:0:0',
    'x'.repeat(46),
    '1111:2222:3333:4444:5555:6666:7777:8888:',
    '::ffff:1.2.3.4:5',
    '::-1',
    '::+1',
    '::0x1',
  ];
  for (const text of bad) {
    void it(`rejects ${JSON.stringify(text)}`, () => {
      assert.equal(parseIPText(text), null);
      assert.equal(parseIPBytes(text), null);
      assert.equal(parseIPv6BigInt(text), -1n);
      assert.equal(parseIP(text), null);
    });
  }

  void it('parses into the 16 bytes at an offset and nowhere else', () => {
    const out = new Uint8Array(20).fill(0xaa);
    assert.equal(parseIPv6Into('2001:db8::1', out, 2), true);
    assert.equal(hex(out), 'aaaa20010db8000000000000000000000001aaaa');
    assert.equal(parseIPv6Into('::1', new Uint8Array(16), 1), false, 'too small a buffer is refused, not overrun');
  });
});

void describe('formatting bytes', { timeout: 30_000 }, () => {
  const table: [hex: string, text: string | null][] = [
    ['c0000201', '192.0.2.1'],
    ['00000000000000000000ffffc0000201', '::ffff:192.0.2.1'],
    ['00000000000000000000ffff00000000', '::ffff:0.0.0.0'],
    ['000000000000000000000000c0000201', '::c000:201'],
    ['0000000000000000fffe0000c0000201', '::fffe:0:c000:201'],
    ['00000000000000000001ffffc0000201', '::1:ffff:c000:201'],
    ['20010db8000000000000000000000001', '2001:db8::1'],
    ['fe800000000000000000000000000000', 'fe80::'],
    ['00010000000000000000000000000000', '1::'],
    ['', null],
    ['c00002', null],
    ['c000020100', null],
  ];
  for (const [h, text] of table) {
    void it(`${h || '(empty)'} → ${text}`, () => assert.equal(formatIPBytes(bytes(h)), text));
  }

  void it('reads through a view at an offset, and only there', () => {
    const frame = bytes('ffff' + 'c6336407' + '20010db8000000000000000000000010' + '0200005e0053ff');
    const v = viewOf(frame.subarray(2));
    assert.equal(formatIPv4At(v, 0), '198.51.100.7');
    assert.equal(formatIPv6At(v, 4), '2001:db8::10');
    assert.equal(formatMacAt(v, 20), '02:00:00:5e:00:53');
    assert.equal(isIPv4MappedAt(viewOf(bytes('00000000000000000000ffff01020304')), 0), true);
    assert.equal(isIPv4MappedAt(v, 4), false);
    // Past the end is an error, never a silent zero.
    assert.throws(() => formatIPv4At(v, 24), RangeError);
    assert.throws(() => formatIPv6At(v, 12), RangeError);
    assert.throws(() => formatMacAt(v, 22), RangeError);
  });

  void it('knows the family of canonical text', () => {
    assert.equal(familyOf(formatIPv4U32(1)), 'ipv4');
    const mapped = parseIPText('::ffff:1.2.3.4');
    assert.ok(mapped !== null);
    assert.equal(familyOf(mapped), 'ipv6');
  });
});

void describe('MAC text', { timeout: 30_000 }, () => {
  const ok: [text: string, canonical: string][] = [
    ['02:00:5e:00:53:01', '02:00:5e:00:53:01'],
    ['02:00:5E:00:53:0A', '02:00:5e:00:53:0a'],
    ['02-00-5e-00-53-01', '02:00:5e:00:53:01'],
    ['2:0:5e:0:53:1', '02:00:5e:00:53:01'],
    ['2-0:5e-0:53-1', '02:00:5e:00:53:01'],
    ['ff:ff:ff:ff:ff:ff', 'ff:ff:ff:ff:ff:ff'],
    ['0:0:0:0:0:0', '00:00:00:00:00:00'],
  ];
  for (const [text, canonical] of ok) {
    void it(`${text} → ${canonical}`, () => {
      assert.equal(parseMacText(text), canonical);
      const b = parseMac(text);
      assert.ok(b !== null);
      assert.equal(formatMacAt(viewOf(b), 0), canonical);
    });
  }
  const bad = [
    '',
    '02:00:5e:00:53',
    '02:00:5e:00:53:01:02',
    '002:00:5e:00:53:01',
    '02::5e:00:53:01',
    '02:00:5e:00:53:0g',
    '02:00:5e:00:53:01 ',
    ' 02:00:5e:00:53:01',
    '02.00.5e.00.53.01',
    '0200.5e00.5301',
    '02:00:5e:00:53:',
    ':02:00:5e:00:53:01',
    '02:00:5e:00:53:01:',
    '02005e005301',
    '+2:00:5e:00:53:01',
  ];
  for (const text of bad) {
    void it(`rejects ${JSON.stringify(text)}`, () => {
      assert.equal(parseMacText(text), null);
      assert.equal(parseMac(text), null);
    });
  }
  void it('parses into the 6 bytes at an offset', () => {
    const out = new Uint8Array(8);
    assert.equal(parseMacInto('02:00:5e:00:53:01', out, 1), true);
    assert.equal(hex(out), '0002005e00530100');
    assert.equal(parseMacInto('02:00:5e:00:53:01', new Uint8Array(6), 1), false);
  });
  void it('round-trips every byte value (property)', () => {
    const r = rng(0x3ac);
    for (let n = 0; n < 5000; n++) {
      const b = Uint8Array.from({ length: 6 }, () => r() & 0xff);
      const text = formatMacAt(viewOf(b), 0);
      assert.match(text, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      assert.deepEqual(parseMac(text), b);
      assert.equal(parseMacText(text.toUpperCase().replaceAll(':', '-')), text);
    }
  });
});

void describe('address properties', { timeout: 120_000 }, () => {
  /** Random 16 bytes: mostly-zero groups (zero runs of every length and place), a third IPv4-mapped. */
  function randomV6(r: () => number): Uint8Array {
    const b = new Uint8Array(16);
    for (let g = 0; g < 8; g++) {
      if (r() % 3 === 0) {
        b[2 * g] = r() & 0xff;
        b[2 * g + 1] = r() & 0xff;
      }
    }
    if (r() % 3 === 0) {
      b.fill(0, 0, 10);
      b[10] = 0xff;
      b[11] = 0xff;
    }
    return b;
  }

  /** Other ways to write the same 16 bytes: full and padded, upper case, with a dotted tail. */
  function spellings(b: Uint8Array): string[] {
    const v = viewOf(b);
    const groups = Array.from({ length: 8 }, (_, g) => v.getUint16(2 * g).toString(16));
    const tail = `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
    return [groups.join(':'), groups.map((g) => g.padStart(4, '0').toUpperCase()).join(':'), `${groups.slice(0, 6).join(':')}:${tail}`];
  }

  void it('IPv6: parse(format(b)) is b, the text is canonical, and every spelling agrees (seeded)', () => {
    const r = rng(0x1f2e3d4c);
    for (let n = 0; n < 30_000; n++) {
      const b = randomV6(r);
      const text = formatIPBytes(b);
      assert.ok(text !== null);
      assert.deepEqual(parseIPBytes(text), b, text);
      assert.equal(parseIPText(text), text);
      const mapped = isIPv4MappedAt(viewOf(b), 0);
      assert.equal(text.startsWith('::ffff:') && text.includes('.'), mapped, text);
      if (!mapped) {
        // RFC 5952 shape: lower case, no leading zeros, one '::' standing for the longest zero run (≥ 2).
        assert.ok(text.split('::').length <= 2 && !/(^|:)0[0-9a-f]/.test(text) && text === text.toLowerCase(), text);
        let longest = 0;
        for (let g = 0, run = 0; g < 8; g++) {
          run = b[2 * g] === 0 && b[2 * g + 1] === 0 ? run + 1 : 0;
          longest = Math.max(longest, run);
        }
        const shown = text.split('::').reduce((k, half) => k + (half === '' ? 0 : half.split(':').length), 0);
        assert.equal(8 - shown, longest >= 2 ? longest : 0, text);
      }
      for (const s of spellings(b)) assert.equal(parseIPText(s), text, s);
      // Core's bigint addresses read and write the same text.
      const ip = parseIP(text);
      assert.ok(ip !== null && ip.family === 'ipv6');
      assert.equal(ip.value, BigInt(`0x${hex(b)}`));
      assert.equal(formatIP(ip), text);
    }
  });

  void it('IPv4: parse(format(n)) is n through every representation (seeded)', () => {
    const r = rng(0xbeef);
    for (let n = 0; n < 30_000; n++) {
      const u = n < 4 ? ([0, 1, 0xffffffff, 0x7fffffff][n] ?? 0) : r();
      const text = formatIPv4U32(u);
      assert.equal(parseIPv4U32(text), u);
      const b = parseIPBytes(text);
      assert.ok(b !== null);
      assert.equal(formatIPv4At(viewOf(b), 0), text);
      assert.deepEqual(parseIP(text), { family: 'ipv4', value: BigInt(u) });
      assert.equal(formatIP({ family: 'ipv4', value: BigInt(u) }), text);
      // Its IPv4-mapped twin is another (IPv6) address with the same dotted tail.
      assert.equal(parseIPText(`::ffff:${text}`), `::ffff:${text}`);
    }
  });

  void it('accepts exactly what ip-address and node:net accept, minus zones (differential, seeded)', () => {
    const r = rng(0x5eed);
    const alphabet = '0123456789abcdefABCDEF:.%/ gx';
    const pieces = ['::', ':', '.', 'ffff', '0', '00', '0000', '00000', '1', '255', '256', '01', '1.2.3.4', '::ffff:', 'FFFF', '%eth0', '12345', '199'];
    let accepted = 0;
    for (let n = 0; n < 200_000; n++) {
      let s = '';
      for (let k = r() % 12; k > 0; k--) s += (r() & 1) === 1 ? pieces[r() % pieces.length] : alphabet[r() % alphabet.length];
      const plain = !s.includes('%') && !s.includes('/');
      const libOK = plain && (Address4.isValid(s) || Address6.isValid(s));
      const nodeOK = plain && isIP(s) !== 0;
      const mine = parseIPBytes(s) !== null;
      assert.equal(mine, libOK, `ip-address disagrees on ${JSON.stringify(s)}`);
      assert.equal(mine, nodeOK, `node:net disagrees on ${JSON.stringify(s)}`);
      assert.equal(parseIPText(s) !== null, mine);
      if (mine) accepted++;
    }
    // The generator must reach the accepting paths too.
    assert.ok(accepted > 1000, `only ${accepted} inputs were addresses`);
  });
});
