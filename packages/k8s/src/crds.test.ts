import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isConfigError, parseConfig } from '@ironlb/core';
import { configFromObjects, configFromSources, nodeInfo } from './crds.js';

void describe('configFromObjects', { timeout: 10_000 }, () => {
  void it('copies names, labels, specs and creation times into core, skips objects being deleted', () => {
    const legacy = parseConfig('address-pools:\n- {name: cm, protocol: layer2, addresses: [198.51.100.0/28]}\n');
    assert.ok(!isConfigError(legacy));
    const r = configFromObjects({
      legacy,
      pools: [
        { metadata: { name: 'b', labels: { t: 'x' }, creationTimestamp: new Date(2000) }, spec: { addresses: ['198.51.100.32/28'] } },
        { metadata: { name: 'a', creationTimestamp: new Date(1000) }, spec: { addresses: ['198.51.100.32/29'] } },
        { metadata: { name: 'gone', deletionTimestamp: new Date() }, spec: { addresses: ['198.51.100.64/28'] } },
      ],
      advertisements: [{ metadata: { name: 'by-label' }, spec: { ipAddressPoolSelectors: [{ matchLabels: { t: 'x' } }] } }],
    });
    assert.deepEqual(
      r.config.pools.map((p) => p.name),
      ['cm', 'a'],
      'the older object keeps the contested addresses; a deleted one is gone',
    );
    assert.deepEqual(
      r.problems.map((p) => p.name),
      ['b'],
    );
    assert.deepEqual(
      r.config.l2Advertisements?.map((a) => a.name),
      ['(ConfigMap)', 'by-label'],
    );
  });

  void it('from the ConfigMap text: a bad or empty text keeps the last good ConfigMap config and says why', () => {
    const good = configFromSources({ configMapText: 'address-pools:\n- {name: cm, protocol: layer2, addresses: [198.51.100.0/28]}\n', pools: [], advertisements: [] });
    assert.deepEqual([good.config.pools.map((p) => p.name), good.legacyError], [['cm'], undefined]);
    const bad = configFromSources({ configMapText: 'address-pools: [', pools: [], advertisements: [], lastGoodLegacy: good.legacy });
    assert.deepEqual(
      bad.config.pools.map((p) => p.name),
      ['cm'],
    );
    assert.match(bad.legacyError ?? '', /^invalid config: YAML/);
    const empty = configFromSources({ configMapText: '', pools: [], advertisements: [], lastGoodLegacy: good.legacy });
    assert.deepEqual([empty.config.pools.map((p) => p.name), empty.legacyError], [['cm'], 'the "config" key is empty; keeping the last good config']);
  });

  void it('reads Node names and labels', () => {
    assert.deepEqual(nodeInfo({ metadata: { name: 'n1', labels: { a: 'b' } } }), { name: 'n1', labels: { a: 'b' } });
    assert.deepEqual(nodeInfo({}), { name: '', labels: {} });
  });
});
