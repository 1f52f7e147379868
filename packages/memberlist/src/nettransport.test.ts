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

test('net transport: 3 nodes over UDP+TCP with encryption and a label converge, detect a kill, see a leave', { timeout: 120_000 }, async () => {
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

test('net transport: binding a busy port fails with context', { timeout: 120_000 }, async () => {
  const port = 25000 + (process.pid % 5000);
  const a = createMemberlist({ name: 'x', bindAddr: '127.0.0.2', bindPort: port });
  await a.start();
  const b = createMemberlist({ name: 'y', bindAddr: '127.0.0.2', bindPort: port });
  await assert.rejects(b.start(), /cannot listen/);
  await a.shutdown();
  await b.shutdown();
});

test('net transport: a start() that fails binds nothing (TCP released when UDP is taken; bad advertise address)', { timeout: 60_000 }, async () => {
  const { createSocket } = await import('node:dgram');
  const port = 26000 + (process.pid % 5000);
  // UDP port taken by someone else: start fails after binding TCP, and must release TCP.
  const squatter = createSocket('udp4');
  await new Promise<void>((resolve) => squatter.bind(port, '127.0.0.3', resolve));
  const a = createMemberlist({ name: 'x', bindAddr: '127.0.0.3', bindPort: port });
  await assert.rejects(a.start(), /cannot bind udp/);
  await new Promise<void>((resolve) => squatter.close(() => resolve()));
  const b = createMemberlist({ name: 'y', bindAddr: '127.0.0.3', bindPort: port });
  await b.start();
  await b.shutdown();
  // Bound to 0.0.0.0 without an advertise address: rejected, and both sockets released.
  const c = createMemberlist({ name: 'z', bindAddr: '0.0.0.0', bindPort: port + 1 });
  await assert.rejects(c.start(), /advertiseAddr/);
  const d = createMemberlist({ name: 'w', bindAddr: '127.0.0.3', bindPort: port + 1 });
  await d.start();
  await d.shutdown();
  // And the failed one can be started again once fixed? It keeps its options: still rejected, still clean.
  await assert.rejects(c.start(), /advertiseAddr/);
  await c.shutdown();
  await a.shutdown();
});

test('net transport: the UDP socket asks for a large receive buffer', { timeout: 30_000 }, async () => {
  const { NetTransport } = await import('./nettransport.js');
  const t = new NetTransport({ bindAddr: '127.0.0.3', bindPort: 0 });
  await t.start({ packet: () => undefined, stream: (s) => s.close() });
  // Linux grants min(asked, net.core.rmem_max) and reports double; the default rmem_max is 208 KiB.
  assert.ok(t.recvBufferBytes >= 2 * 212_992 || t.recvBufferBytes >= 400_000, `got ${t.recvBufferBytes}`);
  await t.close();
});
