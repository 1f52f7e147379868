/**
 * The UDP packet pipeline as pure functions. Out: message → compress (if smaller) → CRC (if
 * the peer speaks v5) → encrypt (primary key, AAD = label) → label header. In: the reverse,
 * then compound/compress unwrapping into plain messages. Every failure is a typed drop reason.
 */
import { decryptPayload, encryptPayload } from './crypto.js';
import { FrameError, addCrc, addLabel, bytesEqual, compressMessage, decodeCompound, decompressMessage, stripCrc, stripLabel } from './framing.js';
import { DecodeError, MsgType, decodeMessage, type Message } from './messages.js';

/** Why an incoming packet (or a part of one) was dropped. */
export type PacketDropReason = 'label' | 'decrypt' | 'crc' | 'malformed' | 'compress' | 'unknownType' | 'truncatedCompound' | 'tooDeep';

/** Packet options: keys (empty = plaintext), label, compression, and whether to add a CRC. */
export interface PacketOptions {
  keys: readonly Uint8Array[];
  label: Uint8Array;
  compress: boolean;
}

/** Wraps one message (or compound) for sending. */
export function encodePacket(msg: Uint8Array, opts: PacketOptions, crc: boolean): Uint8Array {
  let buf = msg;
  if (opts.compress) {
    const c = compressMessage(buf);
    if (c.length < buf.length) buf = c; // Go compresses UDP only when it helps.
  }
  if (crc) buf = addCrc(buf);
  const primary = opts.keys[0];
  if (primary !== undefined) buf = encryptPayload(1, primary, buf, opts.label);
  return addLabel(buf, opts.label);
}

/** Result of opening a packet: the messages it holds and any parts dropped on the way. */
export interface OpenedPacket {
  messages: Message[];
  drops: PacketDropReason[];
}

/** Strips label, decrypts, checks CRC, and unwraps compound/compress into messages. */
export function decodePacket(buf: Uint8Array, opts: Omit<PacketOptions, 'compress'>): OpenedPacket {
  const out: OpenedPacket = { messages: [], drops: [] };
  let rest: Uint8Array;
  try {
    const s = stripLabel(buf);
    if (!bytesEqual(s.label, opts.label)) {
      out.drops.push('label');
      return out;
    }
    rest = s.rest;
  } catch {
    out.drops.push('label');
    return out;
  }
  if (opts.keys.length > 0) {
    const plain = decryptPayload(opts.keys, rest, opts.label);
    if (typeof plain === 'string') {
      out.drops.push('decrypt');
      return out;
    }
    rest = plain;
  }
  try {
    rest = stripCrc(rest);
  } catch {
    out.drops.push('crc');
    return out;
  }
  unwrap(rest, out, 0);
  return out;
}

function unwrap(buf: Uint8Array, out: OpenedPacket, depth: number): void {
  // Go recurses without a limit; we cap nesting so a crafted packet cannot blow the stack.
  if (depth > 4) {
    out.drops.push('tooDeep');
    return;
  }
  if (buf.length === 0) {
    out.drops.push('malformed');
    return;
  }
  const t = buf[0];
  if (t === MsgType.compound) {
    try {
      const c = decodeCompound(buf);
      for (const p of c.parts) unwrap(p, out, depth + 1);
      if (c.truncated > 0) out.drops.push('truncatedCompound');
    } catch {
      out.drops.push('malformed');
    }
    return;
  }
  if (t === MsgType.compress) {
    let inner: Uint8Array;
    try {
      // A UDP datagram is ≤ 64 KiB; LZW expands at most ~several hundred ×, so 1 MiB is ample.
      inner = decompressMessage(buf, 1024 * 1024);
    } catch (err) {
      out.drops.push(err instanceof FrameError ? err.reason : 'compress');
      return;
    }
    unwrap(inner, out, depth + 1);
    return;
  }
  try {
    out.messages.push(decodeMessage(buf));
  } catch (err) {
    if (err instanceof DecodeError && err.message.startsWith('unknown message type')) out.drops.push('unknownType');
    else out.drops.push('malformed');
  }
}
