import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeCompound } from './framing.js';
import { MsgType, encodeMessage, type Message } from './messages.js';
import { decodePacket, encodePacket } from './packet.js';

const key = new Uint8Array(16).fill(3);
const ping: Message = { type: MsgType.ping, body: { seqNo: 9, node: 'b' } };
const alive: Message = {
  type: MsgType.alive,
  body: { incarnation: 2, node: 'b', addr: Uint8Array.of(127, 0, 0, 2), port: 7946, meta: new Uint8Array(0), vsn: Uint8Array.of(1, 5, 2, 0, 0, 0) },
};
const label = new TextEncoder().encode('L');
const none = new Uint8Array(0);

test('packet: every layer combination round-trips (table)', { timeout: 120_000 }, () => {
  const big = encodeCompound(Array.from({ length: 20 }, () => encodeMessage(alive)));
  for (const keys of [[], [key]]) {
    for (const lbl of [none, label]) {
      for (const compress of [false, true]) {
        for (const crc of [false, true]) {
          const table: Array<[Uint8Array, Message[]]> = [
            [encodeMessage(ping), [ping]],
            [big, Array.from({ length: 20 }, () => alive)],
          ];
          for (const [msg, want] of table) {
            const pkt = encodePacket(msg, { keys, label: lbl, compress }, crc);
            const got = decodePacket(pkt, { keys, label: lbl });
            assert.deepEqual(got.drops, [], `keys=${keys.length} label=${lbl.length} compress=${compress} crc=${crc}`);
            assert.deepEqual(got.messages, want);
          }
        }
      }
    }
  }
});

test('packet: typed drop reasons (table)', { timeout: 120_000 }, () => {
  const plain = encodePacket(encodeMessage(ping), { keys: [], label: none, compress: false }, true);
  const enc = encodePacket(encodeMessage(ping), { keys: [key], label: none, compress: false }, false);
  const badCrc = plain.slice();
  badCrc[6] = (badCrc[6] ?? 0) ^ 0xff;
  const cases: Array<[string, Uint8Array, { keys: Uint8Array[]; label: Uint8Array }, string]> = [
    ['label mismatch', encodePacket(encodeMessage(ping), { keys: [], label, compress: false }, false), { keys: [], label: none }, 'label'],
    ['missing label', plain, { keys: [], label }, 'label'],
    ['plaintext to keyed node', plain, { keys: [key], label: none }, 'decrypt'],
    ['wrong key', enc, { keys: [new Uint8Array(16)], label: none }, 'decrypt'],
    ['crc mismatch', badCrc, { keys: [], label: none }, 'crc'],
    ['unknown type', Uint8Array.of(200, 1, 2), { keys: [], label: none }, 'unknownType'],
    ['garbage body', Uint8Array.of(MsgType.ping, 0xc1), { keys: [], label: none }, 'malformed'],
    ['short compound', Uint8Array.of(MsgType.compound, 2, 0, 1, 0, 1, MsgType.ping), { keys: [], label: none }, 'truncatedCompound'],
    ['bad compress', Uint8Array.of(MsgType.compress, 0x80), { keys: [], label: none }, 'compress'],
    ['empty', new Uint8Array(0), { keys: [], label: none }, 'malformed'],
  ];
  for (const [name, pkt, opts, reason] of cases) {
    const got = decodePacket(pkt, opts);
    assert.ok(got.drops.includes(reason as never), `${name}: ${JSON.stringify(got.drops)}`);
  }
});

test('packet: compound parts are handled even if one is bad', { timeout: 120_000 }, () => {
  const pkt = encodeCompound([encodeMessage(ping), Uint8Array.of(MsgType.ping, 0xc1), encodeMessage(alive)]);
  const got = decodePacket(pkt, { keys: [], label: none });
  assert.deepEqual(got.messages, [ping, alive]);
  assert.deepEqual(got.drops, ['malformed']);
});
