import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Allocator, buildConfig } from '@ironlb/core';
import { advertisementStatus, condition, poolStatus } from './object-status.js';

void describe('object status', { timeout: 10_000 }, () => {
  const t0 = new Date('2026-01-01T00:00:00Z');
  const t1 = new Date('2026-01-01T00:05:00Z');
  const build = buildConfig({
    pools: [
      { name: 'a', spec: { addresses: ['198.51.100.0/30', '2001:db8::/126'] } },
      { name: 'broken', spec: { addresses: ['198.51.100.9-198.51.100.8'] } },
    ],
    advertisements: [{ name: 'ad', spec: { ipAddressPools: ['a'], nodeSelectors: [{ matchLabels: { zone: 'a' } }] } }],
  });
  const alloc = new Allocator(build.config);
  alloc.allocate({ key: 'x/s', families: ['ipv4'], familyPolicy: 'SingleStack', ports: [], requestedIPs: [] });

  void it('counts per family, says Valid and Advertised, and keeps transition times while unchanged', () => {
    const s = poolStatus({ name: 'a', generation: 3, build, config: build.config, stats: alloc.poolStats('a'), unannounced: undefined, refused: undefined, previous: undefined, now: t0 });
    assert.deepEqual([s.assignedIPv4, s.availableIPv4, s.assignedIPv6, s.availableIPv6], [1, 3, 0, 4]);
    assert.deepEqual(
      s.conditions?.map((c) => [c.type, c.status, c.reason, c.observedGeneration]),
      [
        ['Valid', 'True', 'InForce', 3],
        ['Advertised', 'True', 'Advertised', 3],
      ],
    );
    const again = poolStatus({ name: 'a', generation: 3, build, config: build.config, stats: alloc.poolStats('a'), unannounced: undefined, refused: undefined, previous: s.conditions, now: t1 });
    assert.deepEqual(again, s, 'nothing changed: an equal value, so no write');
    const lost = poolStatus({
      name: 'a',
      generation: 3,
      build,
      config: build.config,
      stats: alloc.poolStats('a'),
      unannounced: 'noSelectedNodes',
      refused: undefined,
      previous: s.conditions,
      now: t1,
    });
    const adv = lost.conditions?.find((c) => c.type === 'Advertised');
    assert.deepEqual([adv?.status, adv?.reason, adv?.lastTransitionTime], ['False', 'NoSelectedNodes', t1.toISOString()]);
  });

  void it('an invalid pool says why and whether a previous version stays; a refused change says so', () => {
    const s = poolStatus({ name: 'broken', generation: 1, build, config: build.config, stats: undefined, unannounced: undefined, refused: undefined, previous: undefined, now: t0 });
    const v = s.conditions?.[0];
    assert.deepEqual([v?.status, v?.reason], ['False', 'Invalid']);
    assert.match(v?.message ?? '', /spec\.addresses\[0\]: range 198\.51\.100\.9-198\.51\.100\.8 is reversed.*The pool is not in force\./);
    assert.deepEqual([s.assignedIPv4, s.availableIPv4], [0, 0]);
    const r = poolStatus({
      name: 'a',
      generation: 1,
      build,
      config: build.config,
      stats: undefined,
      unannounced: undefined,
      refused: { pools: new Set(['a']), message: 'refused: …' },
      previous: undefined,
      now: t0,
    });
    assert.equal(r.conditions?.[0]?.reason, 'ReleaseRefused');
  });

  void it('an advertisement lists the nodes it selects', () => {
    const nodes = [
      { name: 'n2', labels: { zone: 'a' } },
      { name: 'n1', labels: { zone: 'a' } },
      { name: 'n3', labels: { zone: 'b' } },
    ];
    const s = advertisementStatus({ name: 'ad', generation: 2, build, config: build.config, nodes, previous: undefined, now: t0 });
    assert.deepEqual([s.selectedNodes, s.selectedNodeCount, s.conditions?.[0]?.status], [['n1', 'n2'], 2, 'True']);
  });

  void it('condition() cuts long messages', () => {
    const c = condition(undefined, { type: 'Valid', status: 'False', reason: 'Invalid', message: 'x'.repeat(5000) }, t0);
    assert.equal(c.message.length, 2000);
  });
});
