import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from './clock.js';
import { RateLimitedLog } from './ratelog.js';

test('rate-limited log: one line per key per interval, then the count', { timeout: 10_000 }, async () => {
  const clock = new ManualClock();
  const lines: Array<[string, object]> = [];
  const rec = (obj: object, msg: string): void => void lines.push([msg, obj]);
  const log = new RateLimitedLog({ debug: rec, info: rec, warn: rec, error: rec }, clock, 1000);
  for (let i = 0; i < 1000; i++) log.warn('k', { i }, 'idle connection closed');
  log.warn('other', {}, 'another kind');
  assert.deepEqual(
    lines.map(([m]) => m),
    ['idle connection closed', 'another kind'],
  );
  await clock.advance(1000);
  assert.equal(lines.length, 3);
  assert.deepEqual(lines[2], ['idle connection closed (repeated)', { i: 999, suppressed: 999 }]);
  await clock.advance(5000);
  log.warn('k', { i: 0 }, 'idle connection closed');
  assert.equal(lines.length, 4, 'a new interval logs at once');
});

test('manual clock: time order, ties in scheduling order, cancel, afterIo after the instant', { timeout: 10_000 }, async () => {
  const c = new ManualClock(0);
  const seen: string[] = [];
  c.setTimeout(() => seen.push('b@10'), 10);
  c.setTimeout(() => seen.push('a@5'), 5);
  const t = c.setTimeout(() => seen.push('never'), 7);
  c.setTimeout(() => {
    seen.push('c@10');
    void c.afterIo().then(() => seen.push(`io@${c.now()}`));
    c.setTimeout(() => seen.push('d@10'), 0);
  }, 10);
  t.cancel();
  await c.advance(20);
  // Continuations of an instant run after every timer due at that instant.
  assert.deepEqual(seen, ['a@5', 'b@10', 'c@10', 'd@10', 'io@10']);
  assert.equal(c.now(), 20);
});
