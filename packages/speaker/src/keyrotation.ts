/**
 * Gossip key rotation without a partition, pure. A Secret change gives every speaker a new
 * desired key; each one walks the same three steps, gated on what its peers advertise in their
 * node meta (nodemeta.ts), so at every moment any two live speakers can read each other:
 *
 *   1. install the desired key beside the current one (decrypt both, still encrypt with the old);
 *   2. once every live peer has it installed, make it primary (encrypt with it);
 *   3. once every live peer encrypts with it, remove every other key.
 *
 * memberlist keyrings try every installed key on receive, which is what makes step 1 safe.
 * A deleted Secret yields no desired key: nothing changes (we never fall back to plaintext).
 */

/** This speaker's keyring, by fingerprint. */
export interface KeyringView {
  /** Installed keys' fingerprints. */
  readonly installed: readonly string[];
  /** The fingerprint of the key used to encrypt, or null (plaintext). */
  readonly primary: string | null;
}

/** What a live peer advertises (from its node meta). */
export interface PeerKeys {
  readonly name: string;
  readonly keys: readonly string[];
  readonly primary: string | null;
}

/** One step to apply to the keyring, followed by a meta update so peers see it. */
export type KeyAction = { readonly kind: 'install'; readonly fp: string } | { readonly kind: 'use'; readonly fp: string } | { readonly kind: 'remove'; readonly fp: string };

/** The step to take now (at most one install/use; removals all at once), or [] when settled. */
export function rotationStep(desired: string | undefined, ring: KeyringView, peers: readonly PeerKeys[]): KeyAction[] {
  if (desired === undefined) return [];
  if (!ring.installed.includes(desired)) return [{ kind: 'install', fp: desired }];
  if (ring.primary !== desired) {
    // A peer that does not hold the new key yet could not read us: wait for it.
    return peers.every((p) => p.keys.includes(desired)) ? [{ kind: 'use', fp: desired }] : [];
  }
  const stale = ring.installed.filter((fp) => fp !== desired);
  if (stale.length === 0) return [];
  // A peer still encrypting with an old key needs us to keep it until it switched.
  if (!peers.every((p) => p.primary === desired)) return [];
  return stale.map((fp) => ({ kind: 'remove', fp }));
}
