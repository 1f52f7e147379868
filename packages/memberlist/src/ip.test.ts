import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIP, parseIP, parseIPBytes, parseIPText } from '@ironlb/core';
import { formatGoIP, parseJoinAddress } from './ip.js';
import { BroadcastQueue } from './broadcast.js';

test('ip: text ↔ Go net.IP bytes (table)', { timeout: 120_000 }, () => {
  const table: Array<[string, string, string]> = [
    ['127.0.0.1', '7f000001', '127.0.0.1'],
    ['::1', '00000000000000000000000000000001', '::1'],
    ['2001:db8::7', '20010db8000000000000000000000007', '2001:db8::7'],
    ['::ffff:10.0.0.1', '00000000000000000000ffff0a000001', '10.0.0.1'],
  ];
  for (const [text, hex, back] of table) {
    const b = parseIPBytes(text);
    assert.equal(Buffer.from(b ?? []).toString('hex'), hex, text);
    assert.equal(formatGoIP(b ?? new Uint8Array(0)), back);
  }
  assert.equal(parseIPBytes('nope'), null);
  assert.equal(formatGoIP(Uint8Array.of(1, 2, 3)), undefined);
});

test('ip: Go net.IP.String for every byte shape (table)', { timeout: 120_000 }, () => {
  const table: Array<[hex: string, want: string | undefined]> = [
    ['0a000001', '10.0.0.1'],
    ['00000000', '0.0.0.0'],
    ['00000000000000000000ffff0a000001', '10.0.0.1'], // IPv4-mapped: dotted, like Go
    ['00000000000000000000ffff00000000', '0.0.0.0'],
    ['0000000000000000000000000a000001', '::a00:1'], // IPv4-compatible is not mapped
    ['0000000000000000ffff00000a000001', '::ffff:0:a00:1'], // nor is IPv4-translated
    ['00000000000000000000000000000000', '::'],
    ['00000000000000000000000000000001', '::1'],
    ['20010db8000000000000000000000001', '2001:db8::1'],
    ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'],
    ['', undefined],
    ['0a0000', undefined],
    ['0a00000100', undefined],
    ['00000000000000000000ffff0a00000100', undefined],
  ];
  for (const [hex, want] of table) assert.equal(formatGoIP(Buffer.from(hex, 'hex')), want, hex);
  // A view into a larger buffer is formatted from its own bytes only.
  const big = Buffer.from('ff0a000001ff', 'hex');
  assert.equal(formatGoIP(big.subarray(1, 5)), '10.0.0.1');
});

test('ip: parse(formatGoIP(b)) is b, as Go compares IPs (property, seeded)', { timeout: 120_000 }, () => {
  let x = 0x2545f491;
  const next = (): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  for (let n = 0; n < 20_000; n++) {
    const shape = n % 3; // 4 bytes, 16 bytes, 16 bytes IPv4-mapped
    const b = new Uint8Array(shape === 0 ? 4 : 16);
    for (let i = 0; i < b.length; i++) if (next() % 3 === 0) b[i] = next() & 0xff;
    if (shape === 2) {
      b.fill(0, 0, 10);
      b[10] = 0xff;
      b[11] = 0xff;
    }
    const text = formatGoIP(b);
    assert.ok(text !== undefined);
    const back = parseIPBytes(text);
    // Go's net.IP.Equal: a 16-byte IPv4-mapped IP equals its 4-byte form.
    assert.deepEqual(back, shape === 2 ? b.subarray(12) : b, text);
    // The text is canonical for core too, and core reads the same address from it.
    assert.equal(parseIPText(text), text);
    const ip = parseIP(text);
    assert.ok(ip !== null);
    assert.equal(formatIP(ip), text);
  }
});

test('ip: join address forms', { timeout: 120_000 }, () => {
  assert.deepEqual(parseJoinAddress('10.0.0.1', 7946), { addr: '10.0.0.1', port: 7946 });
  assert.deepEqual(parseJoinAddress('10.0.0.1:8000', 7946), { addr: '10.0.0.1', port: 8000 });
  assert.deepEqual(parseJoinAddress('node-a/10.0.0.1:8000', 7946), { name: 'node-a', addr: '10.0.0.1', port: 8000 });
  assert.deepEqual(parseJoinAddress('[2001:db8::1]:7000', 7946), { addr: '2001:db8::1', port: 7000 });
  assert.deepEqual(parseJoinAddress('2001:db8::1', 7946), { addr: '2001:db8::1', port: 7946 });
  for (const bad of ['', 'host.example:1', '10.0.0.1:0', '10.0.0.1:99999', '[::1']) assert.equal(parseJoinAddress(bad, 7946), undefined, bad);
});

test('broadcast queue: newest/fewest first, retransmit limit, invalidation, size budget', { timeout: 120_000 }, () => {
  const q = new BroadcastQueue();
  const done: string[] = [];
  q.queue('a', Uint8Array.of(1), () => done.push('a1'));
  q.queue('b', Uint8Array.of(2, 2));
  q.queue('a', Uint8Array.of(3), () => done.push('a3')); // replaces a1
  assert.deepEqual(done, ['a1']);
  assert.equal(q.size(), 2);
  assert.deepEqual(q.getBroadcasts(2, 100, 2), [Uint8Array.of(3), Uint8Array.of(2, 2)]);
  // Budget: only the 1-byte message fits in 3 bytes with 2 overhead.
  assert.deepEqual(q.getBroadcasts(2, 3, 2), [Uint8Array.of(3)]);
  assert.deepEqual(done, ['a1', 'a3']);
  assert.deepEqual(q.getBroadcasts(2, 100, 2), [Uint8Array.of(2, 2)]);
  assert.equal(q.size(), 0);
});
