/**
 * The UDP packet pipeline as pure functions. Out: message → compress (if smaller) → CRC (if
 * the peer speaks v5) → encrypt (primary key, AAD = label) → label header. In: the reverse,
 * then compound/compress unwrapping into plain messages. Every failure is a typed drop reason.
 *
 * Hostile input is normal input: screenPacket rejects junk from a few header bytes, without
 * allocating, before any decryption or decoding; decodePacket then bounds the work one
 * datagram can cause (one compress layer, outermost, decompressing to at most
 * `maxDecompressed` bytes; one compound level of ≤ 255 parts), which is exactly what Go's and
 * our senders produce.
 */
import { decryptPayload, encryptPayload } from './crypto.js';
import { FrameError, addCrc, addLabel, bytesEqual, compressMessage, decodeCompound, decompressMessage, stripCrc, stripLabel } from './framing.js';
import { DecodeError, MsgType, decodeMessage, type Message } from './messages.js';

/** Why an incoming packet (or a part of one) was dropped. */
export type PacketDropReason = 'label' | 'decrypt' | 'plaintext' | 'crc' | 'malformed' | 'compress' | 'decompressLimit' | 'unknownType' | 'truncatedCompound' | 'tooDeep' | 'oversize';

/** Packet options: keys (empty = plaintext), label, compression, and whether to add a CRC. */
export interface PacketOptions {
  keys: readonly Uint8Array[];
  label: Uint8Array;
  compress: boolean;
}

/** Options of decodePacket beyond keys and label. */
export interface DecodeLimits {
  /** Most bytes decompression may produce from this packet (default 64 KiB). */
  maxDecompressed?: number;
  /**
   * Go's GossipVerifyIncoming = false: with keys set, a packet no key opens is handled as
   * plaintext (for migrating a cluster to encryption). Default false: it is dropped.
   */
  allowPlaintext?: boolean;
  /** Count an undecryptable packet that looks like a plaintext message as `plaintext`, not `decrypt`. */
  classifyPlaintext?: boolean;
}

/** Default cap on the bytes one datagram may decompress to. */
export const MAX_PACKET_DECOMPRESSED = 64 * 1024;

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

// Top-level type bytes a plaintext datagram may start with (pushPull and encrypt are TCP-only).
const PLAIN_TOP = new Uint8Array(256);
for (const t of [
  MsgType.ping,
  MsgType.indirectPing,
  MsgType.ackResp,
  MsgType.suspect,
  MsgType.alive,
  MsgType.dead,
  MsgType.compound,
  MsgType.user,
  MsgType.compress,
  MsgType.nackResp,
  MsgType.hasCrc,
  MsgType.err,
]) {
  PLAIN_TOP[t] = 1;
}

function isMapHeader(b: number | undefined): boolean {
  return b !== undefined && ((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf);
}

/** True if `buf` (after the label) plausibly is a plaintext memberlist message, not ciphertext. */
export function looksPlaintext(buf: Uint8Array, off = 0): boolean {
  const t = buf[off];
  if (t === undefined || PLAIN_TOP[t] !== 1) return false;
  // Framing types carry no msgpack map right after the type byte; messages do.
  if (t === MsgType.compound || t === MsgType.hasCrc || t === MsgType.user) return true;
  return isMapHeader(buf[off + 1]);
}

/** Options of screenPacket. */
export interface ScreenOptions {
  label: Uint8Array;
  /** True when we hold keys (every packet must be encrypted unless allowPlaintext). */
  encrypted: boolean;
  allowPlaintext: boolean;
  maxBytes: number;
}

/**
 * Cheap checks before any real work, in the order of their cost: size, label, then the first
 * byte (encryption version, or a known message type). No allocation, no exceptions: a flood of
 * random datagrams costs a few comparisons each. Returns a drop reason, or undefined to go on.
 */
export function screenPacket(buf: Uint8Array, o: ScreenOptions): PacketDropReason | undefined {
  const n = buf.length;
  if (n === 0) return 'malformed';
  if (n > o.maxBytes) return 'oversize';
  let off = 0;
  const ll = o.label.length;
  if (ll > 0) {
    if (buf[0] !== MsgType.hasLabel || buf[1] !== ll || n < 2 + ll) return 'label';
    for (let i = 0; i < ll; i++) if (buf[2 + i] !== o.label[i]) return 'label';
    off = 2 + ll;
  } else if (buf[0] === MsgType.hasLabel) return 'label';
  if (off >= n) return 'malformed';
  const b = buf[off] as number;
  if (o.encrypted) {
    if (b === 0 || b === 1) {
      // version ‖ nonce ‖ (padded, for v0) ciphertext ‖ tag; shorter is no ciphertext at all
      // (a plaintext ping or indirect ping starts with 0 or 1 too).
      if (n - off >= (b === 1 ? 29 : 45) || o.allowPlaintext) return undefined;
      return looksPlaintext(buf, off) ? 'plaintext' : 'decrypt';
    }
    if (o.allowPlaintext && PLAIN_TOP[b] === 1) return undefined;
    return looksPlaintext(buf, off) ? 'plaintext' : 'decrypt';
  }
  return PLAIN_TOP[b] === 1 ? undefined : 'unknownType';
}

/** Strips label, decrypts, checks CRC, and unwraps compress/compound into messages. */
export function decodePacket(buf: Uint8Array, opts: { keys: readonly Uint8Array[]; label: Uint8Array } & DecodeLimits): OpenedPacket {
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
    if (typeof plain !== 'string') rest = plain;
    else if (opts.allowPlaintext !== true) {
      out.drops.push(opts.classifyPlaintext === true && looksPlaintext(rest) ? 'plaintext' : 'decrypt');
      return out;
    }
  }
  try {
    rest = stripCrc(rest);
  } catch {
    out.drops.push('crc');
    return out;
  }
  if (rest.length === 0) {
    out.drops.push('malformed');
    return out;
  }
  if (rest[0] === MsgType.compress) {
    try {
      rest = decompressMessage(rest, opts.maxDecompressed ?? MAX_PACKET_DECOMPRESSED);
    } catch (err) {
      out.drops.push(err instanceof FrameError && err.reason === 'decompressLimit' ? 'decompressLimit' : 'compress');
      return out;
    }
    if (rest.length === 0) {
      out.drops.push('malformed');
      return out;
    }
  }
  if (rest[0] === MsgType.compound) {
    let c;
    try {
      c = decodeCompound(rest);
    } catch {
      out.drops.push('malformed');
      return out;
    }
    for (const p of c.parts) leaf(p, out);
    if (c.truncated > 0) out.drops.push('truncatedCompound');
    return out;
  }
  leaf(rest, out);
  return out;
}

/** Decodes one plain message; framing inside a part (a second compound or compress) is refused. */
function leaf(buf: Uint8Array, out: OpenedPacket): void {
  const t = buf[0];
  if (t === undefined) {
    out.drops.push('malformed');
    return;
  }
  // Go's and our senders put compress outermost and never nest compounds; a crafted nest
  // would multiply the work of one datagram (255 parts × 255 parts × decompression).
  if (t === MsgType.compound || t === MsgType.compress) {
    out.drops.push('tooDeep');
    return;
  }
  try {
    out.messages.push(decodeMessage(buf));
  } catch (err) {
    if (err instanceof DecodeError && err.message.startsWith('unknown message type')) out.drops.push('unknownType');
    else out.drops.push('malformed');
  }
}
