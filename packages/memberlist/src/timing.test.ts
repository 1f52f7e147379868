import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FAST, LAN, LOCAL, RAPID, applyAwareness, expectedDetectionMs, pushPullScale, retransmitLimit, scaleByAwareness, suspicionParams, suspicionTimeoutAfter } from './timing.js';

test('timing: suspicion params match memberlist §6.5/§6.6 (table)', { timeout: 120_000 }, () => {
  const table: Array<[string, typeof LAN, number, { min: number; max: number; k: number }]> = [
    ['LAN n=3 (k=0)', LAN, 3, { min: 4000, max: 24000, k: 0 }],
    ['LAN n=5', LAN, 5, { min: 4000, max: 24000, k: 2 }],
    ['LAN n=20', LAN, 20, { min: 5204, max: 31224, k: 2 }],
    ['LAN n=100', LAN, 100, { min: 8000, max: 48000, k: 2 }],
    ['Local n=2', LOCAL, 2, { min: 3000, max: 18000, k: 0 }],
    ['Local n=3', LOCAL, 3, { min: 3000, max: 18000, k: 1 }],
    ['fast n=2', FAST, 2, { min: 300, max: 600, k: 0 }],
    ['fast n=3', FAST, 3, { min: 300, max: 600, k: 1 }],
    ['fast n=10', FAST, 10, { min: 300, max: 600, k: 1 }],
    ['fast n=20', FAST, 20, { min: 390.3, max: 780.6, k: 1 }],
  ];
  for (const [name, t, n, want] of table) assert.deepEqual(suspicionParams(t, n), want, name);
});

test('timing: confirmations shrink the timeout from max toward min (Lifeguard)', { timeout: 120_000 }, () => {
  // LAN n=5: min 4 s, max 24 s, k 2: after 1 confirmation ≈ 11.4 s, after 2: 4 s.
  assert.equal(suspicionTimeoutAfter(4000, 24000, 2, 0), 24000);
  assert.equal(suspicionTimeoutAfter(4000, 24000, 2, 1), 11381);
  assert.equal(suspicionTimeoutAfter(4000, 24000, 2, 2), 4000);
  assert.equal(suspicionTimeoutAfter(4000, 24000, 2, 3), 4000);
  assert.equal(suspicionTimeoutAfter(300, 600, 0, 0), 300);
  assert.equal(suspicionTimeoutAfter(300, 600, 1, 1), 300);
});

test('timing: retransmit limit, push/pull scale, awareness', { timeout: 120_000 }, () => {
  assert.deepEqual(
    [1, 9, 10, 99, 100].map((n) => retransmitLimit(4, n)),
    [4, 4, 8, 8, 12],
  );
  assert.deepEqual(
    [32, 33, 64, 65, 128].map((n) => pushPullScale(30000, n)),
    [30000, 60000, 60000, 90000, 90000],
  );
  assert.equal(applyAwareness(0, -1, 8), 0);
  assert.equal(applyAwareness(6, 5, 8), 7);
  assert.equal(applyAwareness(3, 1, 4), 3);
  assert.equal(scaleByAwareness(100, 3), 400);
});

test('timing: fast preset is sub-second by its own formula', { timeout: 120_000 }, () => {
  for (const n of [2, 3, 10]) {
    const e = expectedDetectionMs(FAST, n);
    assert.ok(e.typical < 1000 && e.worst < 1000, `n=${n}: ${JSON.stringify(e)}`);
  }
  assert.deepEqual(expectedDetectionMs(FAST, 3), { typical: 450, worst: 800 });
});

test('timing: rapid preset targets ~150 ms detection for 3 members by its own formula', { timeout: 10_000 }, () => {
  assert.deepEqual(suspicionParams(RAPID, 3), { min: 90, max: 270, k: 1 });
  assert.deepEqual(expectedDetectionMs(RAPID, 3), { typical: 135, worst: 330 });
  assert.ok(RAPID.probeTimeout < RAPID.probeInterval / 2);
});
