/** The guard against one edit that takes IPs away from many Services: scenarios on real configs. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Config, type ServiceRecord, isConfigError, parseConfig } from '@ironlb/core';
import { type Holder, parseMaxRelease, releaseVerdict, strandedBy } from './config-guard.js';

function config(text: string): Config {
  const c = parseConfig(text);
  if (isConfigError(c)) throw new Error(c.message);
  return c;
}

const POOLS = 'address-pools:\n- {name: a, protocol: layer2, addresses: [198.51.100.0/28]}\n- {name: b, protocol: layer2, addresses: [203.0.113.0/28]}\n';
const rec = (key: string, extra: Partial<ServiceRecord> = {}): ServiceRecord => ({
  key,
  families: ['ipv4'],
  familyPolicy: 'SingleStack',
  ports: [{ protocol: 'TCP', port: 80 }],
  requestedIPs: [],
  ...extra,
});
const holders: Holder[] = [
  { record: rec('ns/a1'), ips: ['198.51.100.1'] },
  { record: rec('ns/a2'), ips: ['198.51.100.2'] },
  { record: rec('ns/b1', { requestedPool: 'b' }), ips: ['203.0.113.1'] },
  { record: rec('ns/gone'), ips: ['192.0.2.9'] },
];
const where = { namespace: 'ironlb-system', name: 'config' };

describe('config guard', { timeout: 10_000 }, () => {
  it('counts only Services that fit before and not after', () => {
    const cur = config(POOLS);
    assert.deepEqual(strandedBy(cur, cur, holders), [], 'the same config strands nobody (ns/gone was already outside)');
    assert.deepEqual(strandedBy(config('address-pools: []\n'), cur, holders), ['ns/a1', 'ns/a2', 'ns/b1']);
    assert.deepEqual(strandedBy(config(POOLS.replace('198.51.100.0/28', '198.51.100.2/31')), cur, holders), ['ns/a1'], 'a shrink');
    assert.deepEqual(strandedBy(config(POOLS.replace('name: b', 'name: c')), cur, holders), ['ns/b1'], 'a rename strands who asked for the pool by name');
    assert.deepEqual(strandedBy(config(POOLS.replace('name: a,', 'name: a, avoid-buggy-ips: true,')), cur, [{ record: rec('ns/zero'), ips: ['198.51.100.0'] }]), ['ns/zero']);
  });

  it('at start-up (no config yet) every holder counts', () => {
    assert.deepEqual(strandedBy(config('address-pools: []\n'), undefined, holders), ['ns/a1', 'ns/a2', 'ns/b1', 'ns/gone']);
  });

  it('refuses releasing every IP, or more than the limit, unless the annotation allows it', () => {
    assert.deepEqual(releaseVerdict([], 4, undefined, where), { ok: true });
    assert.equal(releaseVerdict(['ns/a'], 4, undefined, where).ok, true, 'a small shrink goes through (with Warnings)');
    const all = releaseVerdict(['ns/a', 'ns/b', 'ns/c', 'ns/d'], 4, undefined, where);
    assert.equal(all.ok, false);
    assert.equal(
      all.message,
      'refused: this config would take the IPs away from all 4 Services that have one (ns/a, ns/b, ns/c, ns/d); a config may never release every assigned IP unannounced. The config in force stays. ' +
        'If this is intended: kubectl -n ironlb-system annotate configmap config --overwrite ironlb.io/max-ip-release=4',
    );
    assert.equal(releaseVerdict(['ns/a'], 1, undefined, where).ok, false, 'the only Service counts as all');
    const many = Array.from({ length: 11 }, (_, i) => `ns/s${i}`);
    assert.match(releaseVerdict(many, 100, undefined, where).message ?? '', /11 of the 100 Services .*ns\/s4, and 6 more\); a config may release at most 10\./);
    assert.equal(releaseVerdict(many, 100, 11, where).ok, true);
    assert.equal(releaseVerdict(many, 11, 11, where).ok, true, 'the annotation can allow all');
    assert.match(releaseVerdict(many, 100, 3, where).message ?? '', /the ironlb\.io\/max-ip-release annotation allows 3/);
  });

  it('reads the annotation strictly', () => {
    assert.deepEqual(parseMaxRelease(undefined), { limit: undefined });
    assert.deepEqual(parseMaxRelease(' 12 '), { limit: 12 });
    assert.equal(parseMaxRelease('all').limit, undefined);
    assert.match(parseMaxRelease('-1').problem ?? '', /must be a whole number/);
  });
});
