import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Config, advertisementKey, decodeInForce, encodeInForce, formatRange, poolKey } from '@ironlb/core';
import { type IPAddressPoolObject, type L2AdvertisementObject, configFromObjects, configFromSources } from '@ironlb/k8s';
import { seededSources } from './in-force.js';

const pool = (name: string, created: string, addresses: string[]): IPAddressPoolObject => ({ metadata: { name, creationTimestamp: new Date(created) }, spec: { addresses } });
const all: L2AdvertisementObject = { metadata: { name: 'all' }, spec: {} };
const meaning = (c: Config | undefined): string => JSON.stringify([(c?.pools ?? []).map((p) => [p.name, poolKey(p)]), (c?.l2Advertisements ?? []).map(advertisementKey)]);
const summary = (c: Config | undefined): string[] => (c?.pools ?? []).map((p) => `${p.name}:${p.addresses.map(formatRange).join(',')}`);
const published = (c: Config): Config => {
  const r = decodeInForce(encodeInForce(c));
  if (!r.ok) throw new Error(r.error);
  return r.config;
};

/** One speaker recompute (what Speaker.#recomputeConfig does), from fresh process memory. */
function speakerView(o: { text: string | undefined; pools: IPAddressPoolObject[]; own?: Config; ownLegacy?: Config; inForce: Config | undefined; adopt: boolean }): {
  config: Config;
  legacy: Config | undefined;
} {
  const seed = seededSources({ own: o.own, ownLegacy: o.ownLegacy, published: o.inForce, adopt: o.adopt });
  const r = configFromSources({ configMapText: o.text, lastGoodLegacy: seed.lastGoodLegacy, pools: o.pools, advertisements: [all], previous: seed.previous });
  return { config: r.config, legacy: r.legacy };
}

void describe('speaker: seeding from the published config in force', { timeout: 10_000 }, () => {
  // The controller's history: b (older) and a, disjoint; then b edited to overlap a.
  const a = pool('a', '2024-01-02T00:00:00Z', ['198.51.100.16/28']);
  const bOld = pool('b', '2024-01-01T00:00:00Z', ['198.51.100.0/28']);
  const bNew = pool('b', '2024-01-01T00:00:00Z', ['198.51.100.0/27']);
  const first = configFromObjects({ pools: [a, bOld], advertisements: [all] }).config;
  const controller = configFromObjects({ pools: [a, bNew], advertisements: [all], previous: first }).config;

  void it('a restarted speaker sees what the controller has in force (and would not without it)', () => {
    assert.deepEqual(summary(controller), ['a:198.51.100.16/28', 'b:198.51.100.0/28']);
    const fresh = speakerView({ text: undefined, pools: [a, bNew], inForce: undefined, adopt: true });
    assert.deepEqual(summary(fresh.config), ['b:198.51.100.0/27'], 'without the document the speaker would disagree');
    const seeded = speakerView({ text: undefined, pools: [a, bNew], inForce: published(controller), adopt: true });
    assert.equal(meaning(seeded.config), meaning(controller));
  });

  void it('a newly published version overrides what a partial start computed; later recomputes keep it', () => {
    const partial = speakerView({ text: undefined, pools: [a, bNew], inForce: undefined, adopt: false }).config;
    const adopted = speakerView({ text: undefined, pools: [a, bNew], own: partial, inForce: published(controller), adopt: true }).config;
    assert.equal(meaning(adopted), meaning(controller));
    const next = speakerView({ text: undefined, pools: [a, bNew], own: adopted, inForce: published(controller), adopt: false }).config;
    assert.equal(meaning(next), meaning(controller));
  });

  void it('ConfigMap pools stay in force on a restarted speaker when the ConfigMap is gone or invalid', () => {
    const text = 'address-pools:\n- name: legacy\n  protocol: layer2\n  addresses: [198.51.100.200-198.51.100.203]\n';
    const withCm = configFromSources({ configMapText: text, pools: [a], advertisements: [all] }).config;
    for (const cmText of [undefined, 'address-pools: [', '']) {
      const v = speakerView({ text: cmText, pools: [a], inForce: published(withCm), adopt: true });
      assert.equal(meaning(v.config), meaning(withCm), `ConfigMap text ${JSON.stringify(cmText)}`);
      assert.deepEqual(summary(v.legacy), ['legacy:198.51.100.200/30']);
    }
    // A valid ConfigMap speaks for itself.
    const v = speakerView({ text: 'address-pools: []\n', pools: [a], inForce: published(withCm), adopt: true });
    assert.deepEqual(summary(v.config), ['a:198.51.100.16/28']);
  });

  void it('without a published document the speaker decides as before', () => {
    const own = speakerView({ text: undefined, pools: [a, bOld], inForce: undefined, adopt: true }).config;
    const s = seededSources({ own, ownLegacy: undefined, published: undefined, adopt: true });
    assert.equal(s.previous, own);
    assert.equal(s.lastGoodLegacy, undefined);
  });
});
