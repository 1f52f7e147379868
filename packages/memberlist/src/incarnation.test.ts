import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareIncarnation, isNewerIncarnation, refutationIncarnation } from './incarnation.js';

test('incarnation: compareIncarnation (table)', { timeout: 10_000 }, () => {
  const J = 65_536;
  const table: Array<[number, number, string]> = [
    [5, 5, 'equal'],
    [6, 5, 'newer'],
    [5 + J, 5, 'newer'],
    [5 + J + 1, 5, 'far'],
    [4, 5, 'older'],
    [1, 600, 'older'], // a restarted member
    [0xffffffff, 5, 'far'], // the forged dead: Go would take it as newer
    [0, 0xffffffff, 'newer'], // wrap: 0 follows 0xffffffff
    [3, 0xfffffffe, 'newer'],
    [0xffffffff, 0, 'far'], // stale from before a wrap, numerically far above
    [0xfffffff0, 10, 'far'],
    [0x80000000, 0, 'far'],
  ];
  for (const [claim, known, want] of table) assert.equal(compareIncarnation(claim, known, J), want, `${claim} vs ${known}`);
  // The window is capped at 2^31 − 1: beyond that serial order is undefined.
  assert.equal(compareIncarnation(0x7fffffff, 0, 0xffffffff), 'newer');
  assert.equal(compareIncarnation(0x80000000, 0, 0xffffffff), 'far');
});

test('incarnation: serial order and refutation at the top of the range', { timeout: 10_000 }, () => {
  assert.equal(isNewerIncarnation(1, 0), true);
  assert.equal(isNewerIncarnation(0, 0xffffffff), true);
  assert.equal(isNewerIncarnation(0xffffffff, 0), false);
  assert.equal(isNewerIncarnation(7, 7), false);
  assert.equal(refutationIncarnation(8, 5), 8, 'our next one already beats the accusation');
  assert.equal(refutationIncarnation(2, 40), 41);
  assert.equal(refutationIncarnation(0xffffffff, 0xffffffff), 0, 'wraps to 0');
  assert.equal(refutationIncarnation(3, 0xffffffff), 3, '3 is newer than 0xffffffff in serial order');
});
