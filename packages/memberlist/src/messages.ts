/**
 * memberlist message bodies: one type byte followed by one msgpack map keyed by the Go field
 * names (net.go). Encoders write fields in the order go-msgpack v2 does (sorted by name) so our
 * bytes equal Go's; decoders accept any order, any integer family, str or bin for bytes, and
 * skip unknown keys, as Go does.
 */
import { MsgpackError, type MsgMap, type MsgValue, type EncValue, GoInt, MapEntries, bytesToText, decode, encode } from './msgpack.js';

/** Message type bytes; the values are the protocol ("only append" in Go's net.go). */
export const MsgType = {
  ping: 0,
  indirectPing: 1,
  ackResp: 2,
  suspect: 3,
  alive: 4,
  dead: 5,
  pushPull: 6,
  compound: 7,
  user: 8,
  compress: 9,
  encrypt: 10,
  nackResp: 11,
  hasCrc: 12,
  err: 13,
  hasLabel: 244,
} as const;

/** One of the message type byte values. */
export type MsgTypeValue = (typeof MsgType)[keyof typeof MsgType];

/** Node states as memberlist numbers them on the wire (pushNodeState.State). */
export const NodeStateNum = { alive: 0, suspect: 1, dead: 2, left: 3 } as const;

/** The 6-byte version vector every node sends: pmin 1, pmax 5, pcur 2, delegate 0/0/0. */
export const DEFAULT_VSN: Uint8Array = Uint8Array.of(1, 5, 2, 0, 0, 0);

/** ping (0): `node` is the intended target's name; the sender goes in sourceNode. */
export interface Ping {
  seqNo: number;
  node: string;
  sourceAddr?: Uint8Array;
  sourcePort?: number;
  sourceNode?: string;
}

/** indirectPingReq (1): ask a relay to ping `node` at target:port for us. */
export interface IndirectPingReq {
  seqNo: number;
  target: Uint8Array;
  port: number;
  node: string;
  nack: boolean;
  sourceAddr?: Uint8Array;
  sourcePort?: number;
  sourceNode?: string;
}

/** ackResp (2). */
export interface AckResp {
  seqNo: number;
  payload: Uint8Array;
}

/** nackResp (11). */
export interface NackResp {
  seqNo: number;
}

/** suspect (3) and dead (5): `from` accuses `node`; dead with from === node is a graceful leave. */
export interface Accusation {
  incarnation: number;
  node: string;
  from: string;
}

/** alive (4). */
export interface Alive {
  incarnation: number;
  node: string;
  addr: Uint8Array;
  port: number;
  meta: Uint8Array;
  vsn: Uint8Array;
}

/** pushPullHeader: precedes `nodes` pushNodeState maps and `userStateLen` raw bytes. */
export interface PushPullHeader {
  nodes: number;
  userStateLen: number;
  join: boolean;
}

/** pushNodeState: one entry of a push/pull (note the key is `Name`, not `Node`). */
export interface PushNodeState {
  name: string;
  addr: Uint8Array;
  port: number;
  meta: Uint8Array;
  incarnation: number;
  state: number;
  vsn: Uint8Array;
}

/** errResp (13): a TCP error reply. */
export interface ErrResp {
  error: string;
}

/** compress (9): Algo 0 is LZW. */
export interface Compress {
  algo: number;
  buf: Uint8Array;
}

/** A decoded UDP/TCP message (one type byte + body), without framing layers. */
export type Message =
  | { type: typeof MsgType.ping; body: Ping }
  | { type: typeof MsgType.indirectPing; body: IndirectPingReq }
  | { type: typeof MsgType.ackResp; body: AckResp }
  | { type: typeof MsgType.nackResp; body: NackResp }
  | { type: typeof MsgType.suspect; body: Accusation }
  | { type: typeof MsgType.dead; body: Accusation }
  | { type: typeof MsgType.alive; body: Alive }
  | { type: typeof MsgType.err; body: ErrResp }
  | { type: typeof MsgType.user; body: Uint8Array };

