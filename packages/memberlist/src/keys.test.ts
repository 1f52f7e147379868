/**
 * Runtime key rotation, metadata updates and required encryption, on virtual time: the speaker
 * rotates the gossip key without a partition (install the new key beside the old, switch the
 * primary, drop the old one once everyone uses the new one) and advertises in its meta which
 * keys it holds.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Keyring, keyFingerprint } from './crypto.js';
import { MsgType, encodeMessage } from './messages.js';
import { encodePacket } from './packet.js';
import { SimCluster, type SimNode } from './sim.js';

const k1 = new Uint8Array(32).fill(1);
const k2 = new Uint8Array(32).fill(2);

async function keyedCluster(n: number, extra: Parameters<SimCluster['add']>[1] = {}): Promise<SimCluster> {
  const c = new SimCluster({ seed: 3, node: { preset: 'fast' } });
  for (let i = 0; i < n; i++) await c.add(`k${i}`, { keyring: new Keyring([k1]), ...extra });
  await c.joinAll();
  assert.notEqual(await c.converge(10_000), undefined);
  return c;
}

const drops = (c: SimCluster): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const n of c.nodes) for (const [k, v] of Object.entries(n.ml.stats().dropped)) out[k] = (out[k] ?? 0) + (v ?? 0);
  return out;
};
const leaves = (c: SimCluster): string[] => c.nodes.flatMap((n) => n.events.filter((e) => e.type === 'leave').map((e) => `${n.name}:${e.member.name}`));

describe('key rotation', { timeout: 60_000 }, () => {
  test('add everywhere, use one by one, remove: no packet lost, nobody suspected', async () => {
    const c = await keyedCluster(4);
    await c.clock.advance(1000);
    const before = drops(c);
    for (const n of c.nodes) n.ml.addKey(k2);
    await c.clock.advance(500);
    // Switch the primary one node at a time, with gossip in between: everyone decrypts both.
    for (const n of c.nodes) {
      n.ml.useKey(k2);
      await c.clock.advance(300);
    }
    for (const n of c.nodes) n.ml.removeKey(k1);
    await c.clock.advance(2000);
    assert.deepEqual(drops(c), before, 'no drops during the rotation');
    assert.deepEqual(leaves(c), []);
    assert.equal(
      c.nodes.reduce((a, n) => a + n.ml.stats().suspicionsRaised, 0),
      0,
      'no suspicion',
    );
    for (const n of c.nodes) assert.deepEqual(n.ml.keys(), [k2]);
    // A member still on the old key only is now locked out, and its packets count as decrypt.
    const late = await c.add('old', { keyring: new Keyring([k1]) });
    assert.equal(await c.run(late.ml.join([`${c.nodes[0]?.addr}:7946`])), 0);
    await c.clock.advance(500);
    assert.ok((c.nodes[0]?.ml.stats().dropped.decrypt ?? 0) > 0);
    assert.deepEqual(
      c.nodes[0]?.ml
        .members()
        .map((m) => m.name)
        .sort(),
      ['k0', 'k1', 'k2', 'k3'],
    );
    await c.shutdown();
  });

  test('switching the primary before every member holds the key loses packets (why the order matters)', async () => {
    const c = await keyedCluster(2);
    const [a, b] = c.nodes as [SimNode, SimNode];
    a.ml.addKey(k2);
    a.ml.useKey(k2);
    await c.clock.advance(1000);
    assert.ok((b.ml.stats().dropped.decrypt ?? 0) > 0);
    await c.shutdown();
  });

  test('keyring API: copies out, errors without a keyring, fingerprints are stable and distinct', async () => {
    const c = new SimCluster({ node: { preset: 'fast' } });
    const plain = await c.add('p');
    assert.throws(() => plain.ml.addKey(k2), /not configured/);
    assert.deepEqual(plain.ml.keys(), []);
    const keyed = await c.add('q', { keyring: new Keyring([k1]) });
    const ks = keyed.ml.keys();
    ks[0]?.fill(9);
    assert.deepEqual(keyed.ml.keys(), [k1], 'keys() returns copies');
    assert.throws(() => keyed.ml.useKey(k2), /not installed/);
    assert.throws(() => keyed.ml.removeKey(k1), /primary/);
    assert.equal(keyFingerprint(k1), keyFingerprint(new Uint8Array(32).fill(1)));
    assert.notEqual(keyFingerprint(k1), keyFingerprint(k2));
    assert.match(keyFingerprint(k1), /^[0-9a-f]{16}$/);
    await c.shutdown();
  });
});

describe('metadata updates', { timeout: 60_000 }, () => {
  test('updateMeta re-announces at a new incarnation; every peer fires update with the new meta', async () => {
    const c = await keyedCluster(4);
    const [a] = c.nodes as [SimNode];
    const inc = a.ml.localMember().incarnation;
    const meta = new TextEncoder().encode(`keys=${keyFingerprint(k1)},${keyFingerprint(k2)};primary=${keyFingerprint(k1)}`);
    const at = c.clock.now();
    await c.run(a.ml.updateMeta(meta));
    assert.equal(a.ml.localMember().incarnation, inc + 1);
    assert.deepEqual(a.ml.localMember().meta, meta);
    const took = await c.clock.advanceUntil(() => c.nodes.every((n) => n.events.some((e) => e.type === 'update' && e.member.name === 'k0' && Buffer.from(e.member.meta).equals(meta))), 2000, 5);
    assert.notEqual(took, undefined, 'every node (k0 included) saw the update');
    for (const n of c.nodes) assert.deepEqual(n.ml.members().find((m) => m.name === 'k0')?.meta, meta);
    const last = Math.max(...c.nodes.flatMap((n) => n.events.filter((e) => e.type === 'update').map((e) => e.t)));
    assert.ok(last - at < 300, `propagated in ${last - at} ms of virtual time`);
    await assert.rejects(c.run(a.ml.updateMeta(new Uint8Array(513))), /meta larger/);
    await c.shutdown();
  });
});

describe('required encryption', { timeout: 60_000 }, () => {
  test('a keyed node drops plaintext (plaintext) and foreign-key (decrypt) packets', async () => {
    const c = await keyedCluster(2);
    const [a, b] = c.nodes as [SimNode, SimNode];
    const ping = encodeMessage({ type: MsgType.ping, body: { seqNo: 1, node: 'k0' } });
    const from = { addr: b.addr, port: 7946 };
    const to = { addr: a.addr, port: 7946 };
    const base = { ...a.ml.stats().dropped };
    c.net.inject(from, to, encodePacket(ping, { keys: [], label: new Uint8Array(0), compress: false }, false));
    c.net.inject(from, to, encodePacket(ping, { keys: [], label: new Uint8Array(0), compress: true }, true));
    c.net.inject(from, to, encodePacket(ping, { keys: [k2], label: new Uint8Array(0), compress: false }, false));
    await c.clock.advance(10);
    const d = a.ml.stats().dropped;
    assert.equal((d.plaintext ?? 0) - (base.plaintext ?? 0), 2);
    assert.equal((d.decrypt ?? 0) - (base.decrypt ?? 0), 1);
    await c.shutdown();
  });

  test('requireEncryption: false (Go GossipVerifyIncoming = false) accepts plaintext as well', async () => {
    const c = new SimCluster({ seed: 4, node: { preset: 'fast' } });
    const lax = await c.add('a', { keyring: new Keyring([k1]), requireEncryption: false });
    const strict = await c.add('s', { keyring: new Keyring([k1]) });
    const alive = (node: string, last: number): Uint8Array =>
      encodeMessage({ type: MsgType.alive, body: { node, incarnation: 1, addr: Uint8Array.of(10, 9, 0, last), port: 7946, meta: new Uint8Array(0), vsn: Uint8Array.of(1, 5, 2, 0, 0, 0) } });
    const none = new Uint8Array(0);
    const plainPkt = encodePacket(alive('x', 1), { keys: [], label: none, compress: false }, true);
    for (const to of [lax, strict]) c.net.inject({ addr: '10.9.0.1', port: 7946 }, { addr: to.addr, port: 7946 }, plainPkt);
    // Encrypted traffic still works for the lax node.
    c.net.inject({ addr: '10.9.0.2', port: 7946 }, { addr: lax.addr, port: 7946 }, encodePacket(alive('y', 2), { keys: [k1], label: none, compress: false }, false));
    await c.clock.advance(10);
    assert.deepEqual(
      lax.ml
        .members()
        .map((m) => m.name)
        .sort(),
      ['a', 'x', 'y'],
    );
    assert.equal(lax.ml.stats().dropped.plaintext, undefined);
    assert.deepEqual(
      strict.ml.members().map((m) => m.name),
      ['s'],
    );
    assert.equal(strict.ml.stats().dropped.plaintext, 1);
    await c.shutdown();
  });
});
