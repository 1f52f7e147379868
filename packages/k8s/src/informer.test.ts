/**
 * The informer's state machine against an in-memory API (fake list + fake Watcher): it waits for
 * an absent API as long as it takes, never gives up, backs off with a cap, relists when it must,
 * reports its connection state, logs transitions instead of every retry, and stop() ends
 * everything, also mid-connect. Real sockets are in test/integration/informer.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KubeConfig, type KubernetesListObject, type V1ConfigMap } from '@kubernetes/client-node';
import { pino } from 'pino';
import { InformerStoppedError, ResilientInformer, type Watcher } from './informer.js';

interface OpenWatch {
  query: Record<string, unknown>;
  cb: (phase: string, obj: unknown) => void;
  done: (err: unknown) => void;
  ac: AbortController;
}

/** A tiny API server in memory: ConfigMaps, a resourceVersion counter, and an on/off switch. */
class FakeApi {
  up = true;
  rv = 10;
  readonly objects = new Map<string, V1ConfigMap>();
  lists = 0;
  watchCalls = 0;
  /** Resolve watch() only when the test says so (to race stop() against a connect). */
  holdConnect: Promise<void> | undefined;
  /** watch() rejects instead of calling done (a credential plugin failing). */
  throwOnWatch = false;
  readonly open: OpenWatch[] = [];
  readonly attempts: number[] = [];

  list = async (): Promise<KubernetesListObject<V1ConfigMap>> => {
    this.lists++;
    this.attempts.push(Date.now());
    await Promise.resolve();
    if (!this.up) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
    return { apiVersion: 'v1', kind: 'ConfigMapList', items: [...this.objects.values()], metadata: { resourceVersion: String(this.rv) } };
  };

  watcher: Watcher = {
    watch: async (_path, query, cb, done) => {
      this.watchCalls++;
      this.attempts.push(Date.now());
      if (this.throwOnWatch) throw new Error('exec plugin failed');
      if (this.holdConnect !== undefined) await this.holdConnect;
      const ac = new AbortController();
      if (!this.up) {
        done(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
        return ac;
      }
      const w: OpenWatch = { query, cb, done, ac };
      this.open.push(w);
      ac.signal.addEventListener('abort', () => {
        const i = this.open.indexOf(w);
        if (i >= 0) this.open.splice(i, 1);
        done(Object.assign(new Error('The operation was aborted'), { name: 'AbortError' }));
      });
      return ac;
    },
  };

  put(name: string, v: string): void {
    const cm: V1ConfigMap = { metadata: { name, namespace: 'ns', resourceVersion: String(++this.rv) }, data: { v } };
    const had = this.objects.has(name);
    this.objects.set(name, cm);
    for (const w of this.open) w.cb(had ? 'MODIFIED' : 'ADDED', cm);
  }

  remove(name: string): void {
    const cm = this.objects.get(name);
    if (cm === undefined) return;
    this.objects.delete(name);
    this.rv++;
    for (const w of this.open) w.cb('DELETED', { ...cm, metadata: { ...cm.metadata, resourceVersion: String(this.rv) } });
  }

  /** Drops every open watch (a killed API server), with or without an error. */
  dropWatches(err: unknown = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })): void {
    for (const w of this.open.splice(0)) w.done(err);
  }
}

function capture(): { log: pino.Logger; lines: () => { level: number; msg: string }[] } {
  const raw: string[] = [];
  const log = pino({ level: 'debug' }, { write: (l: string) => void raw.push(l) });
  return { log, lines: () => raw.map((l) => JSON.parse(l) as { level: number; msg: string }) };
}

