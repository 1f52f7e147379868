/** Key rotation steps as a scenario: three speakers walk install → use → remove in lock-step. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type KeyringView, type PeerKeys, rotationStep } from './keyrotation.js';

interface Ring {
  installed: string[];
  primary: string | null;
}

function apply(r: Ring, desired: string | undefined, peers: PeerKeys[]): void {
  for (const a of rotationStep(desired, r, peers)) {
    if (a.kind === 'install') r.installed.push(a.fp);
    else if (a.kind === 'use') r.primary = a.fp;
    else r.installed = r.installed.filter((k) => k !== a.fp);
  }
}

describe('rotationStep', () => {
  it('nothing to do without a desired key, or when settled', () => {
    assert.deepEqual(rotationStep(undefined, { installed: ['a'], primary: 'a' }, []), []);
    assert.deepEqual(rotationStep('a', { installed: ['a'], primary: 'a' }, [{ name: 'p', keys: ['a'], primary: 'a' }]), []);
  });
  it('installs first, switches only when every peer holds the key, removes only when every peer uses it', () => {
    const ring: KeyringView = { installed: ['old'], primary: 'old' };
    assert.deepEqual(rotationStep('new', ring, []), [{ kind: 'install', fp: 'new' }]);
    const two: KeyringView = { installed: ['old', 'new'], primary: 'old' };
    assert.deepEqual(rotationStep('new', two, [{ name: 'p', keys: ['old'], primary: 'old' }]), []);
    assert.deepEqual(rotationStep('new', two, [{ name: 'p', keys: ['old', 'new'], primary: 'old' }]), [{ kind: 'use', fp: 'new' }]);
    const switched: KeyringView = { installed: ['old', 'new'], primary: 'new' };
    assert.deepEqual(rotationStep('new', switched, [{ name: 'p', keys: ['old', 'new'], primary: 'old' }]), []);
    assert.deepEqual(rotationStep('new', switched, [{ name: 'p', keys: ['old', 'new'], primary: 'new' }]), [{ kind: 'remove', fp: 'old' }]);
  });
  it('three speakers converge, and at every step any two can read each other', () => {
    const rings: Record<string, Ring> = { a: { installed: ['k1'], primary: 'k1' }, b: { installed: ['k1'], primary: 'k1' }, c: { installed: ['k1'], primary: 'k1' } };
    const peersOf = (self: string): PeerKeys[] =>
      Object.entries(rings)
        .filter(([n]) => n !== self)
        .map(([name, r]) => ({ name, keys: [...r.installed], primary: r.primary }));
    // Speakers see the new Secret at different times and act in different orders.
    const order = ['b', 'a', 'c', 'c', 'a', 'b', 'b', 'c', 'a', 'a', 'b', 'c'];
    for (const [i, self] of order.entries()) {
      const desired = i === 0 && self !== 'b' ? undefined : 'k2';
      apply(rings[self] as Ring, desired, peersOf(self));
      for (const x of Object.values(rings)) for (const y of Object.values(rings)) assert.ok(x.primary !== null && y.installed.includes(x.primary), `step ${i}: a packet could not be read`);
    }
    for (const r of Object.values(rings)) assert.deepEqual(r, { installed: ['k2'], primary: 'k2' });
  });
});
