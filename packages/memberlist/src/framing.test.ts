import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addCrc, addLabel, crc32ieee, decodeCompound, encodeCompound, makeCompounds, stripCrc, stripLabel, compressMessage, decompressMessage } from './framing.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const u8 = (...b: number[]): Uint8Array => Uint8Array.from(b);

test('framing: compound layout is 07, count, u16 lengths, parts', { timeout: 120_000 }, () => {
  const c = encodeCompound([u8(1, 2), u8(), u8(3)]);
  assert.equal(hex(c), '0703' + '0002' + '0000' + '0001' + '0102' + '03');
  assert.deepEqual(decodeCompound(c), { parts: [u8(1, 2), u8(), u8(3)], truncated: 0 });
});

test('framing: a short compound keeps the parts that fit, like Go', { timeout: 120_000 }, () => {
  const c = encodeCompound([u8(1, 2), u8(3, 4, 5)]);
  const r = decodeCompound(c.subarray(0, c.length - 1));
  assert.deepEqual(r.parts, [u8(1, 2)]);
  assert.equal(r.truncated, 1);
  assert.throws(() => decodeCompound(u8(7, 2, 0)), /length table/);
  assert.throws(() => decodeCompound(u8(7)), /header/);
});

test('framing: makeCompounds sends one message alone and splits at 255 parts', { timeout: 120_000 }, () => {
  assert.deepEqual(makeCompounds([u8(9)]), [u8(9)]);
  const many = Array.from({ length: 300 }, (_, i) => u8(i & 0xff));
  const out = makeCompounds(many);
  assert.equal(out.length, 2);
  assert.equal(out[0]?.[1], 255);
  assert.equal(out[1]?.[1], 45);
});

test('framing: CRC-32/IEEE header (0c + big-endian crc), check value 123456789', { timeout: 120_000 }, () => {
  assert.equal(crc32ieee(new TextEncoder().encode('123456789')), 0xcbf43926);
  const framed = addCrc(u8(0x00, 0x80));
  assert.equal(framed[0], 12);
  assert.deepEqual(stripCrc(framed), u8(0x00, 0x80));
  const bad = framed.slice();
  bad[6] = (bad[6] ?? 0) ^ 1;
  assert.throws(() => stripCrc(bad), /mismatch/);
  // No header: passed through unchanged (Go sends pings without CRC).
  assert.deepEqual(stripCrc(u8(0, 1, 2)), u8(0, 1, 2));
});

test('framing: label header f4 len label; empty label adds nothing', { timeout: 120_000 }, () => {
  const l = new TextEncoder().encode('prod');
  assert.equal(hex(addLabel(u8(7), l)), 'f404' + '70726f64' + '07');
  assert.deepEqual(addLabel(u8(7), new Uint8Array(0)), u8(7));
  assert.deepEqual(stripLabel(addLabel(u8(7), l)), { label: l, rest: u8(7) });
  assert.throws(() => stripLabel(u8(0xf4, 0)), /zero length/);
  assert.throws(() => stripLabel(u8(0xf4, 5, 1)), /truncated/);
});

test('framing: compress message is 09 {Algo:0, Buf:lzw} and round-trips', { timeout: 120_000 }, () => {
  const msg = new TextEncoder().encode('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
  const c = compressMessage(msg);
  assert.equal(hex(c.subarray(0, 9)), '0982a4416c676f00a3');
  assert.deepEqual(decompressMessage(c), msg);
  assert.throws(() => decompressMessage(u8(9, 0x81, 0xa4, 0x41, 0x6c, 0x67, 0x6f, 0x01)), /algorithm|LZW/);
});