/** Raised by the struct decoders when a field has the wrong type or range. */
export class DecodeError extends Error {
  /** Creates a decode error with context. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DecodeError';
  }
}

const U16 = 0xffff;
const U32 = 0xffffffff;

function asMap(v: MsgValue, what: string): MsgMap {
  if (!(v instanceof Map)) throw new DecodeError(`${what}: expected a map`);
  return v;
}

function fUint(m: MsgMap, key: string, max: number): number {
  const v = m.get(key);
  if (v === undefined || v === null) return 0;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new DecodeError(`field ${key}: not an unsigned integer <= ${max}`);
  }
  return v;
}

function fInt(m: MsgMap, key: string): number {
  const v = m.get(key);
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new DecodeError(`field ${key}: not an integer`);
  return v;
}

function fBool(m: MsgMap, key: string): boolean {
  const v = m.get(key);
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (v === 0 || v === 1) return v === 1;
  throw new DecodeError(`field ${key}: not a bool`);
}

function fBytes(m: MsgMap, key: string): Uint8Array {
  const v = m.get(key);
  if (v === undefined || v === null) return new Uint8Array(0);
  if (v instanceof Uint8Array) return new Uint8Array(v); // a plain copy, even from a Buffer
  // Go also accepts an array of small ints for []byte.
  if (Array.isArray(v)) {
    const out = new Uint8Array(v.length);
    v.forEach((x, i) => {
      if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 255) throw new DecodeError(`field ${key}: bad byte array`);
      out[i] = x;
    });
    return out;
  }
  throw new DecodeError(`field ${key}: not bytes`);
}

function fStr(m: MsgMap, key: string): string {
  const v = m.get(key);
  if (v === undefined || v === null) return '';
  if (v instanceof Uint8Array) return bytesToText(v);
  throw new DecodeError(`field ${key}: not a string`);
}

function optEntries(p: { sourceAddr?: Uint8Array; sourceNode?: string; sourcePort?: number }): Array<[string, EncValue]> {
  // omitempty in Go: left out when empty/zero.
  const out: Array<[string, EncValue]> = [];
  if (p.sourceAddr !== undefined && p.sourceAddr.length > 0) out.push(['SourceAddr', p.sourceAddr]);
  if (p.sourceNode !== undefined && p.sourceNode !== '') out.push(['SourceNode', p.sourceNode]);
  if (p.sourcePort !== undefined && p.sourcePort !== 0) out.push(['SourcePort', p.sourcePort]);
  return out;
}

function withType(type: number, body: EncValue): Uint8Array {
  const b = encode(body);
  const out = new Uint8Array(b.length + 1);
  out[0] = type;
  out.set(b, 1);
  return out;
}

/** Encodes a ping body (no type byte). */
export function pingBody(p: Ping): EncValue {
  return new MapEntries([['Node', p.node], ['SeqNo', p.seqNo], ...optEntries(p)]);
}

/** Encodes an indirectPingReq body (no type byte). */
export function indirectBody(p: IndirectPingReq): EncValue {
  const opt = optEntries(p);
  return new MapEntries([['Nack', p.nack], ['Node', p.node], ['Port', p.port], ['SeqNo', p.seqNo], ...opt, ['Target', p.target]]);
}

/** Encodes an alive body. */
export function aliveBody(a: Alive): EncValue {
  return new MapEntries([
    ['Addr', a.addr],
    ['Incarnation', a.incarnation],
    ['Meta', a.meta.length === 0 ? null : a.meta],
    ['Node', a.node],
    ['Port', a.port],
    ['Vsn', a.vsn],
  ]);
}

/** Encodes a suspect or dead body. */
export function accusationBody(a: Accusation): EncValue {
  return new MapEntries([
    ['From', a.from],
    ['Incarnation', a.incarnation],
    ['Node', a.node],
  ]);
}

/** Encodes a pushNodeState map. */
export function pushNodeBody(s: PushNodeState): EncValue {
  return new MapEntries([
    ['Addr', s.addr],
    ['Incarnation', s.incarnation],
    ['Meta', s.meta.length === 0 ? null : s.meta],
    ['Name', s.name],
    ['Port', s.port],
    ['State', new GoInt(s.state)],
    ['Vsn', s.vsn],
  ]);
}

/** Encodes a pushPullHeader map. */
export function pushHeaderBody(h: PushPullHeader): EncValue {
  return new MapEntries([
    ['Join', h.join],
    ['Nodes', new GoInt(h.nodes)],
    ['UserStateLen', new GoInt(h.userStateLen)],
  ]);
}

/** Encodes a full message (type byte + msgpack body). */
export function encodeMessage(m: Message): Uint8Array {
  switch (m.type) {
    case MsgType.ping:
      return withType(m.type, pingBody(m.body));
    case MsgType.indirectPing:
      return withType(m.type, indirectBody(m.body));
    case MsgType.ackResp:
      return withType(
        m.type,
        new MapEntries([
          ['Payload', m.body.payload.length === 0 ? null : m.body.payload],
          ['SeqNo', m.body.seqNo],
        ]),
      );
    case MsgType.nackResp:
      return withType(m.type, new MapEntries([['SeqNo', m.body.seqNo]]));
    case MsgType.suspect:
    case MsgType.dead:
      return withType(m.type, accusationBody(m.body));
    case MsgType.alive:
      return withType(m.type, aliveBody(m.body));
    case MsgType.err:
      return withType(m.type, new MapEntries([['Error', m.body.error]]));
    case MsgType.user: {
      const out = new Uint8Array(m.body.length + 1);
      out[0] = MsgType.user;
      out.set(m.body, 1);
      return out;
    }
  }
}

function decodeBody(buf: Uint8Array, what: string): MsgMap {
  let r;
  try {
    r = decode(buf, 1);
  } catch (err) {
    throw new DecodeError(`${what}: bad msgpack`, { cause: err });
  }
  return asMap(r.value, what);
}

/** Parses an ackResp or ping field map into a Ping. */
function toPing(m: MsgMap): Ping {
  const p: Ping = { seqNo: fUint(m, 'SeqNo', U32), node: fStr(m, 'Node') };
  const sa = fBytes(m, 'SourceAddr');
  if (sa.length > 0) p.sourceAddr = sa;
  const sp = fUint(m, 'SourcePort', U16);
  if (sp !== 0) p.sourcePort = sp;
  const sn = fStr(m, 'SourceNode');
  if (sn !== '') p.sourceNode = sn;
  return p;
}

/**
 * Decodes one plain message (not compound/compress/crc/label/pushPull: those are framing and
 * handled by framing.ts and stream.ts). Throws DecodeError on malformed input.
 */
export function decodeMessage(buf: Uint8Array): Message {
  if (buf.length < 1) throw new DecodeError('empty message');
  const t = buf[0];
  switch (t) {
    case MsgType.ping:
      return { type: t, body: toPing(decodeBody(buf, 'ping')) };
    case MsgType.indirectPing: {
      const m = decodeBody(buf, 'indirectPingReq');
      const p = toPing(m);
      const body: IndirectPingReq = { ...p, target: fBytes(m, 'Target'), port: fUint(m, 'Port', U16), nack: fBool(m, 'Nack') };
      return { type: t, body };
    }
    case MsgType.ackResp: {
      const m = decodeBody(buf, 'ackResp');
      return { type: t, body: { seqNo: fUint(m, 'SeqNo', U32), payload: fBytes(m, 'Payload') } };
    }
    case MsgType.nackResp: {
      const m = decodeBody(buf, 'nackResp');
      return { type: t, body: { seqNo: fUint(m, 'SeqNo', U32) } };
    }
    case MsgType.suspect:
    case MsgType.dead: {
      const m = decodeBody(buf, t === MsgType.suspect ? 'suspect' : 'dead');
      return { type: t, body: { incarnation: fUint(m, 'Incarnation', U32), node: fStr(m, 'Node'), from: fStr(m, 'From') } };
    }
    case MsgType.alive: {
      const m = decodeBody(buf, 'alive');
      return {
        type: t,
        body: {
          incarnation: fUint(m, 'Incarnation', U32),
          node: fStr(m, 'Node'),
          addr: fBytes(m, 'Addr'),
          port: fUint(m, 'Port', U16),
          meta: fBytes(m, 'Meta'),
          vsn: fBytes(m, 'Vsn'),
        },
      };
    }
    case MsgType.err: {
      const m = decodeBody(buf, 'errResp');
      return { type: t, body: { error: fStr(m, 'Error') } };
    }
    case MsgType.user:
      return { type: t, body: new Uint8Array(buf.subarray(1)) };
    default:
      throw new DecodeError(`unknown message type ${String(t)}`);
  }
}

/** Parses a pushPullHeader map. */
export function toPushHeader(v: MsgValue): PushPullHeader {
  const m = asMap(v, 'pushPullHeader');
  return { nodes: fInt(m, 'Nodes'), userStateLen: fInt(m, 'UserStateLen'), join: fBool(m, 'Join') };
}

/** Parses a pushNodeState map. */
export function toPushNode(v: MsgValue): PushNodeState {
  const m = asMap(v, 'pushNodeState');
  return {
    name: fStr(m, 'Name'),
    addr: fBytes(m, 'Addr'),
    port: fUint(m, 'Port', U16),
    meta: fBytes(m, 'Meta'),
    incarnation: fUint(m, 'Incarnation', U32),
    state: fInt(m, 'State'),
    vsn: fBytes(m, 'Vsn'),
  };
}

/** Parses a compress map. */
export function toCompress(v: MsgValue): Compress {
  const m = asMap(v, 'compress');
  return { algo: fUint(m, 'Algo', 255), buf: fBytes(m, 'Buf') };
}

/** Encodes a compress message (type byte + map). */
export function encodeCompress(c: Compress): Uint8Array {
  return withType(
    MsgType.compress,
    new MapEntries([
      ['Algo', c.algo],
      ['Buf', c.buf],
    ]),
  );
}

/** Re-exported so callers can tell truncation from malformed input. */
export { MsgpackError };
