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
    const ranked = new Allocator(
      config([
        { name: 'x-unset', spec: { addresses: ['198.51.100.0/28'], serviceAllocation: { namespaces: ['any'] } } },
        { name: 'y-five', spec: { addresses: ['198.51.100.16/28'], serviceAllocation: { priority: 5, namespaces: ['any'] } } },
      ]),
    );
    assert.equal(poolOf(ranked, svc('any', 's')), 'y-five', 'a set priority goes before an unset one');
  });

  // MetalLB indexes pinned pools by namespace and by service selector, and leaves every pool with
  // a serviceAllocation out of its general list: one that selects nobody serves requests only.
  const selectsNobody: { name: string; serviceAllocation: Record<string, unknown> }[] = [
    { name: 'only priority', serviceAllocation: { priority: 1 } },
    { name: 'empty', serviceAllocation: {} },
    { name: 'empty lists', serviceAllocation: { priority: 3, namespaces: [], namespaceSelectors: [], serviceSelectors: [] } },
  ];
  for (const c of selectsNobody) {
    void it(`a serviceAllocation that selects nobody (${c.name}) is never auto-assigned, but serves requests (MetalLB)`, () => {
      const a = new Allocator(
        config([
          { name: 'p-pinned', spec: { addresses: ['198.51.100.0/28'], serviceAllocation: c.serviceAllocation } },
          { name: 'q-general', spec: { addresses: ['198.51.100.16/28'] } },
        ]),
      );
      assert.equal(poolOf(a, svc('any', 'auto')), 'q-general');
      assert.equal(poolOf(a, svc('any', 'byname', { requestedPool: 'p-pinned' })), 'p-pinned');
      assert.equal(poolOf(a, svc('any', 'byip', { requestedIPs: ['198.51.100.9'] })), 'p-pinned');
      assert.deepEqual(a.servingPools(svc('any', 'x')), ['q-general']);
      const alone = new Allocator(config([{ name: 'p-pinned', spec: { addresses: ['198.51.100.0/28'], serviceAllocation: c.serviceAllocation } }]));
      assert.equal(poolOf(alone, svc('any', 'auto')), '!poolExhausted');
    });
  }

  void it('a full pinned pool falls back to the general pools', () => {
    const a = new Allocator(
      config([
        { name: 'tiny', spec: { addresses: ['198.51.100.1'], serviceAllocation: { namespaces: ['web'] } } },
        { name: 'big', spec: { addresses: ['198.51.100.16/28'] } },
      ]),
    );
    assert.equal(poolOf(a, svc('web', 'one')), 'tiny');
    assert.equal(poolOf(a, svc('web', 'two')), 'big');
  });

  void it('requested IPs and the pool annotation must be allowed by the pool', () => {
    const a = new Allocator(config(pools));
    const asked = a.allocate(svc('other', 'ip', { requestedIPs: ['198.51.100.17'] }));
    assert.equal(asked.ok, false);
    assert.match(
      asked.ok ? '' : asked.failure.message,
      /pool "b-team-web" does not serve namespace "other": its serviceAllocation allows only namespaces \["web"\]; add it to the pool's namespaces, or use another pool$/,
    );
    assert.equal(poolOf(a, svc('web', 'ip2', { requestedIPs: ['198.51.100.17'] })), 'b-team-web');
    assert.equal(poolOf(a, svc('web', 'manual', { requestedPool: 'e-manual' })), 'e-manual', 'autoAssign false serves explicit requests');
    assert.equal(poolOf(a, svc('other', 'manual', { requestedPool: 'e-manual' })), '!poolNotAllowed');
    assert.equal(poolOf(a, svc('web', 'silver', { requestedPool: 'c-gold', labels: { tier: 'silver' } })), '!poolNotAllowed');
  });

  void it('poolNotAllowed names the pool, the rule and the fix, bounded in length', () => {
    const a = new Allocator(config(pools));
    const ns = a.allocate(svc('other', 'x', { requestedPool: 'd-labelled-ns', namespaceLabels: { team: 'ops' } }));
    assert.equal(ns.ok, false);
    assert.match(
      ns.ok ? '' : ns.failure.message,
      /^pool "d-labelled-ns" does not serve namespace "other": its serviceAllocation allows only namespaceSelectors \["team=data"\]; label the namespace to match/,
    );
    const sel = a.allocate(svc('web', 'y', { requestedPool: 'c-gold', labels: { tier: 'silver' } }));
    assert.match(
      sel.ok ? '' : sel.failure.message,
      /^pool "c-gold" does not serve this Service: its labels match none of the pool's serviceAllocation\.serviceSelectors \["tier=gold"\]; label the Service to match, or use another pool$/,
    );
    const many = new Allocator(
      config([{ name: 'm', spec: { addresses: ['198.51.100.0/28'], serviceAllocation: { namespaces: Array.from({ length: 200 }, (_, i) => `ns-${'x'.repeat(50)}-${i}`) } } }]),
    );
    const long = many.allocate(svc('other', 'z', { requestedPool: 'm' }));
    assert.equal(long.ok, false);
    assert.ok(!long.ok && long.failure.message.length < 600, `bounded: ${long.ok ? 0 : long.failure.message.length}`);
    assert.match(long.ok ? '' : long.failure.message, /and 195 more/);
  });

  // A label or rule change never moves an IP a Service holds; only a user's request does.
  void describe('a Service that no longer matches its pool keeps its IP', () => {
    type Step = { what: string; change: Partial<ServiceRecord>; pool: string; sameIP: boolean; mismatch: RegExp | null };
    const start = svc('web', 's', { labels: { tier: 'gold' } });
    const steps: Step[] = [
      { what: 'Service label removed', change: { labels: {} }, pool: 'c-gold', sameIP: true, mismatch: /serviceSelectors \["tier=gold"\]/ },
      {
        what: 'moved to a namespace-label world where nothing matches',
        change: { labels: {}, namespace: 'web', namespaceLabels: { team: 'x' } },
        pool: 'c-gold',
        sameIP: true,
        mismatch: /serviceSelectors/,
      },
      { what: 'label back: no mismatch', change: { labels: { tier: 'gold' } }, pool: 'c-gold', sameIP: true, mismatch: null },
      { what: 'label removed again, then the user asks for another pool: that moves', change: { labels: {}, requestedPool: 'a-general' }, pool: 'a-general', sameIP: false, mismatch: null },
      { what: 'request removed: the new IP stays', change: { labels: {} }, pool: 'a-general', sameIP: true, mismatch: null },
      { what: 'the user asks for an IP in a pool that does not serve it: refused', change: { labels: {}, requestedIPs: ['198.51.100.40'] }, pool: '!poolNotAllowed', sameIP: false, mismatch: null },
    ];
    const a = new Allocator(config(pools));
    const first = a.allocate(start);
    let ip = first.ok ? first.allocation.addresses.join() : '';
    void it('starts in c-gold', () => assert.equal(first.ok && first.allocation.pool, 'c-gold'));
    for (const st of steps) {
      void it(st.what, () => {
        const r = a.allocate({ ...start, ...st.change });
        assert.equal(r.ok ? r.allocation.pool : `!${r.failure.reason}`, st.pool);
        if (!r.ok) return;
        assert.equal(r.allocation.addresses.join() === ip, st.sameIP);
        ip = r.allocation.addresses.join();
        if (st.mismatch === null) assert.equal(r.ruleMismatch, undefined);
        else assert.match(r.ruleMismatch?.message ?? '', st.mismatch);
      });
    }
  });

  void it('re-admission (restart) and config changes keep a held IP whatever the rules say', () => {
    const a = new Allocator(config(pools));
    const s = svc('web', 's', { labels: { tier: 'gold' } });
    const held = [...((a.allocate(s).ok && a.allocationOf(s.key)?.addresses) || [])];
    const fresh = new Allocator(config(pools));
    const r = fresh.assign({ ...s, labels: {} }, held);
    assert.equal(r.ok && r.allocation.pool, 'c-gold');
    assert.equal(r.ok && r.ruleMismatch?.reason, 'poolNotAllowed');
    // The pool is re-pinned to another namespace: the holder stays (setConfig and allocate).
    const repinned = pools.map((p) => (p.name === 'c-gold' ? { name: 'c-gold', spec: { addresses: ['198.51.100.32/28'], serviceAllocation: { namespaces: ['elsewhere'] } } } : p));
    assert.deepEqual(fresh.setConfig(config(repinned)), []);
    const again = fresh.allocate(s);
    assert.equal(again.ok && again.allocation.addresses.join(), held.join());
    assert.match((again.ok && again.ruleMismatch?.message) || '', /does not serve namespace "web": its serviceAllocation allows only namespaces \["elsewhere"\]/);
    assert.deepEqual(fresh.servingPools(s), ['b-team-web', 'a-general']);
  });
});
