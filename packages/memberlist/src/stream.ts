/**
 * Stream (TCP) message codec: label (dialer writes it once), then either plaintext or the
 * encrypt frame `0a ‖ u32 len ‖ payload` (AAD = those 5 bytes ‖ label), inside which an
 * optional compress message wraps the real message: push/pull, ping, ack, err or user.
 *
 * Unencrypted, uncompressed streams carry no length prefix, so the reader re-parses the bytes
 * received so far and asks for more while a value is truncated (tryParseStream → 'more').
 */
import { ENCRYPT_OVERHEAD_V1, decryptPayload, encryptPayload } from './crypto.js';
import { FrameError, bytesEqual, compressMessage, decompressMessage, stripLabel } from './framing.js';
import { DecodeError, MsgType, type AckResp, type Ping, type PushNodeState, type PushPullHeader, decodeMessage, pushHeaderBody, pushNodeBody, toPushHeader, toPushNode } from './messages.js';
import { MsgpackError, bytesToText, decode, encode } from './msgpack.js';

/** Largest encrypted stream body accepted when no limit is given (Go HEAD: 20 MiB). */
export const MAX_STREAM_BYTES = 20 * 1024 * 1024;
/** Most node entries accepted in one push/pull when no limit is given (Go HEAD). */
export const MAX_PUSH_NODES = 1_048_576;

/** A decoded stream message. */
export type StreamMessage =
  | { type: 'pushPull'; header: PushPullHeader; nodes: PushNodeState[]; userState: Uint8Array }
  | { type: 'ping'; ping: Ping }
  | { type: 'ack'; ack: AckResp }
  | { type: 'err'; error: string }
  | { type: 'user'; data: Uint8Array };

/** Why a stream was rejected; stable keys for stats. */
export type StreamDropReason = 'label' | 'notEncrypted' | 'unexpectedEncryption' | 'decrypt' | 'tooLarge' | 'tooManyMembers' | 'compress' | 'malformed' | 'unknownType';

/** A rejected stream, with a drop reason. */
export class StreamError extends Error {
  /** Creates a stream error. */
  constructor(
    readonly reason: StreamDropReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StreamError';
  }
}

/** Keys (empty = no encryption), label and compression for stream frames, and read limits. */
export interface StreamCodecOptions {
  keys: readonly Uint8Array[];
  label: Uint8Array;
  compress: boolean;
  /** Most bytes of a body (encrypted frame, decompressed body, user state); default MAX_STREAM_BYTES. */
  maxBytes?: number;
  /** Most push/pull node entries; default MAX_PUSH_NODES. */
  maxNodes?: number;
  /** Go's GossipVerifyIncoming = false: with keys set, accept unencrypted streams too. */
  allowPlaintext?: boolean;
}

interface ReadLimits {
  maxBytes: number;
  maxNodes: number;
}

/** Encodes a push/pull body: 06, header, N node maps back to back, raw user state. */
export function encodePushPull(join: boolean, nodes: readonly PushNodeState[], userState: Uint8Array = new Uint8Array(0)): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.of(MsgType.pushPull), encode(pushHeaderBody({ join, nodes: nodes.length, userStateLen: userState.length }))];
  for (const n of nodes) parts.push(encode(pushNodeBody(n)));
  parts.push(userState);
  return Buffer.concat(parts);
}

/** Wraps a message for a stream: compress, encrypt, and (for the dialer) the label header. */
export function encodeStreamFrame(msg: Uint8Array, opts: StreamCodecOptions, dialer: boolean): Uint8Array {
  let body = opts.compress ? compressMessage(msg) : msg;
  const primary = opts.keys[0];
  if (primary !== undefined) {
    const hdr = new Uint8Array(5);
    hdr[0] = MsgType.encrypt;
    new DataView(hdr.buffer).setUint32(1, body.length + ENCRYPT_OVERHEAD_V1);
    const aad = Buffer.concat([hdr, opts.label]);
    body = Buffer.concat([hdr, encryptPayload(1, primary, body, aad)]);
  }
  if (dialer && opts.label.length > 0) {
    body = Buffer.concat([Uint8Array.of(MsgType.hasLabel, opts.label.length), opts.label, body]);
  }
  return body;
}

/** Result of tryParseStream: more bytes needed, or one message. */
export type ParseResult = { status: 'more' } | { status: 'ok'; msg: StreamMessage };

const MORE: ParseResult = { status: 'more' };

function isTruncated(err: unknown): boolean {
  return err instanceof MsgpackError && err.truncated;
}

