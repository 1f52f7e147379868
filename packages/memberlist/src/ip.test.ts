import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytesToIp, ipToBytes, parseJoinAddress } from './ip.js';
import { BroadcastQueue } from './broadcast.js';

test('ip: text ↔ Go net.IP bytes (table)', { timeout: 120_000 }, () => {
  const table: Array<[string, string, string]> = [
    ['127.0.0.1', '7f000001', '127.0.0.1'],
    ['::1', '00000000000000000000000000000001', '::1'],
    ['2001:db8::7', '20010db8000000000000000000000007', '2001:db8::7'],
    ['::ffff:10.0.0.1', '00000000000000000000ffff0a000001', '10.0.0.1'],
  ];
  for (const [text, hex, back] of table) {
    const b = ipToBytes(text);
    assert.equal(Buffer.from(b ?? []).toString('hex'), hex, text);
    assert.equal(bytesToIp(b ?? new Uint8Array(0)), back);
  }
  assert.equal(ipToBytes('nope'), undefined);
  assert.equal(bytesToIp(Uint8Array.of(1, 2, 3)), undefined);
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
