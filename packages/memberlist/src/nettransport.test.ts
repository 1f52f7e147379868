/** Real UDP/TCP sockets on loopback (127.0.0.x, unique ports). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Keyring } from './crypto.js';
import { createMemberlist, type Memberlist } from './memberlist.js';

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}

test('net transport: 3 nodes over UDP+TCP with encryption and a label converge, detect a kill, see a leave', async () => {
  const key = new Keyring([new Uint8Array(32).fill(5)]);
  const base = 20000 + (process.pid % 5000) * 3;
  const mls: Memberlist[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const ml = createMemberlist({ name: `u${i}`, bindAddr: `127.0.0.${i + 2}`, bindPort: base + i, keyring: key, label: 'ironlb-test', preset: 'fast' });
      await ml.start();
      mls.push(ml);
    }
    const [a, b, c] = mls as [Memberlist, Memberlist, Memberlist];
    assert.equal(await b.join([`127.0.0.2:${base}`]), 1);
    assert.equal(await c.join([`127.0.0.2:${base}`]), 1);
    await waitFor('3 alive', () => mls.every((m) => m.members().filter((x) => x.state === 'alive').length === 3), 5000);
    await c.shutdown();
    await waitFor('u2 dead', () => [a, b].every((m) => m.members().find((x) => x.name === 'u2')?.state === 'dead'), 5000);
    await b.leave(500);
    await b.shutdown();
    await waitFor('u1 left', () => a.members().find((x) => x.name === 'u1')?.state === 'left', 1000);
    assert.equal(a.stats().dropped.decrypt ?? 0, 0);
  } finally {
    await Promise.all(mls.map((m) => m.shutdown()));
  }
});

test('net transport: binding a busy port fails with context', async () => {
  const port = 25000 + (process.pid % 5000);
  const a = createMemberlist({ name: 'x', bindAddr: '127.0.0.2', bindPort: port });
  await a.start();
  const b = createMemberlist({ name: 'y', bindAddr: '127.0.0.2', bindPort: port });
  await assert.rejects(b.start(), /cannot listen/);
  await a.shutdown();
  await b.shutdown();
});
