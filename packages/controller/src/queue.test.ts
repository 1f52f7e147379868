import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyedQueue } from './queue.js';

describe('KeyedQueue', { timeout: 20_000 }, () => {
  it('reports every failure, retries with capped backoff, never drops the key', async () => {
    const failures: string[] = [];
    let calls = 0;
    const done = new Promise<void>((resolve) => {
      const q = new KeyedQueue(
        async (key) => {
          calls++;
          await Promise.resolve();
          if (calls <= 3) throw new Error(`boom ${calls}`);
          if (calls <= 5) return 'retry';
          resolve();
          q.stop();
          return key === 'k' ? 'done' : 'retry';
        },
        { backoff: { initialMs: 1, maxMs: 5 }, onFailure: (key, attempt, err) => failures.push(`${key} #${attempt} ${err instanceof Error ? err.message : 'retry'}`) },
      );
      q.add('k');
    });
    await done;
    assert.deepEqual(failures, ['k #1 boom 1', 'k #2 boom 2', 'k #3 boom 3', 'k #4 retry', 'k #5 retry']);
  });

  it('serializes a key, collapses duplicates and runs others in parallel', async () => {
    let running = 0;
    let max = 0;
    const seen: string[] = [];
    const q = new KeyedQueue(async (key) => {
      running++;
      max = Math.max(max, running);
      seen.push(key);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      return 'done';
    }, 4);
    for (const k of ['a', 'a', 'b', 'c', 'a']) q.add(k);
    await q.idle();
    assert.deepEqual(seen.sort(), ['a', 'a', 'b', 'c'], 'a re-added while running runs once more after; the third add collapsed');
    assert.ok(max <= 3);
    q.stop();
  });

  it('stop() cancels retries and releases idle() waiters', async () => {
    const q = new KeyedQueue(async () => Promise.resolve('retry' as const), { backoff: { initialMs: 10_000, maxMs: 10_000 } });
    q.add('k');
    await q.idle();
    assert.equal(q.retrying(), 1);
    q.stop();
    assert.equal(q.retrying(), 0);
  });
});
