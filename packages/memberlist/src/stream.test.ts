import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_VSN, MsgType, encodeMessage } from './messages.js';
import { encodePushPull, encodeStreamFrame, tryParseStream, type StreamCodecOptions } from './stream.js';

const nodes = [
  { name: 'a', addr: Uint8Array.of(127, 0, 0, 2), port: 7946, meta: new Uint8Array(0), incarnation: 1, state: 0, vsn: DEFAULT_VSN },
  { name: 'b', addr: new Uint8Array(16).fill(0xfe), port: 7947, meta: Uint8Array.of(1, 2), incarnation: 300, state: 3, vsn: DEFAULT_VSN },
];
const key = new Uint8Array(32).fill(8);

test('stream: push/pull round-trips through every option combination, byte by byte', { timeout: 120_000 }, () => {
  const userState = Uint8Array.of(9, 9, 9);
  const body = encodePushPull(true, nodes, userState);
  for (const keys of [[], [key]]) {
    for (const label of [new Uint8Array(0), new TextEncoder().encode('lbl')]) {
      for (const compress of [false, true]) {
        const opts: StreamCodecOptions = { keys, label, compress };
        const frame = encodeStreamFrame(body, opts, true);
        // Feed growing prefixes: every proper prefix must ask for more, the whole must parse.
        for (let n = 0; n < frame.length; n++) assert.equal(tryParseStream(frame.subarray(0, n), opts, true, false).status, 'more', `prefix ${n}`);
        const r = tryParseStream(frame, opts, true, false);
        assert.equal(r.status, 'ok');
        if (r.status !== 'ok') return;
        assert.deepEqual(r.msg, { type: 'pushPull', header: { join: true, nodes: 2, userStateLen: 3 }, nodes, userState });
      }
    }
  }
});

test('stream: reply frames carry no label; ping and ack parse', { timeout: 120_000 }, () => {
  const opts: StreamCodecOptions = { keys: [key], label: new TextEncoder().encode('x'), compress: true };
  const ack = encodeStreamFrame(encodeMessage({ type: MsgType.ackResp, body: { seqNo: 5, payload: new Uint8Array(0) } }), opts, false);
  assert.notEqual(ack[0], MsgType.hasLabel);
  assert.deepEqual(tryParseStream(ack, opts, false, true), { status: 'ok', msg: { type: 'ack', ack: { seqNo: 5, payload: new Uint8Array(0) } } });
});

test('stream: rejections carry reasons (table)', { timeout: 120_000 }, () => {
  const plain: StreamCodecOptions = { keys: [], label: new Uint8Array(0), compress: false };
  const keyed: StreamCodecOptions = { keys: [key], label: new Uint8Array(0), compress: false };
  const ping = encodeMessage({ type: MsgType.ping, body: { seqNo: 1, node: 'a' } });
  const cases: Array<[string, Uint8Array, StreamCodecOptions, string]> = [
    ['plaintext to keyed', encodeStreamFrame(ping, plain, true), keyed, 'notEncrypted'],
    ['ciphertext to keyless', encodeStreamFrame(ping, keyed, true), plain, 'unexpectedEncryption'],
    ['wrong key', encodeStreamFrame(ping, { ...keyed, keys: [new Uint8Array(32)] }, true), keyed, 'decrypt'],
    ['label mismatch', encodeStreamFrame(ping, { ...plain, label: new TextEncoder().encode('a') }, true), plain, 'label'],
    ['huge encrypted length', Uint8Array.of(10, 0xff, 0xff, 0xff, 0xff), keyed, 'tooLarge'],
    ['unknown type', Uint8Array.of(77), plain, 'unknownType'],
    [
      'push/pull with -1 nodes',
      Uint8Array.of(6, 0x83, 0xa4, 0x4a, 0x6f, 0x69, 0x6e, 0xc2, 0xa5, 0x4e, 0x6f, 0x64, 0x65, 0x73, 0xff, 0xac, ...new TextEncoder().encode('UserStateLen'), 0),
      plain,
      'tooLarge',
    ],
  ];
  for (const [name, bytes, opts, reason] of cases) {
    assert.throws(
      () => tryParseStream(bytes, opts, true, true),
      (e: unknown) => e instanceof Error && 'reason' in e && e.reason === reason,
      name,
    );
  }
  // A truncated message at end of stream is malformed, not "more".
  assert.throws(() => tryParseStream(ping.subarray(0, 3), plain, true, true), /stream/);
});
