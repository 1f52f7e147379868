import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BroadcastQueue } from './broadcast.js';

const msg = (n: number, fill = 1): Uint8Array => new Uint8Array(n).fill(fill);

test('broadcast queue: fewest transmits then newest first; replace by name; retransmit limit; byte budget', { timeout: 10_000 }, () => {
  const q = new BroadcastQueue();
  const done: string[] = [];
  q.queue('a', msg(10, 1), () => done.push('a'));
  q.queue('b', msg(10, 2), () => done.push('b'));
  q.queue('c', msg(10, 3));
  // Newest first: c, b, a; budget 2 × (10 + 2).
  assert.deepEqual(
    q.getBroadcasts(2, 24, 3).map((m) => m[0]),
    [3, 2],
  );
  // a has 0 transmits now: it leads, then the newest of the once-sent (b? c is newer).
  assert.deepEqual(
    q.getBroadcasts(2, 24, 3).map((m) => m[0]),
    [1, 3],
  );
  // Replacing a notifies the old message and queues the new one first.
  q.queue('a', msg(10, 9));
  assert.deepEqual(done, ['a']);
  assert.equal(q.size(), 3);
  assert.deepEqual(
    q.getBroadcasts(2, 1000, 3).map((m) => m[0]),
    [9, 2, 3],
  );
  // c reached 3 transmits (the limit) and left the queue.
  assert.equal(q.size(), 2);
  // Too-large messages are skipped, smaller ones behind them still go; b leaves, notified.
  q.queue('big', msg(500, 7));
  q.queue('small', msg(5, 8));
  assert.deepEqual(
    q.getBroadcasts(2, 100, 3).map((m) => m[0]),
    [8, 9, 2],
  );
  assert.deepEqual(done, ['a', 'b']);
  q.reset();
  assert.equal(q.size(), 0);
});

test('broadcast queue: 1000 members drain in order under a per-packet budget', { timeout: 10_000 }, () => {
  const q = new BroadcastQueue();
  for (let i = 0; i < 1000; i++) q.queue(`n${i}`, msg(50, i & 255));
  let sent = 0;
  for (let round = 0; round < 10_000 && q.size() > 0; round++) sent += q.getBroadcasts(2, 1400, 4).length;
  assert.equal(sent, 4000);
});
