/**
 * IPAddressPool serviceAllocation in the allocator (MetalLB semantics): pinned pools serve only
 * matching Services, are tried first by priority, never serve others automatically, and also
 * gate requested IPs and requested pools.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Allocator, type ServiceRecord } from './allocator.js';
import type { Config } from './config.js';
import { buildConfig, type PoolObject } from './crd.js';

function config(pools: PoolObject[]): Config {
  const r = buildConfig({ pools, advertisements: [] });
  assert.deepEqual(r.problems, []);
  return r.config;
}

function svc(ns: string, name: string, o: Partial<ServiceRecord> = {}): ServiceRecord {
  return { key: `${ns}/${name}`, families: ['ipv4'], familyPolicy: 'SingleStack', ports: [{ protocol: 'TCP', port: 80 }], requestedIPs: [], ...o };
}

function poolOf(a: Allocator, s: ServiceRecord): string {
  const r = a.allocate(s);
  return r.ok ? r.allocation.pool : `!${r.failure.reason}`;
}

void describe('serviceAllocation', { timeout: 10_000 }, () => {
  const pools: PoolObject[] = [
    { name: 'a-general', spec: { addresses: ['198.51.100.0/28'] } },
    { name: 'b-team-web', spec: { addresses: ['198.51.100.16/28'], serviceAllocation: { priority: 2, namespaces: ['web'] } } },
    { name: 'c-gold', spec: { addresses: ['198.51.100.32/28'], serviceAllocation: { priority: 1, serviceSelectors: [{ matchLabels: { tier: 'gold' } }] } } },
    { name: 'd-labelled-ns', spec: { addresses: ['198.51.100.48/28'], serviceAllocation: { namespaceSelectors: [{ matchLabels: { team: 'data' } }] } } },
    { name: 'e-manual', spec: { addresses: ['198.51.100.64/28'], autoAssign: false, serviceAllocation: { namespaces: ['web'], priority: 1 } } },
  ];

  void it('a Service matching no pinned pool gets a general pool; pinned pools serve only their Services', () => {
    const a = new Allocator(config(pools));
    assert.equal(poolOf(a, svc('other', 's1')), 'a-general');
    assert.equal(poolOf(a, svc('web', 's2')), 'b-team-web');
    assert.equal(poolOf(a, svc('other', 's3', { labels: { tier: 'gold' } })), 'c-gold');
    assert.equal(poolOf(a, svc('analytics', 's4', { namespaceLabels: { team: 'data' } })), 'd-labelled-ns');
  });

  void it('priority: 1 before 2, set before unset; autoAssign false is never picked automatically', () => {
    const a = new Allocator(config(pools));
    assert.equal(poolOf(a, svc('web', 'gold', { labels: { tier: 'gold' } })), 'c-gold', 'both match: priority 1 wins over 2');
    const unset = new Allocator(
      config([
        { name: 'x-unset', spec: { addresses: ['198.51.100.0/28'], serviceAllocation: {} } },
        { name: 'y-five', spec: { addresses: ['198.51.100.16/28'], serviceAllocation: { priority: 5 } } },
      ]),
    );
    assert.equal(poolOf(unset, svc('any', 's')), 'y-five', 'an empty serviceAllocation pins for everyone, after set priorities');
  });

  void it('a full pinned pool falls back to the general pools', () => {
    const a = new Allocator(config([{ name: 'tiny', spec: { addresses: ['198.51.100.1'], serviceAllocation: { namespaces: ['web'] } } }, { name: 'big', spec: { addresses: ['198.51.100.16/28'] } }]));
    assert.equal(poolOf(a, svc('web', 'one')), 'tiny');
    assert.equal(poolOf(a, svc('web', 'two')), 'big');
  });

  void it('requested IPs and the pool annotation must be allowed by the pool', () => {
    const a = new Allocator(config(pools));
    const asked = a.allocate(svc('other', 'ip', { requestedIPs: ['198.51.100.17'] }));
    assert.equal(asked.ok, false);
    assert.match(asked.ok ? '' : asked.failure.message, /pool "b-team-web" does not serve namespace "other"/);
    assert.equal(poolOf(a, svc('web', 'ip2', { requestedIPs: ['198.51.100.17'] })), 'b-team-web');
    assert.equal(poolOf(a, svc('web', 'manual', { requestedPool: 'e-manual' })), 'e-manual', 'autoAssign false serves explicit requests');
    assert.equal(poolOf(a, svc('other', 'manual', { requestedPool: 'e-manual' })), '!poolNotAllowed');
    assert.equal(poolOf(a, svc('web', 'silver', { requestedPool: 'c-gold', labels: { tier: 'silver' } })), '!poolNotAllowed');
  });

  void it('a Service that no longer matches its pool loses the IP on the next allocate (MetalLB behaviour)', () => {
    const a = new Allocator(config(pools));
    const s = svc('web', 's', { labels: { tier: 'gold' } });
    assert.equal(poolOf(a, s), 'c-gold');
    assert.equal(a.assign({ ...s, labels: {} }, [...(a.allocationOf(s.key)?.addresses ?? [])]).ok, false, 're-admission checks serviceAllocation');
    assert.equal(poolOf(a, { ...s, labels: {} }), 'b-team-web');
  });
});
