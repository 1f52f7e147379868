import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { lzwCompress, lzwDecompress } from './lzw.js';

const go = JSON.parse(readFileSync(new URL('./testdata/go-vectors.json', import.meta.url), 'utf8')) as Record<string, string>;
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

for (const i of [0, 1, 2, 3]) {
  test(`lzw: Go vector ${i} compresses identically and decompresses`, { timeout: 120_000 }, () => {
    const input = unhex(go[`lzwIn${i}`] ?? '');
    const want = go[`lzwOut${i}`] ?? '';
    assert.equal(hex(lzwCompress(input)), want);
    assert.deepEqual(lzwDecompress(unhex(want), 1 << 20), input);
  });
}

test('lzw: empty input is clear + EOF (00 03 02), as Go ≥ 1.17 writes it', { timeout: 120_000 }, () => {
  assert.equal(hex(lzwCompress(new Uint8Array(0))), '000302');
});

test('lzw: a stream without the leading clear code (older Go writers) still decodes', { timeout: 120_000 }, () => {
  // "A" then EOF at 9 bits: 0x41 | 257<<9 → 41 02 02
  assert.deepEqual(lzwDecompress(Uint8Array.of(0x41, 0x02, 0x02), 100), Uint8Array.of(0x41));
});

test('lzw: round trip across table resets (> 4096 codes) and random data', { timeout: 120_000 }, () => {
  let seed = 7;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  for (const size of [1, 2, 255, 5000, 70000]) {
    const low = Uint8Array.from({ length: size }, () => rnd() % 4);
    const high = Uint8Array.from({ length: size }, () => rnd());
    for (const input of [low, high]) assert.deepEqual(lzwDecompress(lzwCompress(input), 1 << 20), input);
  }
});

test('lzw: missing EOF, invalid code and oversize output are errors', { timeout: 120_000 }, () => {
  const c = lzwCompress(new TextEncoder().encode('hello hello hello hello'));
  assert.throws(() => lzwDecompress(c.subarray(0, c.length - 2), 1000), /unexpected EOF/);
  assert.throws(() => lzwDecompress(Uint8Array.of(0xff, 0xff, 0xff), 1000), /invalid code|unexpected EOF/);
  assert.throws(() => lzwDecompress(lzwCompress(new Uint8Array(5000)), 100), /exceeds/);
});
