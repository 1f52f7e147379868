/**
 * A small msgpack codec that speaks the dialect hashicorp/memberlist uses (go-msgpack with a
 * zero MsgpackHandle): strings and byte slices both travel in the legacy "raw" family (fixstr,
 * str16, str32 — never str8 or bin), structs are maps keyed by Go field names, and Go `int`
 * fields above 127 are written with the *signed* int family.
 *
 * Why not @msgpack/msgpack: we need byte-exact control of the encoding (to match Go fixtures),
 * binary-safe decoding of "str" values (Go puts IP bytes there), and the end offset of each
 * value (push/pull streams hold N maps back-to-back followed by a raw tail).
 */

/** A decoded msgpack value. Strings of either family decode to raw bytes. */
export type MsgValue = null | boolean | number | Uint8Array | MsgValue[] | MsgMap;

/** A decoded msgpack map, keys turned into text (memberlist keys are ASCII field names). */
export type MsgMap = Map<string, MsgValue>;

/** An encodable value: like MsgValue but with text strings, signed ints and ordered maps. */
export type EncValue = null | boolean | number | string | Uint8Array | GoInt | EncValue[] | MapEntries;

/** An ordered list of map entries; memberlist's Go encoder writes fields sorted by name. */
export class MapEntries {
  /** Wraps key/value pairs, written in the given order. */
  constructor(readonly entries: ReadonlyArray<readonly [string, EncValue]>) {}
}

/** A Go `int`: non-negative values above 127 use the signed family, as go-msgpack v2 does. */
export class GoInt {
  /** Wraps an integer. */
  constructor(readonly value: number) {}
}

/** Thrown by decode on malformed or truncated input; `truncated` means "more bytes may fix it". */
export class MsgpackError extends Error {
  /** True when the input ended inside a value (a stream reader should wait for more). */
  readonly truncated: boolean;
  /** Creates an error; `truncated` marks end-of-input errors. */
  constructor(message: string, truncated = false) {
    super(message);
    this.name = 'MsgpackError';
    this.truncated = truncated;
  }
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: false });

/** Decodes raw string bytes as UTF-8 text (invalid sequences become U+FFFD, never throw). */
export function bytesToText(b: Uint8Array): string {
  // Field names and node names are short ASCII: skip the TextDecoder call for those.
  if (b.length <= 64) {
    let s = '';
    for (let i = 0; i < b.length; i++) {
      const c = b[i] as number;
      if (c >= 0x80) return textDecoder.decode(b);
      s += String.fromCharCode(c);
    }
    return s;
  }
  return textDecoder.decode(b);
}

/** Encoded map keys (memberlist's small fixed set of Go field names), computed once. */
const keyCache = new Map<string, Uint8Array>();

function encodeText(s: string): Uint8Array {
  if (s.length <= 64) {
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return textEncoder.encode(s);
      out[i] = c;
    }
    return out;
  }
  return textEncoder.encode(s);
}

function encodeKey(k: string): Uint8Array {
  let b = keyCache.get(k);
  if (b === undefined) {
    b = encodeText(k);
    if (keyCache.size < 256) keyCache.set(k, b);
  }
  return b;
}

