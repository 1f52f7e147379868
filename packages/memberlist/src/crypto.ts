/**
 * AES-GCM encryption as memberlist does it (security.go, keyring.go): payload =
 * version ‖ 12-byte nonce ‖ ciphertext ‖ 16-byte tag. Version 1 seals the plaintext as is;
 * version 0 (only for ProtocolVersion 1 peers) PKCS#7-pads to 16 first. Decryption tries every
 * key in the ring; the primary (index 0) encrypts.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const NONCE = 12;
const TAG = 16;
const BLOCK = 16;

/** Bytes added by version 1 encryption: version + nonce + tag. */
export const ENCRYPT_OVERHEAD_V1 = 1 + NONCE + TAG; // 29

/**
 * A keyring: ordered AES keys; the first (primary) encrypts, all decrypt (memberlist
 * keyring.go). Changes take effect for the next packet or stream, sent or received.
 */
export class Keyring {
  private keys: Uint8Array[];
  /** Creates a ring; every key must be 16, 24 or 32 bytes. The first key is the primary. */
  constructor(keys: readonly Uint8Array[]) {
    if (keys.length === 0) throw new Error('keyring: at least one key is required');
    for (const k of keys) checkKey(k);
    this.keys = keys.map((k) => k.slice());
  }
  /**
   * The keys, primary first, without copying (the hot receive path reads this per packet).
   * Read-only: the array is replaced, never mutated, when the ring changes.
   */
  view(): readonly Uint8Array[] {
    return this.keys;
  }
  /** The key used to encrypt. */
  primary(): Uint8Array {
    const k = this.keys[0];
    if (k === undefined) throw new Error('keyring: empty');
    return k;
  }
  /** All keys, primary first (copies). */
  all(): Uint8Array[] {
    return this.keys.map((k) => k.slice());
  }
  /** Adds a key at the end (for rotation: install everywhere, then make it primary). */
  add(key: Uint8Array): void {
    checkKey(key);
    if (!this.keys.some((k) => Buffer.compare(k, key) === 0)) this.keys = [...this.keys, key.slice()];
  }
  /** Makes an installed key the primary. */
  use(key: Uint8Array): void {
    const i = this.keys.findIndex((k) => Buffer.compare(k, key) === 0);
    if (i < 0) throw new Error('keyring: key not installed');
    const next = [...this.keys];
    const [k] = next.splice(i, 1);
    if (k !== undefined) next.unshift(k);
    this.keys = next;
  }
  /** Removes a non-primary key. */
  remove(key: Uint8Array): void {
    const i = this.keys.findIndex((k) => Buffer.compare(k, key) === 0);
    if (i === 0) throw new Error('keyring: cannot remove the primary key');
    if (i > 0) this.keys = this.keys.filter((_, j) => j !== i);
  }
}

/**
 * A short, stable, non-secret name for a key: the first 8 bytes of SHA-256("ironlb-key" ‖ key),
 * hex. Peers can advertise which keys they hold (e.g. in meta) without revealing them.
 */
export function keyFingerprint(key: Uint8Array): string {
  return createHash('sha256').update('ironlb-key').update(key).digest().subarray(0, 8).toString('hex');
}

function checkKey(k: Uint8Array): void {
  if (k.length !== 16 && k.length !== 24 && k.length !== 32) {
    throw new Error(`keyring: key must be 16, 24 or 32 bytes, got ${k.length}`);
  }
}

function algo(key: Uint8Array): 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm' {
  return key.length === 16 ? 'aes-128-gcm' : key.length === 24 ? 'aes-192-gcm' : 'aes-256-gcm';
}

/** Encrypts `msg` with `key` (version 0 or 1), `aad` as GCM additional data. */
export function encryptPayload(version: 0 | 1, key: Uint8Array, msg: Uint8Array, aad: Uint8Array, nonce: Uint8Array = randomBytes(NONCE)): Uint8Array {
  let plain = msg;
  if (version === 0) {
    const pad = BLOCK - (msg.length % BLOCK);
    plain = new Uint8Array(msg.length + pad);
    plain.set(msg);
    plain.fill(pad, msg.length);
  }
  const c = createCipheriv(algo(key), key, nonce, { authTagLength: TAG });
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  const out = new Uint8Array(1 + NONCE + ct.length);
  out[0] = version;
  out.set(nonce, 1);
  out.set(ct, 1 + NONCE);
  return out;
}

function openWith(key: Uint8Array, payload: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  const nonce = payload.subarray(1, 1 + NONCE);
  const body = payload.subarray(1 + NONCE, payload.length - TAG);
  const tag = payload.subarray(payload.length - TAG);
  try {
    const d = createDecipheriv(algo(key), key, nonce, { authTagLength: TAG });
    d.setAAD(aad);
    d.setAuthTag(tag);
    return new Uint8Array(Buffer.concat([d.update(body), d.final()]));
  } catch {
    return undefined;
  }
}

/**
 * Decrypts a payload with each key in turn. Returns the plaintext, or a reason string when
 * the version is unknown, the payload is too short, or no key authenticates it.
 */
export function decryptPayload(keys: readonly Uint8Array[], payload: Uint8Array, aad: Uint8Array): Uint8Array | 'version' | 'short' | 'nokey' {
  if (payload.length < 1) return 'short';
  const v = payload[0];
  if (v !== 0 && v !== 1) return 'version';
  const min = v === 0 ? 1 + NONCE + BLOCK + TAG : 1 + NONCE + TAG;
  if (payload.length < min) return 'short';
  for (const k of keys) {
    const plain = openWith(k, payload, aad);
    if (plain === undefined) continue;
    if (v === 1) return plain;
    // Version 0: strip PKCS#7 padding.
    const pad = plain[plain.length - 1] ?? 0;
    if (pad < 1 || pad > BLOCK || pad > plain.length) return 'nokey';
    return plain.subarray(0, plain.length - pad);
  }
  return 'nokey';
}

/**
 * ironlb's default key derivation from a Kubernetes Secret string: SHA-256(UTF-8 secret),
 * a 32-byte AES-256 key. Not interoperable with MetalLB's speakers (see deriveKeyMetalLB).
 */
export function deriveKeySha256(secret: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(secret, 'utf8').digest());
}

/**
 * MetalLB's derivation (speakerlist.go: `sha256.New().Sum([]byte(secret))[:32]`): Go's Sum
 * *appends* the digest of the empty hash to its argument, so the key is the first 32 bytes of
 * secret ‖ SHA-256(""). Use it only to share a key with MetalLB speakers.
 */
export function deriveKeyMetalLB(secret: string): Uint8Array {
  const s = Buffer.from(secret, 'utf8');
  const empty = createHash('sha256').digest();
  return new Uint8Array(Buffer.concat([s, empty]).subarray(0, 32));
}
