/**
 * Packet framing layers of memberlist (net.go, util.go, label.go), each a pure function:
 * compound (7), CRC (12), label (244) and compress (9, LZW). The order on the way out is
 * message/compound → compress → CRC → encrypt → label; the way in reverses it.
 */
import { crc32 } from 'node:zlib';
import { LzwError, lzwCompress, lzwDecompress } from './lzw.js';
import { MsgType, encodeCompress, toCompress } from './messages.js';
import { decode } from './msgpack.js';

/** Largest number of parts in one compound message (the count is a u8). */
export const MAX_COMPOUND_PARTS = 255;

/** Upper bound on decompressed size (Go HEAD uses 40 MiB for streams). */
export const MAX_DECOMPRESSED = 40 * 1024 * 1024;

/** A framing failure; `reason` is a stable drop-reason key for stats. */
export class FrameError extends Error {
  /** Creates a framing error tagged with a drop reason. */
  constructor(
    readonly reason: 'malformed' | 'crc' | 'label' | 'compress' | 'decompressLimit',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'FrameError';
  }
}

/** Builds one compound message: 07, count, big-endian u16 lengths, then the parts. */
export function encodeCompound(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length > MAX_COMPOUND_PARTS) throw new RangeError(`compound: ${parts.length} parts > ${MAX_COMPOUND_PARTS}`);
  let total = 2 + parts.length * 2;
  for (const p of parts) {
    if (p.length > 0xffff) throw new RangeError(`compound: part of ${p.length} bytes > 65535`);
    total += p.length;
  }
  const out = new Uint8Array(total);
  out[0] = MsgType.compound;
  out[1] = parts.length;
  let off = 2;
  for (const p of parts) {
    out[off++] = p.length >>> 8;
    out[off++] = p.length & 0xff;
  }
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Splits many messages into as many compounds as needed (255 parts each); one message goes alone. */
export function makeCompounds(msgs: readonly Uint8Array[]): Uint8Array[] {
  if (msgs.length === 1 && msgs[0] !== undefined) return [msgs[0]];
  const out: Uint8Array[] = [];
  for (let i = 0; i < msgs.length; i += MAX_COMPOUND_PARTS) out.push(encodeCompound(msgs.slice(i, i + MAX_COMPOUND_PARTS)));
  return out;
}

/**
 * Splits a compound message (including its 07 type byte). As in Go, a short buffer keeps the
 * parts that fit and reports `truncated` rather than failing.
 */
export function decodeCompound(buf: Uint8Array): { parts: Uint8Array[]; truncated: number } {
  if (buf.length < 2 || buf[0] !== MsgType.compound) throw new FrameError('malformed', 'compound: missing header');
  const n = buf[1] ?? 0;
  const hdrEnd = 2 + n * 2;
  if (buf.length < hdrEnd) throw new FrameError('malformed', 'compound: truncated length table');
  const parts: Uint8Array[] = [];
  let off = hdrEnd;
  for (let i = 0; i < n; i++) {
    const len = ((buf[2 + i * 2] ?? 0) << 8) | (buf[3 + i * 2] ?? 0);
    if (off + len > buf.length) return { parts, truncated: n - i };
    parts.push(buf.subarray(off, off + len));
    off += len;
  }
  return { parts, truncated: 0 };
}

/** CRC-32/IEEE (zlib's), as memberlist uses for its hasCrc header. */
export function crc32ieee(buf: Uint8Array): number {
  return crc32(buf) >>> 0;
}

/** Prefixes 0c + big-endian CRC-32 of `buf`. */
export function addCrc(buf: Uint8Array): Uint8Array {
  const out = new Uint8Array(buf.length + 5);
  out[0] = MsgType.hasCrc;
  new DataView(out.buffer).setUint32(1, crc32ieee(buf));
  out.set(buf, 5);
  return out;
}

/** If `buf` carries a CRC header, verifies and strips it; otherwise returns it unchanged. */
export function stripCrc(buf: Uint8Array): Uint8Array {
  if (buf.length < 5 || buf[0] !== MsgType.hasCrc) return buf;
  const want = new DataView(buf.buffer, buf.byteOffset, buf.length).getUint32(1);
  const rest = buf.subarray(5);
  if (crc32ieee(rest) !== want) throw new FrameError('crc', 'crc: checksum mismatch');
  return rest;
}

/** Prefixes the label header f4, len, label (nothing for an empty label). */
export function addLabel(buf: Uint8Array, label: Uint8Array): Uint8Array {
  if (label.length === 0) return buf;
  if (label.length > 255) throw new RangeError('label longer than 255 bytes');
  const out = new Uint8Array(buf.length + 2 + label.length);
  out[0] = MsgType.hasLabel;
  out[1] = label.length;
  out.set(label, 2);
  out.set(buf, 2 + label.length);
  return out;
}

/** Splits off a label header if present: returns the label (empty if none) and the rest. */
export function stripLabel(buf: Uint8Array): { label: Uint8Array; rest: Uint8Array } {
  if (buf.length < 1 || buf[0] !== MsgType.hasLabel) return { label: new Uint8Array(0), rest: buf };
  if (buf.length < 2) throw new FrameError('label', 'label: truncated header');
  const n = buf[1] ?? 0;
  if (n === 0) throw new FrameError('label', 'label: zero length');
  if (buf.length < 2 + n) throw new FrameError('label', 'label: truncated');
  return { label: buf.subarray(2, 2 + n), rest: buf.subarray(2 + n) };
}

/** True if two byte strings are equal. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Wraps a message in a compress message (09 + {Algo:0, Buf: LZW}). */
export function compressMessage(buf: Uint8Array): Uint8Array {
  return encodeCompress({ algo: 0, buf: lzwCompress(buf) });
}

/** Unwraps a compress message (including its 09 byte) into the inner message bytes. */
export function decompressMessage(buf: Uint8Array, maxOut = MAX_DECOMPRESSED): Uint8Array {
  let c;
  try {
    c = toCompress(decode(buf, 1).value);
  } catch (err) {
    throw new FrameError('compress', 'compress: bad header', { cause: err });
  }
  if (c.algo !== 0) throw new FrameError('compress', `compress: unknown algorithm ${c.algo}`);
  try {
    return lzwDecompress(c.buf, maxOut);
  } catch (err) {
    if (err instanceof LzwError && err.limit) throw new FrameError('decompressLimit', `compress: output over ${maxOut} bytes`, { cause: err });
    throw new FrameError('compress', 'compress: bad LZW data', { cause: err });
  }
}
