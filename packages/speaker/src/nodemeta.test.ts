/** Node meta: byte layout, round trips, caps and refusal of foreign or broken meta. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_META_KEYS, MAX_META_MACS, decodeNodeMeta, encodeNodeMeta, keyFingerprint } from './nodemeta.js';

describe('node meta', () => {
  it('encodes field by field', () => {
    const b = encodeNodeMeta({ macs: ['02:00:00:00:00:0a'], keys: ['0102030405060708'], primary: '0102030405060708' });
    assert.deepEqual([...b], [0x69, 0x6c, 0x62, 0x01, 1, 2, 0, 0, 0, 0, 0x0a, 1, 1, 2, 3, 4, 5, 6, 7, 8, 0]);
    assert.deepEqual(decodeNodeMeta(b), { macs: ['02:00:00:00:00:0a'], keys: ['0102030405060708'], primary: '0102030405060708' });
  });
  it('plaintext: no keys, primary none', () => {
    const b = encodeNodeMeta({ macs: [], keys: [], primary: null });
    assert.deepEqual([...b], [0x69, 0x6c, 0x62, 0x01, 0, 0, 0xff]);
    assert.deepEqual(decodeNodeMeta(b), { macs: [], keys: [], primary: null });
  });
  it('round-trips, keeps the primary when capping keys, caps MACs, fits memberlist (≤ 512 bytes)', () => {
    const macs = Array.from({ length: 40 }, (_, i) => `02:00:00:00:00:${i.toString(16).padStart(2, '0')}`);
    const keys = Array.from({ length: 6 }, (_, i) => keyFingerprint(Uint8Array.of(i)));
    const b = encodeNodeMeta({ macs, keys, primary: keys[5] ?? null });
    assert.ok(b.length <= 512);
    const m = decodeNodeMeta(b);
    assert.equal(m?.macs.length, MAX_META_MACS);
    assert.equal(m?.keys.length, MAX_META_KEYS);
    assert.equal(m?.primary, keys[5]);
  });
  it('refuses foreign magic, truncation, trailing bytes, a primary out of range', () => {
    const good = encodeNodeMeta({ macs: ['02:00:00:00:00:01'], keys: ['0102030405060708'], primary: null });
    assert.equal(decodeNodeMeta(new Uint8Array(0)), null);
    assert.equal(decodeNodeMeta(Uint8Array.from([0x6d, ...good.subarray(1)])), null);
    for (let n = 0; n < good.length; n++) assert.equal(decodeNodeMeta(good.subarray(0, n)), null, `truncated at ${n}`);
    assert.equal(decodeNodeMeta(Uint8Array.from([...good, 0])), null);
    const bad = good.slice();
    bad[bad.length - 1] = 1;
    assert.equal(decodeNodeMeta(bad), null);
  });
  it('never throws on random input', () => {
    let seed = 7;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let i = 0; i < 20000; i++) {
      const b = Uint8Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256));
      if (rnd() < 0.5 && b.length >= 4) b.set([0x69, 0x6c, 0x62, 0x01]);
      decodeNodeMeta(b);
    }
  });
  it('fingerprints are 16 hex digits and differ per key', () => {
    const a = keyFingerprint(new Uint8Array(32));
    assert.match(a, /^[0-9a-f]{16}$/);
    assert.notEqual(a, keyFingerprint(new Uint8Array(32).fill(1)));
  });
});
