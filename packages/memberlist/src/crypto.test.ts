import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { Keyring, decryptPayload, deriveKeyMetalLB, deriveKeySha256, encryptPayload } from './crypto.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const key16 = new Uint8Array(16).fill(1);
const key32 = new Uint8Array(32).fill(2);
const nonce = new Uint8Array(12).fill(9);

test('crypto: version 1 layout = 01 ‖ nonce ‖ AES-GCM(ct ‖ tag), AAD = label', { timeout: 120_000 }, () => {
  const msg = new TextEncoder().encode('hello');
  const aad = new TextEncoder().encode('lbl');
  const out = encryptPayload(1, key32, msg, aad, nonce);
  assert.equal(out.length, 1 + 12 + 5 + 16);
  assert.equal(out[0], 1);
  assert.deepEqual(out.subarray(1, 13), nonce);
  // Independently computed with node:crypto.
  const c = createCipheriv('aes-256-gcm', key32, nonce);
  c.setAAD(aad);
  const want = Buffer.concat([c.update(msg), c.final(), c.getAuthTag()]);
  assert.equal(hex(out.subarray(13)), want.toString('hex'));
  assert.deepEqual(decryptPayload([key16, key32], out, aad), msg);
  assert.equal(decryptPayload([key32], out, new Uint8Array(0)), 'nokey', 'wrong AAD');
});

test('crypto: version 0 pads PKCS#7 to 16 and strips it', { timeout: 120_000 }, () => {
  for (const n of [0, 1, 15, 16, 17]) {
    const msg = new Uint8Array(n).fill(7);
    const out = encryptPayload(0, key16, msg, new Uint8Array(0));
    assert.equal(out.length, 1 + 12 + (Math.floor(n / 16) + 1) * 16 + 16);
    assert.deepEqual(decryptPayload([key16], out, new Uint8Array(0)), msg);
  }
});

test('crypto: drop reasons for short, unknown version and wrong key', { timeout: 120_000 }, () => {
  const ok = encryptPayload(1, key16, new Uint8Array(3), new Uint8Array(0));
  assert.equal(decryptPayload([key16], ok.subarray(0, 28), new Uint8Array(0)), 'short');
  const v2 = ok.slice();
  v2[0] = 2;
  assert.equal(decryptPayload([key16], v2, new Uint8Array(0)), 'version');
  assert.equal(decryptPayload([key32], ok, new Uint8Array(0)), 'nokey');
  assert.equal(decryptPayload([key16], new Uint8Array(0), new Uint8Array(0)), 'short');
});

test('crypto: keyring rotation: add, use, remove; primary encrypts', { timeout: 120_000 }, () => {
  const ring = new Keyring([key16]);
  ring.add(key32);
  assert.deepEqual(ring.primary(), key16);
  ring.use(key32);
  assert.deepEqual(ring.primary(), key32);
  ring.remove(key16);
  assert.equal(ring.all().length, 1);
  assert.throws(() => ring.remove(key32), /primary/);
  assert.throws(() => new Keyring([new Uint8Array(10)]), /16, 24 or 32/);
  assert.throws(() => new Keyring([]), /at least one/);
});

test('crypto: key derivations (table)', { timeout: 120_000 }, () => {
  const table: Array<[string, string, string]> = [
    // secret, SHA-256(secret), MetalLB: first 32 bytes of secret ‖ SHA-256("")
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', '616263' + 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b78'],
    // a MetalLB auto-generated secret: 22 base64 chars + first 10 bytes of SHA-256("")
    ['AAAAAAAAAAAAAAAAAAAAAA', '', '41'.repeat(22) + 'e3b0c44298fc1c149afb'],
    ['x'.repeat(40), '', '78'.repeat(32)],
  ];
  for (const [secret, sha, metallb] of table) {
    if (sha !== '') assert.equal(hex(deriveKeySha256(secret)), sha, secret);
    assert.equal(deriveKeySha256(secret).length, 32);
    assert.equal(hex(deriveKeyMetalLB(secret)), metallb, secret);
  }
});
