/** The reconciler with a recording fake port: decisions and the writes they cause, step by step. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Service } from '@kubernetes/client-node';
import { Allocator, buildConfig, isConfigError, parseConfig } from '@ironlb/core';
import { pino } from 'pino';
import { type ControllerPort, REPORT_AGAIN_MS, ServiceReconciler, ruleMismatchMessage } from './reconciler.js';
import { serviceRecord } from './service-record.js';

class RecordingPort implements ControllerPort {
  writes: string[] = [];
  events: string[] = [];
  readonly services = new Map<string, V1Service>();
  async setStatus(svc: V1Service, ips: readonly string[], pool: string | null): Promise<void> {
    await Promise.resolve();
    this.writes.push(`status ${svc.metadata?.name} ${ips.join(',')} pool=${pool}`);
    const s = this.services.get(svc.metadata?.name ?? '');
    if (s) s.status = { loadBalancer: ips.length ? { ingress: ips.map((ip) => ({ ip })) } : {} };
    if (s) {
      const a = { ...(s.metadata?.annotations ?? {}) };
      if (pool === null) delete a['ironlb.io/ip-allocated-from-pool'];
      else a['ironlb.io/ip-allocated-from-pool'] = pool;
      s.metadata = { ...s.metadata, annotations: a };
    }
  }
  event(svc: V1Service, type: string, reason: string, message: string): void {
    this.events.push(`${svc.metadata?.name} ${type} ${reason}: ${message}`);
  }
  take(): { writes: string[]; events: string[] } {
    const r = { writes: this.writes, events: this.events };
    this.writes = [];
    this.events = [];
    return r;
  }
}

function config(text: string): ReturnType<typeof parseConfig> & { kind: 'Config' } {
  const c = parseConfig(text);
  if (isConfigError(c)) throw new Error(c.message);
  return c;
}

const POOL = 'address-pools:\n- name: p\n  protocol: layer2\n  addresses: [198.51.100.200-198.51.100.201]\n';

function service(port: RecordingPort, name: string, extra: Partial<V1Service['spec']> = {}, ingress: string[] = []): V1Service {
  const s: V1Service = {
    metadata: { namespace: 'ns', name, annotations: {} },
    spec: { type: 'LoadBalancer', ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', ports: [{ port: 80, protocol: 'TCP' }], ...extra },
    status: { loadBalancer: ingress.length ? { ingress: ingress.map((ip) => ({ ip })) } : {} },
  };
  port.services.set(name, s);
  return s;
}

describe('ServiceReconciler scenarios', { timeout: 30_000 }, () => {
  it('allocates, writes once, and stays quiet when nothing changed', async () => {
    const port = new RecordingPort();
    const r = new ServiceReconciler({ allocator: new Allocator(config(POOL)), port, log: pino({ level: 'silent' }) });
    const a = service(port, 'a');
    assert.equal(await r.reconcile('ns/a', a), 'success');
    assert.deepEqual(port.take(), { writes: ['status a 198.51.100.200 pool=p'], events: ['a Normal IPAllocated: Assigned IP ["198.51.100.200"] from pool "p"'] });
    assert.equal(await r.reconcile('ns/a', a), 'success');
    assert.deepEqual(port.take(), { writes: [], events: [] }, 'no write when status already matches');
  });

  it('re-admits assigned IPs before pending services at restart', async () => {
    const port = new RecordingPort();
    const r = new ServiceReconciler({ allocator: new Allocator(config(POOL)), port, log: pino({ level: 'silent' }) });
    const pending = service(port, 'pending');
    const held = service(port, 'held', {}, ['198.51.100.200']);
    r.readmit([held]);
    assert.equal(await r.reconcile('ns/pending', pending), 'success');
    assert.equal(port.take().writes[0], 'status pending 198.51.100.201 pool=p', 'the pending service did not take the held IP');
    assert.equal(await r.reconcile('ns/held', held), 'success');
    assert.deepEqual(port.take().writes, ['status held 198.51.100.200 pool=p'], 'held keeps its IP; the missing annotation is written with it');
  });

  it('releases on type change and asks for a full pass so pending services get the IP', async () => {
    const port = new RecordingPort();
    const r = new ServiceReconciler({ allocator: new Allocator(config(POOL)), port, log: pino({ level: 'silent' }) });
    const a = service(port, 'a');
    await r.reconcile('ns/a', a);
    port.take();
    a.spec = { ...a.spec, type: 'ClusterIP' };
    assert.equal(await r.reconcile('ns/a', a), 'reprocessAll');
    assert.deepEqual(port.take().writes, ['status a  pool=null']);
    assert.equal(await r.reconcile('ns/a', undefined), 'success', 'deleting an unallocated service frees nothing');
  });

  it('keeps an assigned IP when the request becomes contradictory, and says why', async () => {
    const port = new RecordingPort();
    const alloc = new Allocator(config(POOL));
    const r = new ServiceReconciler({ allocator: alloc, port, log: pino({ level: 'silent' }) });
    const a = service(port, 'a');
    await r.reconcile('ns/a', a);
    port.take();
    a.spec = { ...a.spec, loadBalancerIP: '198.51.100.201' };
    a.metadata!.annotations = { ...a.metadata!.annotations, 'ironlb.io/loadBalancerIPs': '198.51.100.200' };
    assert.equal(await r.reconcile('ns/a', a), 'noRetry');
    const { writes, events } = port.take();
    assert.deepEqual(writes, []);
    assert.match(events[0] ?? '', /^a Warning LoadBalancerFailed: spec\.loadBalancerIP and the loadBalancerIPs annotation are both set/);
    assert.deepEqual(alloc.allocationOf('ns/a')?.addresses, ['198.51.100.200']);
  });

  it('reassigns with a Warning when the IP left every pool', async () => {
    const port = new RecordingPort();
    const alloc = new Allocator(config(POOL));
    const r = new ServiceReconciler({ allocator: alloc, port, log: pino({ level: 'silent' }) });
    const a = service(port, 'a', {}, ['198.51.100.200']);
    r.readmit([a]);
    const evicted = alloc.setConfig(config(POOL.replace('198.51.100.200-198.51.100.201', '198.51.100.210/32')));
    assert.deepEqual(evicted, ['ns/a']);
    assert.equal(await r.reconcile('ns/a', a), 'success');
    const { writes, events } = port.take();
    assert.deepEqual(writes, ['status a 198.51.100.210 pool=p']);
    assert.match(events[0] ?? '', /^a Warning ClearAssignment: current IP 198\.51\.100\.200 cannot be kept/);
  });
});

describe('ServiceReconciler: hostile and careless input', { timeout: 30_000 }, () => {
  it('never gives a terminating Service an IP, and lets it keep the one it has', async () => {
    const port = new RecordingPort();
    const alloc = new Allocator(config(POOL));
    const r = new ServiceReconciler({ allocator: alloc, port, log: pino({ level: 'silent' }) });
    const dying = service(port, 'dying');
    dying.metadata!.deletionTimestamp = new Date();
    dying.metadata!.finalizers = ['example.com/hold'];
    assert.equal(await r.reconcile('ns/dying', dying), 'success');
    assert.equal(alloc.allocationOf('ns/dying'), undefined);
    assert.equal(r.claim(dying), false, 'a freed IP is never offered to it');
    assert.deepEqual(port.take(), { writes: [], events: [] });
    const held = service(port, 'held', {}, ['198.51.100.201']);
    held.metadata!.deletionTimestamp = new Date();
    r.readmit([held]);
    assert.equal(await r.reconcile('ns/held', held), 'success');
    assert.deepEqual(alloc.allocationOf('ns/held')?.addresses, ['198.51.100.201'], 'kept until it is gone');
    assert.equal(await r.reconcile('ns/held', undefined), 'reprocessAll', 'deleted: its IP is free for the others');
  });

  it('reports the same failure once, again only when it changes or after a while', async () => {
    const port = new RecordingPort();
    let now = 1_000_000;
    const alloc = new Allocator(config(POOL));
    const r = new ServiceReconciler({ allocator: alloc, port, log: pino({ level: 'silent' }), now: () => now });
    for (const n of ['a', 'b']) await r.reconcile(`ns/${n}`, service(port, n));
    port.take();
    const c = service(port, 'c');
    for (let i = 0; i < 50; i++) assert.equal(await r.reconcile('ns/c', c), 'noRetry');
    assert.deepEqual(port.take().events, ['c Warning AllocationFailed: Failed to allocate IP for "ns/c": no available IPs']);
    now += REPORT_AGAIN_MS;
    await r.reconcile('ns/c', c);
    assert.equal(port.take().events.length, 1, 'reported again after a while (the old Event may have expired)');
    c.metadata!.annotations = { 'ironlb.io/address-pool': 'nosuch' };
    await r.reconcile('ns/c', c);
    assert.match(port.take().events[0] ?? '', /unknown pool "nosuch"/, 'a different failure is reported at once');
  });

  it('claims a free IP silently; the reconcile then writes it', async () => {
    const port = new RecordingPort();
    const alloc = new Allocator(config(POOL));
    const r = new ServiceReconciler({ allocator: alloc, port, log: pino({ level: 'silent' }) });
    const a = service(port, 'a');
    assert.equal(r.claim(a), true);
    assert.deepEqual(port.take(), { writes: [], events: [] });
    assert.equal(await r.reconcile('ns/a', a), 'success');
    assert.deepEqual(port.take().writes, ['status a 198.51.100.200 pool=p']);
  });

  it('refuses pool annotations that disagree across prefixes, keeping an assigned IP', async () => {
    const port = new RecordingPort();
    const alloc = new Allocator(config(POOL));
    const r = new ServiceReconciler({ allocator: alloc, port, log: pino({ level: 'silent' }) });
    const a = service(port, 'a');
    await r.reconcile('ns/a', a);
    port.take();
    a.metadata!.annotations = { 'ironlb.io/address-pool': 'p', 'metallb.universe.tf/address-pool': 'other' };
    assert.equal(await r.reconcile('ns/a', a), 'noRetry');
    const { writes, events } = port.take();
    assert.deepEqual(writes, []);
    assert.deepEqual(events, ['a Warning LoadBalancerFailed: annotations ironlb.io/address-pool="p" and metallb.universe.tf/address-pool="other" disagree; keep only one of them']);
    assert.deepEqual(alloc.allocationOf('ns/a')?.addresses, ['198.51.100.200']);
  });
});

describe('ServiceReconciler: serviceAllocation rules never move a held IP', { timeout: 30_000 }, () => {
  // Pools: "gold" pinned to namespaces labelled tier=gold (priority 1), "general" for everyone.
  const crdConfig = (): ReturnType<typeof buildConfig>['config'] =>
    buildConfig({
      pools: [
        { name: 'gold', spec: { addresses: ['198.51.100.10/31'], serviceAllocation: { priority: 1, namespaceSelectors: [{ matchLabels: { tier: 'gold' } }] } } },
        { name: 'general', spec: { addresses: ['198.51.100.20/31'] } },
      ],
      advertisements: [],
    }).config;
  function setup(): { port: RecordingPort; alloc: Allocator; r: ServiceReconciler; nsLabels: { current: Record<string, string> }; now: { t: number } } {
    const port = new RecordingPort();
    const alloc = new Allocator(crdConfig());
    const nsLabels = { current: { tier: 'gold' } as Record<string, string> };
    const now = { t: 1_000_000 };
    const r = new ServiceReconciler({ allocator: alloc, port, log: pino({ level: 'silent' }), now: () => now.t, record: (svc) => serviceRecord(svc, nsLabels.current) });
    return { port, alloc, r, nsLabels, now };
  }

  it('a namespace label change keeps the IP and warns once, with the command that moves it; the command works', async () => {
    const { port, alloc, r, nsLabels, now } = setup();
    const a = service(port, 'a');
    assert.equal(await r.reconcile('ns/a', a), 'success');
    assert.deepEqual(port.take().writes, ['status a 198.51.100.10 pool=gold']);

    nsLabels.current = { tier: 'bronze' };
    assert.equal(await r.reconcile('ns/a', a), 'success');
    const { writes, events } = port.take();
    assert.deepEqual(writes, [], 'nothing written: the IP stays');
    assert.equal(events.length, 1);
    assert.equal(
      events[0],
      'a Warning AllocationRuleMismatch: Kept IP 198.51.100.10 of pool "gold" although pool "gold" does not serve namespace "ns": its serviceAllocation allows only namespaceSelectors ["tier=gold"]; ' +
        'label the namespace to match, add it to the pool\'s namespaces, or use another pool. Rules apply to new allocations only; to move it to pool "general" (the first whose rules serve it): ' +
        'kubectl -n ns annotate service a --overwrite ironlb.io/address-pool=general (the annotation may be removed after the move; the new IP stays)',
    );
    assert.equal(alloc.allocationOf('ns/a')?.pool, 'gold');

    assert.equal(await r.reconcile('ns/a', a), 'success');
    assert.deepEqual(port.take(), { writes: [], events: [] }, 'said once');
    now.t += REPORT_AGAIN_MS + 1;
    await r.reconcile('ns/a', a);
    assert.match(port.take().events[0] ?? '', /AllocationRuleMismatch/, 'said again after REPORT_AGAIN_MS');

    // A new Service in the same namespace follows the rules.
    const b = service(port, 'b');
    await r.reconcile('ns/b', b);
    assert.deepEqual(port.take().writes, ['status b 198.51.100.20 pool=general']);

    // The documented move: annotate the pool. It moves (a user request), and the annotation may go.
    a.metadata!.annotations = { ...a.metadata!.annotations, 'ironlb.io/address-pool': 'general' };
    assert.equal(await r.reconcile('ns/a', a), 'reprocessAll');
    assert.deepEqual(port.take(), { writes: ['status a 198.51.100.21 pool=general'], events: ['a Normal IPAllocated: Assigned IP ["198.51.100.21"] from pool "general"'] });
    delete a.metadata!.annotations['ironlb.io/address-pool'];
    assert.equal(await r.reconcile('ns/a', a), 'success');
    assert.deepEqual(port.take(), { writes: [], events: [] });
    assert.equal(alloc.allocationOf('ns/a')?.addresses[0], '198.51.100.21');
  });

  it('a restart (re-admission) keeps the mismatched IP too, and labels put back end the warnings', async () => {
    const { port, alloc, r, nsLabels } = setup();
    nsLabels.current = {};
    const a = service(port, 'a', {}, ['198.51.100.11']);
    a.metadata!.annotations = { 'ironlb.io/ip-allocated-from-pool': 'gold' };
    r.readmit([a]);
    assert.equal(await r.reconcile('ns/a', a), 'success');
    const first = port.take();
    assert.deepEqual(first.writes, []);
    assert.match(first.events.join('\n'), /^a Warning AllocationRuleMismatch: Kept IP 198\.51\.100\.11 of pool "gold"/);
    assert.doesNotMatch(first.events.join('\n'), /ClearAssignment/);
    nsLabels.current = { tier: 'gold' };
    await r.reconcile('ns/a', a);
    assert.deepEqual(port.take(), { writes: [], events: [] });
    assert.equal(alloc.allocationOf('ns/a')?.pool, 'gold');
  });

  it('a changed requested IP or pool is a user request and still moves', async () => {
    const { port, alloc, r, nsLabels } = setup();
    const a = service(port, 'a');
    await r.reconcile('ns/a', a);
    nsLabels.current = {};
    await r.reconcile('ns/a', a);
    port.take();
    a.spec = { ...a.spec, loadBalancerIP: '198.51.100.20' };
    assert.equal(await r.reconcile('ns/a', a), 'reprocessAll');
    assert.deepEqual(port.take().writes, ['status a 198.51.100.20 pool=general']);
    a.spec = { ...a.spec, loadBalancerIP: '198.51.100.11' };
    assert.equal(await r.reconcile('ns/a', a), 'reprocessAll', 'asking for an IP of a pool that does not serve it: refused, IP released');
    const { writes, events } = port.take();
    assert.deepEqual(writes, ['status a  pool=null']);
    assert.match(events[0] ?? '', /^a Warning AllocationFailed: .*pool "gold" does not serve namespace "ns"/);
    assert.equal(alloc.allocationOf('ns/a'), undefined);
  });
});

describe('ruleMismatchMessage', { timeout: 10_000 }, () => {
  const alloc = { key: 'ns/a', pool: 'gold', ips: [], addresses: ['198.51.100.10'] };
  const mismatch = { reason: 'poolNotAllowed' as const, message: 'pool "gold" does not serve this Service' };
  const svc = (annotations: Record<string, string> = {}, name = 'a'): V1Service => ({ metadata: { namespace: 'ns', name, annotations } });
  const cases: { name: string; svc: V1Service; serving: string[]; want: RegExp }[] = [
    { name: 'suggests the first serving pool other than its own', svc: svc(), serving: ['gold', 'general'], want: /annotate service a --overwrite ironlb\.io\/address-pool=general/ },
    {
      name: 'uses the prefix the Service already uses',
      svc: svc({ 'metallb.universe.tf/address-pool': 'gold' }),
      serving: ['general'],
      want: /--overwrite metallb\.universe\.tf\/address-pool=general/,
    },
    { name: 'no other pool: recreate', svc: svc(), serving: ['gold'], want: /no other pool's rules serve this Service now; to get an IP by the current rules, delete and re-create the Service$/ },
    { name: 'bounded with a huge pool name', svc: svc(), serving: ['x'.repeat(5000)], want: /^.{0,1000}$/s },
  ];
  for (const c of cases) it(c.name, () => assert.match(ruleMismatchMessage(c.svc, alloc, mismatch, c.serving), c.want));
});