/** Growable byte buffer used by the encoder. */
class Writer {
  buf = new Uint8Array(256);
  len = 0;
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf[this.len++] = (v >>> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf[this.len++] = (v >>> 24) & 0xff;
    this.buf[this.len++] = (v >>> 16) & 0xff;
    this.buf[this.len++] = (v >>> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
}

function writeRaw(w: Writer, b: Uint8Array): void {
  if (b.length < 32) w.u8(0xa0 | b.length);
  else if (b.length <= 0xffff) {
    w.u8(0xda);
    w.u16(b.length);
  } else {
    w.u8(0xdb);
    w.u32(b.length);
  }
  w.bytes(b);
}

function writeUint(w: Writer, v: number): void {
  if (v < 0x80) w.u8(v);
  else if (v <= 0xff) {
    w.u8(0xcc);
    w.u8(v);
  } else if (v <= 0xffff) {
    w.u8(0xcd);
    w.u16(v);
  } else if (v <= 0xffffffff) {
    w.u8(0xce);
    w.u32(v);
  } else {
    w.u8(0xcf);
    w.u32(Math.floor(v / 2 ** 32));
    w.u32(v >>> 0);
  }
}

function writeSigned(w: Writer, v: number): void {
  if (v >= 0 && v < 0x80) w.u8(v);
  else if (v < 0 && v >= -32) w.u8(v & 0xff);
  else if (v >= -0x80 && v <= 0x7f) {
    w.u8(0xd0);
    w.u8(v);
  } else if (v >= -0x8000 && v <= 0x7fff) {
    w.u8(0xd1);
    w.u16(v & 0xffff);
  } else if (v >= -0x80000000 && v <= 0x7fffffff) {
    w.u8(0xd2);
    w.u32(v >>> 0);
  } else {
    w.u8(0xd3);
    const hi = Math.floor(v / 2 ** 32);
    w.u32(hi >>> 0);
    w.u32((v - hi * 2 ** 32) >>> 0);
  }
}

function writeValue(w: Writer, v: EncValue): void {
  if (v === null) w.u8(0xc0);
  else if (v === true) w.u8(0xc3);
  else if (v === false) w.u8(0xc2);
  else if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new RangeError(`msgpack: only integers are encodable, got ${v}`);
    if (v >= 0) writeUint(w, v);
    else writeSigned(w, v);
  } else if (typeof v === 'string') writeRaw(w, encodeText(v));
  else if (v instanceof Uint8Array) writeRaw(w, v);
  else if (v instanceof GoInt) writeSigned(w, v.value);
  else if (v instanceof MapEntries) {
    const n = v.entries.length;
    if (n < 16) w.u8(0x80 | n);
    else if (n <= 0xffff) {
      w.u8(0xde);
      w.u16(n);
    } else {
      w.u8(0xdf);
      w.u32(n);
    }
    for (const [k, val] of v.entries) {
      writeRaw(w, encodeKey(k));
      writeValue(w, val);
    }
  } else {
    const n = v.length;
    if (n < 16) w.u8(0x90 | n);
    else if (n <= 0xffff) {
      w.u8(0xdc);
      w.u16(n);
    } else {
      w.u8(0xdd);
      w.u32(n);
    }
    for (const item of v) writeValue(w, item);
  }
}

/** Encodes one value in memberlist's msgpack dialect. */
export function encode(v: EncValue): Uint8Array {
  const w = new Writer();
  writeValue(w, v);
  return w.buf.slice(0, w.len);
}

/** Nesting limit: memberlist messages are at most two levels deep; this bounds recursion. */
const MAX_DEPTH = 16;

class Reader {
  constructor(
    readonly buf: Uint8Array,
    public pos: number,
  ) {}
  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new MsgpackError('msgpack: unexpected end of input', true);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++] ?? 0;
  }
  u16(): number {
    this.need(2);
    const b = this.buf;
    const v = ((b[this.pos] ?? 0) << 8) | (b[this.pos + 1] ?? 0);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const b = this.buf;
    const v = (b[this.pos] ?? 0) * 0x1000000 + (((b[this.pos + 1] ?? 0) << 16) | ((b[this.pos + 2] ?? 0) << 8) | (b[this.pos + 3] ?? 0));
    this.pos += 4;
    return v;
  }
  take(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

function readCount(r: Reader, n: number, minBytesEach: number): number {
  // A count larger than the remaining bytes could ever hold is malformed when the buffer is
  // complete, but for stream reads it may simply be truncated: report it as truncated.
  if (n * minBytesEach > r.buf.length - r.pos) throw new MsgpackError('msgpack: container larger than input', true);
  return n;
}

function readMap(r: Reader, n: number, depth: number): MsgMap {
  readCount(r, n, 2);
  const m: MsgMap = new Map();
  for (let i = 0; i < n; i++) {
    const k = readValue(r, depth + 1);
    let key: string;
    if (k instanceof Uint8Array) key = bytesToText(k);
    else if (typeof k === 'number') key = String(k);
    else throw new MsgpackError('msgpack: unsupported map key type');
    m.set(key, readValue(r, depth + 1));
  }
  return m;
}

function readArray(r: Reader, n: number, depth: number): MsgValue[] {
  readCount(r, n, 1);
  const a: MsgValue[] = [];
  for (let i = 0; i < n; i++) a.push(readValue(r, depth + 1));
  return a;
}

function readValue(r: Reader, depth: number): MsgValue {
  if (depth > MAX_DEPTH) throw new MsgpackError('msgpack: nesting too deep');
  const t = r.u8();
  if (t <= 0x7f) return t;
  if (t >= 0xe0) return t - 0x100;
  if ((t & 0xf0) === 0x80) return readMap(r, t & 0x0f, depth);
  if ((t & 0xf0) === 0x90) return readArray(r, t & 0x0f, depth);
  if ((t & 0xe0) === 0xa0) return r.take(t & 0x1f);
  switch (t) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
    case 0xd9:
      return r.take(r.u8());
    case 0xc5:
    case 0xda:
      return r.take(r.u16());
    case 0xc6:
    case 0xdb:
      return r.take(r.u32());
    case 0xc7: {
      // ext8/16/32: not used by memberlist; skip the payload and yield null.
      const n = r.u8();
      r.take(1 + n);
      return null;
    }
    case 0xc8: {
      const n = r.u16();
      r.take(1 + n);
      return null;
    }
    case 0xc9: {
      const n = r.u32();
      r.take(1 + n);
      return null;
    }
    case 0xca: {
      const b = r.take(4);
      return new DataView(b.buffer, b.byteOffset, 4).getFloat32(0);
    }
    case 0xcb: {
      const b = r.take(8);
      return new DataView(b.buffer, b.byteOffset, 8).getFloat64(0);
    }
    case 0xcc:
      return r.u8();
    case 0xcd:
      return r.u16();
    case 0xce:
      return r.u32();
    case 0xcf: {
      const hi = r.u32();
      const lo = r.u32();
      return hi * 2 ** 32 + lo; // may lose precision above 2^53; callers range-check.
    }
    case 0xd0: {
      const v = r.u8();
      return v >= 0x80 ? v - 0x100 : v;
    }
    case 0xd1: {
      const v = r.u16();
      return v >= 0x8000 ? v - 0x10000 : v;
    }
    case 0xd2: {
      const v = r.u32();
      return v >= 0x80000000 ? v - 0x100000000 : v;
    }
    case 0xd3: {
      const hi = r.u32();
      const lo = r.u32();
      return (hi >= 0x80000000 ? hi - 0x100000000 : hi) * 2 ** 32 + lo;
    }
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: {
      // fixext 1/2/4/8/16: skip type byte + payload.
      const sizes: Record<number, number> = { 0xd4: 1, 0xd5: 2, 0xd6: 4, 0xd7: 8, 0xd8: 16 };
      r.take(1 + (sizes[t] ?? 0));
      return null;
    }
    case 0xdc:
      return readArray(r, r.u16(), depth);
    case 0xdd:
      return readArray(r, r.u32(), depth);
    case 0xde:
      return readMap(r, r.u16(), depth);
    case 0xdf:
      return readMap(r, r.u32(), depth);
    default:
      throw new MsgpackError(`msgpack: invalid type byte 0x${t.toString(16)}`);
  }
}

/** Decodes one value starting at `offset`; returns it and the offset just past it. */
export function decode(buf: Uint8Array, offset = 0): { value: MsgValue; end: number } {
  const r = new Reader(buf, offset);
  const value = readValue(r, 0);
  return { value, end: r.pos };
}
