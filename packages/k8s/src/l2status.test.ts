import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { CoalescingWriter } from './coalesce.js';
import type { ServiceL2StatusObject } from './crds.js';
import { type L2StatusSink, ServiceL2StatusWriter } from './l2status.js';

const log = pino({ level: 'silent' });

function apiError(code: number): Error & { code: number } {
  return Object.assign(new Error(`HTTP ${code}`), { code });
}

/** An in-memory API with resourceVersions, recording every call. */
class FakeApi implements L2StatusSink {
  readonly objects = new Map<string, ServiceL2StatusObject>();
  readonly calls: string[] = [];
  failNext = 0;
  #rv = 0;
  /** Runs before a call is answered (to interleave another writer). */
  before: ((call: string) => void) | undefined;

  #fail(call: string): void {
    this.calls.push(call);
    this.before?.(call);
    if (this.failNext > 0) {
      this.failNext--;
      throw apiError(500);
    }
  }
  async get(ns: string, name: string): Promise<ServiceL2StatusObject | undefined> {
    this.#fail(`get ${ns}/${name}`);
    const o = this.objects.get(`${ns}/${name}`);
    return Promise.resolve(o === undefined ? undefined : structuredClone(o));
  }
  async create(ns: string, body: ServiceL2StatusObject): Promise<void> {
    this.#fail(`create ${ns}/${body.metadata?.name ?? ''}`);
    const k = `${ns}/${body.metadata?.name ?? ''}`;
    if (this.objects.has(k)) throw apiError(409);
    this.objects.set(k, { ...structuredClone(body), metadata: { ...body.metadata, resourceVersion: String(++this.#rv) } });
    return Promise.resolve();
  }
  async patch(ns: string, name: string, body: Record<string, unknown>): Promise<void> {
    this.#fail(`patch ${ns}/${name}`);
    const k = `${ns}/${name}`;
    const o = this.objects.get(k);
    if (o === undefined) throw apiError(404);
    const meta = body['metadata'] as Record<string, unknown>;
    this.objects.set(k, { ...o, metadata: { ...o.metadata, ...meta, resourceVersion: String(++this.#rv) }, status: body['status'] as NonNullable<ServiceL2StatusObject['status']> });
    return Promise.resolve();
  }
  async delete(ns: string, name: string, rv: string): Promise<void> {
    this.#fail(`delete ${ns}/${name}`);
    const k = `${ns}/${name}`;
    const o = this.objects.get(k);
    if (o === undefined) throw apiError(404);
    if (o.metadata?.resourceVersion !== rv) throw apiError(409);
    this.objects.delete(k);
    return Promise.resolve();
  }
}

const svc = { namespace: 'web', name: 'shop', uid: 'uid-1' };
const at = new Date('2026-01-02T03:04:05Z');

void describe('ServiceL2StatusWriter', { timeout: 20_000 }, () => {
  void it('creates the object with node, interfaces, IPs, since, labels and the owner reference', async () => {
    const api = new FakeApi();
    const w = new ServiceL2StatusWriter(undefined, { log, sink: api });
    w.announce(svc, { node: 'n1', interfaces: ['eth0'], ips: ['198.51.100.1'], since: at });
    await w.idle();
    const o = api.objects.get('web/shop');
    assert.deepEqual(o?.status, { node: 'n1', serviceName: 'shop', serviceNamespace: 'web', interfaces: [{ name: 'eth0' }], ips: ['198.51.100.1'], since: '2026-01-02T03:04:05.000Z' });
    assert.equal(o?.metadata?.labels?.['ironlb.io/node'], 'n1');
    assert.deepEqual(o?.metadata?.ownerReferences, [{ apiVersion: 'v1', kind: 'Service', name: 'shop', uid: 'uid-1', blockOwnerDeletion: false, controller: false }]);
    assert.deepEqual(api.calls, ['patch web/shop', 'create web/shop']);
  });

  void it('writes only changes: the same announcement twice costs nothing; a burst costs one write', async () => {
    const api = new FakeApi();
    const w = new ServiceL2StatusWriter(undefined, { log, sink: api });
    w.announce(svc, { node: 'n1', interfaces: null, ips: ['198.51.100.1'], since: at });
    await w.idle();
    const before = api.calls.length;
    w.announce(svc, { node: 'n1', interfaces: null, ips: ['198.51.100.1'], since: at });
    await w.idle();
    assert.equal(api.calls.length, before, 'unchanged: no write');
    for (let i = 0; i < 50; i++) w.announce(svc, { node: 'n1', interfaces: null, ips: ['198.51.100.1'], since: new Date(at.getTime() + i) });
    await w.idle();
    assert.ok(api.calls.length - before <= 2, `a burst of 50 costs at most 2 writes, cost ${api.calls.length - before}`);
    assert.equal(api.objects.get('web/shop')?.status?.since, new Date(at.getTime() + 49).toISOString(), 'the latest value wins');
  });

  void it('a takeover overwrites; the old node withdrawing late never deletes the new record', async () => {
    const api = new FakeApi();
    const n1 = new ServiceL2StatusWriter(undefined, { log, sink: api });
    const n2 = new ServiceL2StatusWriter(undefined, { log, sink: api });
    n1.announce(svc, { node: 'n1', interfaces: null, ips: ['198.51.100.1'], since: at });
    await n1.idle();
    n2.announce(svc, { node: 'n2', interfaces: null, ips: ['198.51.100.1'], since: at });
    await n2.idle();
    n1.withdraw(svc, 'n1');
    await n1.idle();
    assert.equal(api.objects.get('web/shop')?.status?.node, 'n2');
    n2.withdraw(svc, 'n2');
    await n2.idle();
    assert.equal(api.objects.has('web/shop'), false, 'the announcer removes its own record');
  });

  void it('a takeover racing a withdrawal: the delete precondition fails and the new record stays', async () => {
    const api = new FakeApi();
    const n1 = new ServiceL2StatusWriter(undefined, { log, sink: api });
    n1.announce(svc, { node: 'n1', interfaces: null, ips: ['198.51.100.1'], since: at });
    await n1.idle();
    let raced = false;
    api.before = (call) => {
      if (call === 'delete web/shop' && !raced) {
        raced = true;
        // n2 takes over between n1's read and n1's delete.
        const o = api.objects.get('web/shop');
        if (o !== undefined) api.objects.set('web/shop', { ...o, metadata: { ...o.metadata, resourceVersion: '999' }, status: { ...(o.status as NonNullable<typeof o.status>), node: 'n2' } });
      }
    };
    n1.withdraw(svc, 'n1');
    await n1.idle();
    assert.equal(api.objects.get('web/shop')?.status?.node, 'n2');
  });

  void it('retries failed writes until they land', async () => {
    const api = new FakeApi();
    api.failNext = 3;
    const w = new ServiceL2StatusWriter(undefined, { log, sink: api, backoff: { initialMs: 5, maxMs: 20 } });
    w.announce(svc, { node: 'n1', interfaces: ['eth1'], ips: ['198.51.100.1'], since: at });
    await w.idle();
    assert.equal(api.objects.get('web/shop')?.status?.node, 'n1');
    assert.equal(w.stats().failures, 3);
  });
});

void describe('CoalescingWriter', { timeout: 20_000 }, () => {
  void it('keeps at most one write per key in flight, honours the minimum interval and the concurrency cap', async () => {
    let inflight = 0;
    let peak = 0;
    const writes: string[] = [];
    const w = new CoalescingWriter<number>({
      concurrency: 2,
      minIntervalMs: 30,
      write: async (key, v) => {
        inflight++;
        peak = Math.max(peak, inflight);
        writes.push(`${key}=${v}`);
        await new Promise((r) => setTimeout(r, 5));
        inflight--;
        return 'done';
      },
    });
    for (let i = 0; i < 20; i++) for (const k of ['a', 'b', 'c']) w.set(k, i);
    await w.idle();
    assert.ok(peak <= 2, `concurrency cap held (peak ${peak})`);
    for (const k of ['a', 'b', 'c']) {
      const mine = writes.filter((x) => x.startsWith(`${k}=`));
      assert.ok(mine.length <= 2, `${k}: ${mine.join(' ')}`);
      assert.equal(mine.at(-1), `${k}=19`);
    }
  });

  void it('a "gone" outcome makes the next set write again', async () => {
    let n = 0;
    const w = new CoalescingWriter<string>({ write: async () => Promise.resolve(++n === 1 ? 'gone' : 'done') });
    w.set('k', 'v');
    await w.idle();
    w.set('k', 'v');
    await w.idle();
    assert.equal(n, 2);
  });
});
