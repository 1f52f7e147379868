/** The announce/withdraw diff over (ip, owner) pairs. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyDiff, diffAnnouncements } from './diff.js';

describe('diffAnnouncements', () => {
  it('withdraws what is no longer wanted and announces what is new, per owner', () => {
    const have = new Map([
      ['10.0.0.1', new Set(['a/x', 'a/y'])],
      ['10.0.0.2', new Set(['a/z'])],
    ]);
    const want = new Map([
      ['10.0.0.1', ['a/x']],
      ['10.0.0.3', ['a/z']],
    ]);
    const d = diffAnnouncements(have, want);
    assert.deepEqual(d.withdraw, [
      { ip: '10.0.0.1', owner: 'a/y' },
      { ip: '10.0.0.2', owner: 'a/z' },
    ]);
    assert.deepEqual(d.announce, [{ ip: '10.0.0.3', owner: 'a/z' }]);
    applyDiff(have, d);
    assert.deepEqual(
      [...have].map(([ip, s]) => [ip, [...s]]),
      [
        ['10.0.0.1', ['a/x']],
        ['10.0.0.3', ['a/z']],
      ],
    );
    assert.deepEqual(diffAnnouncements(have, want), { withdraw: [], announce: [] });
  });
});
