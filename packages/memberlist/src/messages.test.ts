import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decode as refDecode } from '@msgpack/msgpack';
import { DEFAULT_VSN, MsgType, decodeMessage, encodeMessage, pushHeaderBody, pushNodeBody, toPushHeader, toPushNode, type Message } from './messages.js';
import { encode, decode, GoInt, MapEntries } from './msgpack.js';

/** Golden vectors printed by test/interop/gopeer -vectors (go-msgpack v2, zero MsgpackHandle). */
const go = JSON.parse(readFileSync(new URL('./testdata/go-vectors.json', import.meta.url), 'utf8')) as Record<string, string>;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const ip = (...b: number[]): Uint8Array => Uint8Array.from(b);

const cases: Array<{ name: string; vector: string; msg: Message }> = [
  { name: 'ping with source', vector: 'ping', msg: { type: MsgType.ping, body: { seqNo: 1, node: 'b', sourceAddr: ip(127, 0, 0, 1), sourcePort: 7946, sourceNode: 'a' } } },
  { name: 'bare ping (omitempty)', vector: 'pingBare', msg: { type: MsgType.ping, body: { seqNo: 300, node: 'node-2' } } },
  {
    name: 'indirect ping with nack',
    vector: 'indirect',
    msg: { type: MsgType.indirectPing, body: { seqNo: 70000, target: ip(10, 0, 0, 2), port: 7946, node: 'n2', nack: true, sourceAddr: ip(10, 0, 0, 1), sourcePort: 7946, sourceNode: 'n1' } },
  },
  { name: 'ack with nil payload', vector: 'ack', msg: { type: MsgType.ackResp, body: { seqNo: 5, payload: new Uint8Array(0) } } },
  { name: 'nack max seq', vector: 'nack', msg: { type: MsgType.nackResp, body: { seqNo: 0xffffffff } } },
  { name: 'suspect inc 200 (uint8 family)', vector: 'suspect', msg: { type: MsgType.suspect, body: { incarnation: 200, node: 'x', from: 'y' } } },
  { name: 'dead = leave (from == node)', vector: 'dead', msg: { type: MsgType.dead, body: { incarnation: 40000, node: 'z', from: 'z' } } },
  {
    name: 'alive with binary addr 192.168.1.200',
    vector: 'alive',
    msg: { type: MsgType.alive, body: { incarnation: 1, node: 'node-1', addr: ip(192, 168, 1, 200), port: 7946, meta: new Uint8Array(0), vsn: DEFAULT_VSN } },
  },
];

for (const c of cases) {
  test(`messages: ${c.name} encodes byte-for-byte as Go and decodes back`, { timeout: 120_000 }, () => {
    const bytes = encodeMessage(c.msg);
    assert.equal(bytes[0], c.msg.type);
    assert.equal(hex(bytes.subarray(1)), go[c.vector]);
    const back = decodeMessage(bytes);
    assert.deepEqual(back, c.msg);
    // And from Go's own bytes.
    assert.deepEqual(decodeMessage(Uint8Array.of(c.msg.type, ...unhex(go[c.vector] ?? ''))), c.msg);
  });
}

test('messages: pushPullHeader uses signed int16 for Nodes=200 like Go v2', { timeout: 120_000 }, () => {
  const b = encode(pushHeaderBody({ nodes: 200, userStateLen: 0, join: true }));
  assert.equal(hex(b), go.pushHeader);
  assert.deepEqual(toPushHeader(decode(b).value), { nodes: 200, userStateLen: 0, join: true });
});

test('messages: pushNodeState matches Go and keeps Name/State', { timeout: 120_000 }, () => {
  const s = { name: 'n', addr: ip(127, 0, 0, 2), port: 7946, meta: new Uint8Array(0), incarnation: 3, state: 2, vsn: DEFAULT_VSN };
  const b = encode(pushNodeBody(s));
  assert.equal(hex(b), go.pushNode);
  assert.deepEqual(toPushNode(decode(b).value), s);
});

test('messages: decoder accepts bin/str8 for bytes, uint for int, unknown keys, any order', { timeout: 120_000 }, () => {
  // {Vsn: bin8 6 bytes, Port: uint16, Node: str8 "n", Incarnation: uint64 7, Extra: [1], Addr: bin 4}
  const body = new MapEntries([
    ['Vsn', Uint8Array.of(1, 5, 2, 0, 0, 0)],
    ['Port', 7946],
    ['Node', 'n'],
    ['Incarnation', 7],
    ['Extra', [1, 2]],
    ['Addr', ip(10, 1, 2, 3)],
  ]);
  const raw = encode(body);
  // Rewrite Vsn's fixstr a6 as bin8 c4 06 to exercise the bin family.
  const i = raw.indexOf(0xa6, 1 + 4);
  const patched = Uint8Array.of(MsgType.alive, ...raw.subarray(0, i), 0xc4, 0x06, ...raw.subarray(i + 1));
  const m = decodeMessage(patched);
  assert.equal(m.type, MsgType.alive);
  if (m.type !== MsgType.alive) return;
  assert.deepEqual(m.body.vsn, DEFAULT_VSN);
  assert.equal(m.body.incarnation, 7);
  assert.deepEqual(m.body.addr, ip(10, 1, 2, 3));
  assert.deepEqual(m.body.meta, new Uint8Array(0));
});

test('messages: wrong field types and ranges are DecodeErrors, not crashes', { timeout: 120_000 }, () => {
  const bad = [
    Uint8Array.of(MsgType.ping, ...encode(new MapEntries([['SeqNo', -1]]))),
    Uint8Array.of(MsgType.ping, ...encode(new MapEntries([['SeqNo', 2 ** 33]]))),
    Uint8Array.of(MsgType.alive, ...encode(new MapEntries([['Port', 70000]]))),
    Uint8Array.of(MsgType.suspect, ...encode([1, 2])),
    Uint8Array.of(MsgType.dead, 0xc1),
    Uint8Array.of(MsgType.ackResp),
    Uint8Array.of(99),
    new Uint8Array(0),
  ];
  for (const b of bad) assert.throws(() => decodeMessage(b), { name: 'DecodeError' }, hex(b));
});

test('msgpack: int families and legacy raw strings', { timeout: 120_000 }, () => {
  const table: Array<[unknown, string]> = [
    [0, '00'],
    [127, '7f'],
    [128, 'cc80'],
    [65535, 'cdffff'],
    [65536, 'ce00010000'],
    [-1, 'ff'],
    [-33, 'd0df'],
    [new GoInt(200), 'd100c8'],
    [new GoInt(100000), 'd2000186a0'],
    ['', 'a0'],
    ['a'.repeat(32), 'da0020' + '61'.repeat(32)],
    [null, 'c0'],
    [true, 'c3'],
  ];
  for (const [v, want] of table) assert.equal(hex(encode(v as never)), want, String(v));
  // Our raw-string output reads back through the reference library too.
  assert.deepEqual(
    refDecode(
      encode(
        new MapEntries([
          ['Node', 'x'],
          ['SeqNo', 300],
        ]),
      ),
    ),
    { Node: 'x', SeqNo: 300 },
  );
});

test('msgpack: truncation is flagged so stream readers can wait for more', { timeout: 120_000 }, () => {
  const full = encode(
    new MapEntries([
      ['Node', 'abc'],
      ['SeqNo', 70000],
    ]),
  );
  for (let n = 0; n < full.length; n++) {
    assert.throws(
      () => decode(full.subarray(0, n)),
      (e: unknown) => e instanceof Error && 'truncated' in e && e.truncated === true,
    );
  }
  assert.equal(decode(full).end, full.length);
});
