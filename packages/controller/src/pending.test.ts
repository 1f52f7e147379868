import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PendingServices } from './pending.js';

describe('PendingServices', { timeout: 10_000 }, () => {
  it('orders by creation time then key, and walks oldest first with deletes on the way', () => {
    const p = new PendingServices();
    p.add('ns/c', 30);
    p.add('ns/a', 10);
    p.add('ns/b2', 20);
    p.add('ns/b1', 20);
    p.add('ns/a', 10); // again: no duplicate
    assert.deepEqual(p.oldestFirst(), ['ns/a', 'ns/b1', 'ns/b2', 'ns/c']);
    p.add('ns/a', 40); // re-created: moves
    assert.deepEqual(p.oldestFirst(), ['ns/b1', 'ns/b2', 'ns/c', 'ns/a']);
    const seen: string[] = [];
    p.walk((k) => {
      seen.push(k);
      if (k === 'ns/b2') p.delete(k);
      return k !== 'ns/c';
    });
    assert.deepEqual(seen, ['ns/b1', 'ns/b2', 'ns/c'], 'stops when asked; a delete does not skip the next');
    assert.deepEqual(p.oldestFirst(), ['ns/b1', 'ns/c', 'ns/a']);
    assert.equal(p.size, 3);
    p.delete('ns/none');
    assert.equal(p.has('ns/c'), true);
  });

  it('costs only what it visits', () => {
    const p = new PendingServices();
    for (let i = 0; i < 10_000; i++) p.add(`ns/s${i}`, i);
    let visited = 0;
    p.walk(() => ++visited < 10);
    assert.equal(visited, 10);
  });
});
