/**
 * The speaker's memberlist node metadata, pure encode/decode. Peers learn from it which MACs
 * belong to which speaker (so a claim on the wire can be told apart from a foreign host's) and
 * which gossip keys a speaker holds (so a key rotation advances only when everyone can follow).
 *
 * Binary, not JSON: memberlist caps meta at 512 bytes and every alive message carries it.
 *   "ilb" 0x01 | u8 macCount | macCount × 6 bytes | u8 keyCount | keyCount × 8 bytes | u8 primary
 * `primary` indexes the key list (0xff: no key, plaintext gossip).
 */
import { createHash } from 'node:crypto';

/** Meta format version 1 magic: "ilb\x01". */
const MAGIC = [0x69, 0x6c, 0x62, 0x01] as const;

/** At most this many MACs are advertised (a node with more interfaces advertises the first ones). */
export const MAX_META_MACS = 32;
/** At most this many key fingerprints (a keyring holds the current key and a rotation's next). */
export const MAX_META_KEYS = 4;
/** Fingerprint length in bytes (hex text is twice that). */
const FP_BYTES = 8;
const NO_PRIMARY = 0xff;

/** What a speaker tells its peers about itself. */
export interface NodeMeta {
  /** Lower-case colon-separated MACs of the interfaces this speaker answers on. */
  readonly macs: readonly string[];
  /** Fingerprints (16 hex digits) of the gossip keys installed, primary first or not. */
  readonly keys: readonly string[];
  /** Fingerprint of the key used to encrypt, or null when gossip is plaintext. */
  readonly primary: string | null;
}

/**
 * Fingerprint of a gossip key: the first 8 bytes of SHA-256 over a domain prefix and the key.
 * It identifies a key among peers without revealing anything useful about it.
 */
export function keyFingerprint(key: Uint8Array): string {
  return createHash('sha256').update('ironlb memberlist key fingerprint\0').update(key).digest().subarray(0, FP_BYTES).toString('hex');
}

/** Encodes meta; extra MACs or keys beyond the caps are left out (keys: the primary is kept). */
export function encodeNodeMeta(m: NodeMeta): Uint8Array {
  const macs = m.macs.slice(0, MAX_META_MACS).map(macBytes);
  let keys = [...new Set(m.keys)];
  if (m.primary !== null && !keys.includes(m.primary)) keys.unshift(m.primary);
  if (keys.length > MAX_META_KEYS) {
    const rest = keys.filter((k) => k !== m.primary);
    keys = m.primary === null ? rest.slice(0, MAX_META_KEYS) : [m.primary, ...rest.slice(0, MAX_META_KEYS - 1)];
  }
  const out = new Uint8Array(4 + 1 + macs.length * 6 + 1 + keys.length * FP_BYTES + 1);
  out.set(MAGIC, 0);
  let o = 4;
  out[o++] = macs.length;
  for (const mac of macs) {
    out.set(mac, o);
    o += 6;
  }
  out[o++] = keys.length;
  for (const k of keys) {
    out.set(Buffer.from(k, 'hex'), o);
    o += FP_BYTES;
  }
  out[o] = m.primary === null ? NO_PRIMARY : keys.indexOf(m.primary);
  return out;
}

/** Decodes meta; null when it is not a well-formed ironlb v1 meta (a foreign or broken member). */
export function decodeNodeMeta(b: Uint8Array): NodeMeta | null {
  if (b.length < 7) return null;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < MAGIC.length; i++) if (v.getUint8(i) !== MAGIC[i]) return null;
  let o = 4;
  const macCount = v.getUint8(o++);
  if (macCount > MAX_META_MACS || o + macCount * 6 + 1 > b.length) return null;
  const macs: string[] = [];
  for (let i = 0; i < macCount; i++, o += 6) macs.push(formatMac(b.subarray(o, o + 6)));
  const keyCount = v.getUint8(o++);
  if (keyCount > MAX_META_KEYS || o + keyCount * FP_BYTES + 1 !== b.length) return null;
  const keys: string[] = [];
  for (let i = 0; i < keyCount; i++, o += FP_BYTES) keys.push(Buffer.from(b.subarray(o, o + FP_BYTES)).toString('hex'));
  const p = v.getUint8(o);
  if (p !== NO_PRIMARY && p >= keyCount) return null;
  return { macs, keys, primary: p === NO_PRIMARY ? null : (keys[p] ?? null) };
}

function macBytes(mac: string): Uint8Array {
  const parts = mac.split(':');
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) throw new Error(`nodemeta: invalid MAC ${JSON.stringify(mac)}`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

function formatMac(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
