/**
 * Fuzzing of every decoder, and of a whole node's receive path, with seeded random and mutated
 * inputs: decoders may only report typed drops/errors, never throw anything else or hang; the
 * node never hits an internal error and keeps its tables and memory bounded.
 *
 * Default: ≥ 100k inputs per test (a few seconds). MEMBERLIST_FUZZ_N=1000000 runs a million
 * inputs per test (the long mode), e.g.
 *   MEMBERLIST_FUZZ_N=1000000 npx tsx --test packages/memberlist/src/fuzz.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Keyring } from './crypto.js';
import { SimCluster } from './sim.js';
import { FrameError, decodeCompound, encodeCompound, compressMessage } from './framing.js';
import { LzwError, lzwCompress, lzwDecompress } from './lzw.js';
import { DEFAULT_VSN, DecodeError, MsgType, decodeMessage, encodeCompress, encodeMessage, type Message } from './messages.js';
import { MsgpackError, decode } from './msgpack.js';
import { decodePacket, encodePacket, screenPacket } from './packet.js';
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
/** Inputs per test: MEMBERLIST_FUZZ_N, default 100k. */
const TARGET = Math.max(1000, Number(process.env.MEMBERLIST_FUZZ_N ?? '') || 100_000);

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

test(`fuzz: decoders survive ≥ ${TARGET} random and mutated inputs`, { timeout: 1_800_000 }, () => {
  // 5 decoders per iteration below, plus 12k LZW and stream-frame inputs.
  const N = Math.ceil(Math.max(0, TARGET - 12_000) / 5);
  let total = 0;
  for (let i = 0; i < N; i++) {
    const buf = input();
    // Packet pipeline never throws: everything becomes a typed drop.
    const opened = decodePacket(buf, { keys: i % 8 === 0 ? [key] : [], label: new Uint8Array(0) });
    assert.ok(Array.isArray(opened.messages));
    expectOnly('decodeMessage', buf, [DecodeError], () => decodeMessage(buf));
    expectOnly('tryParseStream', buf, [StreamError], () => tryParseStream(buf, { keys: [], label: new Uint8Array(0), compress: false, maxBytes: 1 << 20, maxNodes: 1024 }, true, i % 2 === 0));
    screenPacket(buf, { label: new Uint8Array(0), encrypted: i % 8 === 0, allowPlaintext: false, maxBytes: 65536 });
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
  assert.ok(total >= TARGET, `only ${total} inputs`);
});

/** A seed packet body for the receive-path fuzz: plausible messages about a small name space. */
function nodeSeed(): Uint8Array {
  const name = `m${int(40)}`;
  const inc = rnd() < 0.1 ? 0xffffffff - int(3) : int(10);
  const pick: Message[] = [
    {
      type: MsgType.alive,
      body: { incarnation: inc, node: rnd() < 0.3 ? `junk-${int(5000)}` : name, addr: Uint8Array.of(10, 50, int(256), int(256)), port: 7946, meta: new Uint8Array(int(600)), vsn: DEFAULT_VSN },
    },
    { type: MsgType.suspect, body: { incarnation: inc, node: rnd() < 0.2 ? 'target' : name, from: `m${int(40)}` } },
    { type: MsgType.dead, body: { incarnation: inc, node: rnd() < 0.2 ? 'target' : name, from: rnd() < 0.5 ? name : 'x' } },
    { type: MsgType.ping, body: { seqNo: int(1000), node: rnd() < 0.5 ? 'target' : name, sourceAddr: Uint8Array.of(10, 50, 0, 1), sourcePort: 7946, sourceNode: name } },
    { type: MsgType.indirectPing, body: { seqNo: int(1000), target: Uint8Array.of(10, 50, 0, int(256)), port: 7946, node: name, nack: rnd() < 0.5 } },
    { type: MsgType.ackResp, body: { seqNo: int(1000), payload: new Uint8Array(0) } },
    { type: MsgType.nackResp, body: { seqNo: int(1000) } },
  ];
  const one = (): Uint8Array => encodeMessage(pick[int(pick.length)] as Message);
  let body = rnd() < 0.4 ? encodeCompound(Array.from({ length: 1 + int(20) }, one)) : one();
  if (rnd() < 0.3) body = encodeCompress({ algo: 0, buf: lzwCompress(body) });
  return mutate(body);
}

test(`fuzz: a node's receive path survives ≥ ${TARGET} mutated packets with bounded tables and memory`, { timeout: 1_800_000 }, async (t) => {
  const key = new Uint8Array(32).fill(3);
  const errors: string[] = [];
  // Error-level lines about the input (a conflicting address) are expected; internal errors are not.
  const logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: (o: object, m: string) => void (/internal|threw/.test(m) && errors.push(`${m} ${JSON.stringify(o)}`)),
  };
  const c = new SimCluster({ seed: 5, node: { preset: 'fast', logger, limits: { maxMembers: 256 } } });
  const plain = await c.add('target');
  const keyed = await c.add('target', { keyring: new Keyring([key]) }, '10.1.1.1');
  const heap0 = process.memoryUsage().heapUsed;
  let heapPeak = 0;
  for (let i = 0; i < TARGET; i++) {
    const body = nodeSeed();
    const to = i % 2 === 0 ? plain : keyed;
    // Seal for the keyed node so mutated *plaintext* reaches its decoders after decryption.
    const pkt = to === keyed && rnd() < 0.9 ? encodePacket(body, { keys: [key], label: new Uint8Array(0), compress: false }, rnd() < 0.5) : body;
    c.net.inject({ addr: `10.50.0.${1 + int(200)}`, port: 7946 }, { addr: to.addr, port: 7946 }, pkt);
    if (i % 500 === 499) {
      await c.clock.advance(20);
      if (i % 20_000 === 19_999) heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed - heap0);
    }
  }
  await c.clock.advance(2000);
  assert.deepEqual(errors.slice(0, 5), [], 'no internal error');
  for (const n of [plain, keyed]) {
    const s = n.ml.stats();
    assert.ok(n.ml.members().length <= 256, `${n.name}: ${n.ml.members().length} members`);
    assert.ok(s.packetsReceived >= TARGET / 2 - 10, `${n.name} received ${s.packetsReceived}`);
  }
  assert.ok(heapPeak < 256 * 1024 * 1024, `heap grew by ${(heapPeak / 1048576).toFixed(0)} MiB`);
  t.diagnostic(
    `${TARGET} packets; heap growth peak ${(heapPeak / 1048576).toFixed(1)} MiB; members ${plain.ml.members().length}/${keyed.ml.members().length}; drops ${JSON.stringify(plain.ml.stats().dropped)} / ${JSON.stringify(keyed.ml.stats().dropped)}`,
  );
  await c.shutdown();
});