function informer(api: FakeApi, log: pino.Logger, extra: Partial<ConstructorParameters<typeof ResilientInformer<V1ConfigMap>>[0]> = {}): ResilientInformer<V1ConfigMap> {
  return new ResilientInformer<V1ConfigMap>({
    kc: new KubeConfig(),
    path: '/api/v1/namespaces/ns/configmaps',
    list: api.list,
    watcher: api.watcher,
    log,
    backoff: { initialMs: 5, maxMs: 40 },
    random: () => 1,
    ...extra,
  });
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

void describe('ResilientInformer state machine', { timeout: 60_000 }, () => {
  void it('start() waits while the API is down, not ready and without giving up, then syncs', async () => {
    const api = new FakeApi();
    api.up = false;
    api.put('a', '1');
    const { log, lines } = capture();
    const inf = informer(api, log);
    const changes: string[] = [];
    inf.onStateChange(() => changes.push(`${inf.state().synced ? 'synced' : 'unsynced'}/${inf.state().connected ? 'up' : 'down'}`));
    try {
      let started = false;
      const start = inf.start().then(() => (started = true));
      await until('30 failed attempts', () => api.lists >= 30);
      assert.equal(started, false);
      assert.equal(inf.state().connected, false);
      assert.ok(inf.state().disconnectedSince !== undefined);
      assert.match(String((inf.state().lastError as Error).message), /ECONNREFUSED/);
      assert.equal(inf.healthy(), true, 'liveness never depends on the API');
      api.up = true;
      await start;
      assert.deepEqual(
        inf.list().map((c) => c.metadata?.name),
        ['a'],
      );
      assert.equal(inf.state().connected, true);
      assert.equal(inf.state().disconnectedSince, undefined);
      assert.deepEqual(changes, ['unsynced/down', 'synced/up'], 'one transition each way, not one per retry');
      const warns = lines().filter((l) => l.level === 40);
      assert.equal(warns.length, 1, `one warning for 30 failures: ${JSON.stringify(warns)}`);
      assert.ok(lines().some((l) => l.msg === 'Kubernetes API reachable again'));
    } finally {
      inf.stop();
    }
  });

  void it('stop() ends a start() that is still waiting, and nothing runs afterwards', async () => {
    const api = new FakeApi();
    api.up = false;
    const inf = informer(api, capture().log);
    const start = inf.start();
    await until('a few attempts', () => api.lists >= 3);
    inf.stop();
    await assert.rejects(start, InformerStoppedError);
    const n = api.lists;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(api.lists, n, 'no retry after stop');
    await assert.rejects(inf.start(), InformerStoppedError, 'stop is for good');
  });

  void it('an AbortSignal ends the wait too', async () => {
    const api = new FakeApi();
    api.up = false;
    const inf = informer(api, capture().log);
    const ac = new AbortController();
    const start = inf.start(ac.signal);
    await until('an attempt', () => api.lists >= 1);
    ac.abort();
    await assert.rejects(start, { name: 'AbortError' });
  });

  void it('rides out an outage: keeps the cache, backs off with a cap, relists and fires what it missed', async () => {
    const api = new FakeApi();
    api.put('a', '1');
    api.put('b', '1');
    const { log, lines } = capture();
    const inf = informer(api, log, { logIntervalMs: 60_000 });
    const seen: string[] = [];
    inf.on((ev, cm) => seen.push(`${ev} ${cm.metadata?.name} ${cm.data?.['v']}`));
    try {
      await inf.start();
      await until('watch open', () => api.open.length === 1);
      api.put('c', '1');
      assert.deepEqual(seen, ['add a 1', 'add b 1', 'add c 1']);

      api.up = false;
      api.dropWatches();
      assert.equal(inf.state().connected, false);
      // While down: the cache is intact and the retries are paced.
      const from = api.attempts.length;
      await until('40 retries', () => api.attempts.length >= from + 40);
      assert.equal(inf.list().length, 3, 'the cache is kept');
      const gaps = api.attempts
        .slice(from + 10)
        .map((t, i, a) => (i === 0 ? 0 : t - (a[i - 1] as number)))
        .slice(1);
      // Uncapped, the 40th retry would wait 5 ms * 2^39; capped it waits ≤ 40 ms (+ scheduling slack
      // on a busy machine, hence the loose bounds).
      const sorted = [...gaps].sort((x, y) => x - y);
      assert.ok((sorted[Math.floor(sorted.length / 2)] ?? 0) < 200 && Math.max(...gaps) < 3000, `backoff capped at 40 ms: ${gaps.join(',')}`);
      assert.ok(inf.resourceVersion() === '', 'repeated failures make the next attempt a relist');

      // Changes the informer cannot see, then the API returns.
      api.objects.delete('a');
      api.rv++;
      api.put('b', '2');
      api.put('d', '1');
      api.up = true;
      await until('reconnected', () => inf.state().connected && api.open.length === 1);
      assert.deepEqual(seen.slice(3).sort(), ['add d 1', 'delete a 1', 'update b 2']);
      assert.deepEqual(
        inf
          .list()
          .map((c) => c.metadata?.name)
          .sort(),
        ['b', 'c', 'd'],
      );
      api.put('e', '1');
      assert.ok(seen.includes('add e 1'), 'watching again');
      const warns = lines().filter((l) => l.level === 40);
      assert.equal(warns.length, 1, `first failure only, the rest rate-limited: ${warns.map((w) => w.msg).join(' | ')}`);
    } finally {
      inf.stop();
    }
  });

  void it('a 410 Gone on the stream relists (the path forced, not hoped for)', async () => {
    const api = new FakeApi();
    api.put('a', '1');
    const inf = informer(api, capture().log);
    try {
      await inf.start();
      await until('watch open', () => api.open.length === 1);
      const lists = api.lists;
      const w = api.open[0] as OpenWatch;
      api.objects.delete('a');
      api.put('z', '1'); // delivered on the stream before the error
      w.cb('ERROR', { kind: 'Status', code: 410, reason: 'Expired' });
      api.open.splice(0);
      w.done(null);
      await until('relisted and watching', () => api.lists === lists + 1 && api.open.length === 1);
      assert.equal(inf.stats().expired, 1);
      assert.deepEqual(
        inf.list().map((c) => c.metadata?.name),
        ['z'],
        'the relist noticed the delete',
      );
      assert.equal(inf.state().connected, true, 'a 410 is not an outage');
    } finally {
      inf.stop();
    }
  });

  void it('a server-side timeout resumes from the resourceVersion without a relist', async () => {
    const api = new FakeApi();
    const inf = informer(api, capture().log);
    try {
      await inf.start();
      await until('watch open', () => api.open.length === 1);
      api.put('a', '1');
      const rv = inf.resourceVersion();
      await new Promise((r) => setTimeout(r, 1100)); // longer than a "closed right away" watch
      const lists = api.lists;
      api.dropWatches(null);
      await until('watching again', () => api.open.length === 1);
      assert.equal(api.lists, lists, 'no relist');
      assert.equal(api.open[0]?.query['resourceVersion'], rv);
    } finally {
      inf.stop();
    }
  });

  void it('a watch that closes right after opening is retried with backoff, not in a tight loop', async () => {
    const api = new FakeApi();
    const inf = informer(api, capture().log, { backoff: { initialMs: 20, maxMs: 50 } });
    try {
      await inf.start();
      await until('watch open', () => api.open.length === 1);
      const t0 = Date.now();
      const calls = api.watchCalls;
      for (let i = 0; i < 5; i++) {
        await until('watch open', () => api.open.length === 1);
        api.dropWatches(null);
      }
      await until('watch open', () => api.open.length === 1);
      assert.ok(Date.now() - t0 >= 5 * 10, 'each immediate close waited its backoff');
      assert.ok(api.watchCalls - calls <= 8, `${api.watchCalls - calls} reconnects`);
    } finally {
      inf.stop();
    }
  });

  void it('stop() during a connect closes the stream that connect returns', async () => {
    const api = new FakeApi();
    const inf = informer(api, capture().log);
    let release: () => void = () => undefined;
    try {
      await inf.start();
      await until('watch open', () => api.open.length === 1);
      api.holdConnect = new Promise<void>((r) => (release = r));
      api.dropWatches(null);
      await until('reconnect pending', () => api.watchCalls >= 2);
      inf.stop();
      release();
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(api.open.length, 0, 'the late stream was aborted, nothing stays open');
    } finally {
      release();
      inf.stop();
    }
  });

  void it('a watch() that throws is a failure to retry, never an unhandled rejection', async () => {
    const api = new FakeApi();
    const rejections: unknown[] = [];
    const onRejection = (r: unknown): void => void rejections.push(r);
    process.on('unhandledRejection', onRejection);
    const inf = informer(api, capture().log);
    try {
      await inf.start();
      await until('watch open', () => api.open.length === 1);
      api.throwOnWatch = true;
      api.dropWatches();
      await until('several failures', () => inf.stats().watchErrors >= 3);
      assert.equal(inf.state().connected, false);
      api.throwOnWatch = false;
      await until('watching again', () => api.open.length === 1 && inf.state().connected);
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(rejections, []);
    } finally {
      inf.stop();
      process.off('unhandledRejection', onRejection);
    }
  });

  void it('the watchdog replaces a silent watch', async () => {
    const api = new FakeApi();
    let now = Date.now();
    const inf = informer(api, capture().log, { now: () => now, watchTimeoutSeconds: 1 });
    try {
      await inf.start();
      await until('watch open', () => api.open.length === 1);
      const first = api.open[0];
      now += 60_000; // far past 1 s * 1.2 + 30 s of silence
      await until('a new watch', () => api.open.length === 1 && api.open[0] !== first, 15_000);
      assert.ok(first?.ac.signal.aborted, 'the silent one was closed');
    } finally {
      inf.stop();
    }
  });
});

void describe('ResilientInformer transform', { timeout: 30_000 }, () => {
  void it('caches and hands on the transformed object, from the list and from the watch', async () => {
    const api = new FakeApi();
    api.put('a', 'big');
    const { log } = capture();
    const seen: string[] = [];
    const inf = informer(api, log, { transform: (cm) => ({ metadata: cm.metadata ?? {}, data: { v: `slim-${cm.data?.['v'] ?? ''}` } }) });
    inf.on((_ev, cm) => seen.push(cm.data?.['v'] ?? ''));
    try {
      await inf.start();
      assert.equal(inf.get('a', 'ns')?.data?.['v'], 'slim-big');
      await until('a watch', () => api.open.length > 0);
      api.put('b', 'x');
      await until('b cached', () => inf.get('b', 'ns') !== undefined);
      assert.equal(inf.get('b', 'ns')?.data?.['v'], 'slim-x');
      assert.deepEqual(seen, ['slim-big', 'slim-x']);
    } finally {
      inf.stop();
    }
  });
});