/** Parses a plaintext message body; `complete` says no more bytes will come. */
function parseBody(buf: Uint8Array, complete: boolean, allowCompress: boolean, lim: ReadLimits): ParseResult {
  if (buf.length === 0) {
    if (complete) throw new StreamError('malformed', 'stream: empty message');
    return MORE;
  }
  const t = buf[0];
  try {
    switch (t) {
      case MsgType.compress: {
        if (!allowCompress) throw new StreamError('compress', 'stream: nested compression');
        // Without encryption there is no length: parse the msgpack map to know it is whole.
        decode(buf, 1);
        let inner: Uint8Array;
        try {
          inner = decompressMessage(buf, lim.maxBytes);
        } catch (err) {
          if (err instanceof FrameError && err.reason === 'decompressLimit') throw new StreamError('tooLarge', `stream: body decompresses to more than ${lim.maxBytes} bytes`, { cause: err });
          throw new StreamError('compress', 'stream: bad compressed body', { cause: err });
        }
        return parseBody(inner, true, false, lim);
      }
      case MsgType.pushPull: {
        let r = decode(buf, 1);
        const header = toPushHeader(r.value);
        if (header.nodes < 0) throw new StreamError('tooLarge', `push/pull: ${header.nodes} nodes`);
        if (header.nodes > lim.maxNodes) throw new StreamError('tooManyMembers', `push/pull: ${header.nodes} nodes > ${lim.maxNodes}`);
        if (header.userStateLen < 0 || header.userStateLen > lim.maxBytes) throw new StreamError('tooLarge', 'push/pull: user state too large');
        const nodes: PushNodeState[] = [];
        let off = r.end;
        for (let i = 0; i < header.nodes; i++) {
          r = decode(buf, off);
          nodes.push(toPushNode(r.value));
          off = r.end;
        }
        if (buf.length - off < header.userStateLen) {
          if (complete) throw new StreamError('malformed', 'push/pull: truncated user state');
          return MORE;
        }
        return { status: 'ok', msg: { type: 'pushPull', header, nodes, userState: new Uint8Array(buf.subarray(off, off + header.userStateLen)) } };
      }
      case MsgType.ping:
      case MsgType.ackResp:
      case MsgType.err: {
        const r = decode(buf, 1);
        const m = decodeMessage(buf.subarray(0, r.end));
        if (m.type === MsgType.ping) return { status: 'ok', msg: { type: 'ping', ping: m.body } };
        if (m.type === MsgType.ackResp) return { status: 'ok', msg: { type: 'ack', ack: m.body } };
        if (m.type === MsgType.err) return { status: 'ok', msg: { type: 'err', error: m.body.error } };
        throw new StreamError('malformed', 'stream: unexpected body');
      }
      case MsgType.user: {
        const r = decode(buf, 1);
        const v = r.value;
        const len = v instanceof Map ? v.get('UserMsgLen') : undefined;
        if (typeof len !== 'number' || !Number.isSafeInteger(len) || len < 0 || len > lim.maxBytes) {
          throw new StreamError('malformed', 'user message: bad length');
        }
        if (buf.length - r.end < len) {
          if (complete) throw new StreamError('malformed', 'user message: truncated');
          return MORE;
        }
        return { status: 'ok', msg: { type: 'user', data: new Uint8Array(buf.subarray(r.end, r.end + len)) } };
      }
      default:
        throw new StreamError('unknownType', `stream: unknown message type ${String(t)}`);
    }
  } catch (err) {
    if (err instanceof StreamError) throw err;
    if (isTruncated(err) && !complete) return MORE;
    if (err instanceof MsgpackError || err instanceof DecodeError || err instanceof FrameError) {
      throw new StreamError('malformed', `stream: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/**
 * Tries to parse one stream message from all bytes received so far. `acceptor` is true on the
 * listening side, which must strip and check the dialer's label. `ended` means the peer closed.
 * Throws StreamError when the bytes can never form a valid message.
 */
export function tryParseStream(buf: Uint8Array, opts: StreamCodecOptions, acceptor: boolean, ended: boolean): ParseResult {
  const lim: ReadLimits = { maxBytes: opts.maxBytes ?? MAX_STREAM_BYTES, maxNodes: opts.maxNodes ?? MAX_PUSH_NODES };
  let rest = buf;
  if (acceptor) {
    if (rest.length === 0) {
      if (ended) throw new StreamError('malformed', 'stream: closed before any data');
      return MORE;
    }
    if (rest[0] === MsgType.hasLabel) {
      if (rest.length < 2 || rest.length < 2 + (rest[1] ?? 0)) {
        if (ended) throw new StreamError('label', 'stream: truncated label');
        return MORE;
      }
    }
    let stripped;
    try {
      stripped = stripLabel(rest);
    } catch (err) {
      throw new StreamError('label', 'stream: bad label header', { cause: err });
    }
    if (!bytesEqual(stripped.label, opts.label)) {
      throw new StreamError('label', `stream: label "${bytesToText(stripped.label)}" does not match ours`);
    }
    rest = stripped.rest;
  }
  if (rest.length === 0) {
    if (ended) throw new StreamError('malformed', 'stream: no message');
    return MORE;
  }
  if (rest[0] === MsgType.encrypt) {
    if (opts.keys.length === 0) throw new StreamError('unexpectedEncryption', 'stream: remote state is encrypted and encryption is not configured');
    if (rest.length < 5) {
      if (ended) throw new StreamError('malformed', 'stream: truncated encryption header');
      return MORE;
    }
    const len = new DataView(rest.buffer, rest.byteOffset, rest.length).getUint32(1);
    if (len > lim.maxBytes + ENCRYPT_OVERHEAD_V1 + 16) throw new StreamError('tooLarge', `stream: encrypted length ${len} too large`);
    if (rest.length < 5 + len) {
      if (ended) throw new StreamError('malformed', 'stream: truncated encrypted body');
      return MORE;
    }
    const aad = Buffer.concat([rest.subarray(0, 5), opts.label]);
    const plain = decryptPayload(opts.keys, rest.subarray(5, 5 + len), aad);
    if (typeof plain === 'string') throw new StreamError('decrypt', `stream: no installed keys could decrypt the message (${plain})`);
    return parseBody(plain, true, true, lim);
  }
  if (opts.keys.length > 0 && opts.allowPlaintext !== true) throw new StreamError('notEncrypted', 'stream: encryption is configured but remote state is not encrypted');
  return parseBody(rest, ended, true, lim);
}

/** Bytes a stream message may need to be complete, if known from its header (encrypted frames). */
export function expectedStreamLength(buf: Uint8Array, label: Uint8Array, acceptor: boolean): number | undefined {
  const off = acceptor && label.length > 0 ? 2 + label.length : 0;
  if (buf.length < off + 5 || buf[off] !== MsgType.encrypt) return undefined;
  return off + 5 + new DataView(buf.buffer, buf.byteOffset, buf.length).getUint32(off + 1);
}
