/**
 * Fuzzing of every decoder with seeded random and mutated inputs (≥ 100k in total, a few
 * seconds): decoders may only report typed drops/errors, never throw anything else or hang.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameError, decodeCompound, encodeCompound, compressMessage } from './framing.js';
import { LzwError, lzwCompress, lzwDecompress } from './lzw.js';
import { DEFAULT_VSN, DecodeError, MsgType, decodeMessage, encodeMessage, type Message } from './messages.js';
import { MsgpackError, decode } from './msgpack.js';
import { decodePacket, encodePacket } from './packet.js';
import { StreamError, encodePushPull, encodeStreamFrame, tryParseStream } from './stream.js';

let seed = 0x1234567;
function rnd(): number {
  // xorshift32: reproducible across runs.
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 0x100000000;
}
const int = (n: number): number => Math.floor(rnd() * n);

const key = new Uint8Array(16).fill(4);
const msgs: Message[] = [
  { type: MsgType.ping, body: { seqNo: 1, node: 'b', sourceAddr: Uint8Array.of(127, 0, 0, 1), sourcePort: 7946, sourceNode: 'a' } },
  { type: MsgType.indirectPing, body: { seqNo: 2, target: Uint8Array.of(10, 0, 0, 2), port: 7946, node: 'n', nack: true } },
  { type: MsgType.ackResp, body: { seqNo: 3, payload: Uint8Array.of(1) } },
  { type: MsgType.nackResp, body: { seqNo: 4 } },
  { type: MsgType.suspect, body: { incarnation: 5, node: 'x', from: 'y' } },
  { type: MsgType.dead, body: { incarnation: 6, node: 'x', from: 'x' } },
  { type: MsgType.alive, body: { incarnation: 7, node: 'n', addr: Uint8Array.of(1, 2, 3, 4), port: 1, meta: new Uint8Array(0), vsn: DEFAULT_VSN } },
];
const plainMsgs = msgs.map(encodeMessage);
const seeds: Uint8Array[] = [
  ...plainMsgs,
  encodeCompound(plainMsgs),
  compressMessage(encodeCompound(plainMsgs)),
  ...plainMsgs.map((m) => encodePacket(m, { keys: [], label: new Uint8Array(0), compress: false }, true)),
  encodePushPull(true, [{ name: 'a', addr: Uint8Array.of(1, 2, 3, 4), port: 1, meta: new Uint8Array(0), incarnation: 1, state: 0, vsn: DEFAULT_VSN }], Uint8Array.of(1)),
];

function mutate(src: Uint8Array): Uint8Array {
  const b = Array.from(src);
  const n = 1 + int(4);
  for (let i = 0; i < n; i++) {
    switch (int(6)) {
      case 0:
        if (b.length) {
          const j = int(b.length);
          b[j] = (b[j] ?? 0) ^ (1 << int(8));
        }
        break;
      case 1:
        if (b.length) b[int(b.length)] = int(256);
        break;
      case 2:
        b.splice(int(b.length + 1), 0, int(256));
        break;
      case 3:
        if (b.length) b.splice(int(b.length), 1 + int(4));
        break;
      case 4:
        b.length = int(b.length + 1);
        break;
      default: {
        // Interesting msgpack/type bytes.
        const special = [0x00, 0x07, 0x09, 0x0a, 0x0c, 0xf4, 0xc0, 0xc1, 0xdc, 0xdd, 0xde, 0xdf, 0xdb, 0xce, 0xcf, 0xd3, 0xff, 0x7f, 0x80];
        if (b.length) b[int(b.length)] = special[int(special.length)] ?? 0;
      }
    }
  }
  return Uint8Array.from(b);
}

function input(): Uint8Array {
  if (rnd() < 0.3) return Uint8Array.from({ length: int(64) }, () => int(256));
  return mutate(seeds[int(seeds.length)] ?? new Uint8Array(0));
}

function expectOnly(what: string, buf: Uint8Array, allowed: Array<new (...a: never[]) => Error>, fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!allowed.some((c) => err instanceof c)) {
      assert.fail(`${what} threw ${String(err)} on ${Buffer.from(buf).toString('hex')}`);
    }
  }
}

test('fuzz: decoders survive ≥ 100k random and mutated inputs', () => {
  const N = 25_000;
  let total = 0;
  for (let i = 0; i < N; i++) {
    const buf = input();
    // Packet pipeline never throws: everything becomes a typed drop.
    const opened = decodePacket(buf, { keys: i % 8 === 0 ? [key] : [], label: new Uint8Array(0) });
    assert.ok(Array.isArray(opened.messages));
    expectOnly('decodeMessage', buf, [DecodeError], () => decodeMessage(buf));
    expectOnly('tryParseStream', buf, [StreamError], () => tryParseStream(buf, { keys: [], label: new Uint8Array(0), compress: false }, true, i % 2 === 0));
    expectOnly('msgpack', buf, [MsgpackError], () => decode(buf));
    expectOnly('compound', buf, [FrameError], () => decodeCompound(buf));
    total += 5;
  }
  // LZW gets its own inputs: mutations of valid compressed streams.
  const lz = [lzwCompress(new TextEncoder().encode('abcabcabcabcabcabc-memberlist')), lzwCompress(Uint8Array.from({ length: 300 }, (_, i) => i % 7))];
  for (let i = 0; i < 10_000; i++) {
    const buf = rnd() < 0.5 ? mutate(lz[i % 2] ?? new Uint8Array(0)) : Uint8Array.from({ length: int(40) }, () => int(256));
    expectOnly('lzw', buf, [LzwError], () => lzwDecompress(buf, 1 << 16));
    total++;
  }
  // Encrypted stream frames with mutations exercise the decrypt path.
  const frame = encodeStreamFrame(plainMsgs[0] ?? new Uint8Array(0), { keys: [key], label: new Uint8Array(0), compress: true }, true);
  for (let i = 0; i < 2_000; i++) {
    const buf = mutate(frame);
    expectOnly('tryParseStream(keyed)', buf, [StreamError], () => tryParseStream(buf, { keys: [key], label: new Uint8Array(0), compress: true }, true, true));
    total++;
  }
  assert.ok(total >= 100_000, `only ${total} inputs`);
});
