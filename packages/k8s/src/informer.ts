/**
 * A list+watch cache that does not trust the network: @kubernetes/client-node's ListWatch stops
 * for good on most errors (its own tests say "does not auto-restart after an error"), and a
 * half-dead connection can sit silent. This one:
 *  - relists on 410 Gone (expired resourceVersion) and diffs the cache (fires deletes it missed);
 *  - restarts the watch after any error with jittered exponential backoff, from the last
 *    resourceVersion, relisting when that fails too;
 *  - asks the server to end every watch after timeoutSeconds, and a watchdog aborts a watch
 *    that sent nothing (not even a bookmark) for longer than that;
 *  - relists on a timer as a last line of defence against lost events;
 *  - reports `healthy() === false` and calls onFatal after maxFailures consecutive failures,
 *    so the process can exit and fail its liveness probe instead of serving stale state.
 * Built on client-node's Watch (pinned 1.4.0; see its watch.js): one HTTP stream per watch.
 */
import { type KubeConfig, type KubernetesListObject, type KubernetesObject, Watch } from '@kubernetes/client-node';
import type { Logger } from 'pino';

/** The kind of change delivered to handlers. */
export type InformerEvent = 'add' | 'update' | 'delete';

/** Options for a ResilientInformer. */
export interface InformerOptions<T extends KubernetesObject> {
  kc: KubeConfig;
  /** API path of the collection, e.g. /api/v1/services or /api/v1/namespaces/x/configmaps. */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  log: Logger;
  labelSelector?: string;
  fieldSelector?: string;
  /** Server-side watch timeout (default 300 s, jittered up to +10%). */
  watchTimeoutSeconds?: number;
  /** Periodic full relist (default 10 min). */
  resyncMs?: number;
  /** Consecutive failures before onFatal (default 10, ≈ 3 min with backoff capped at 30 s). */
  maxFailures?: number;
  onFatal?: (err: Error) => void;
}

type Handler<T> = (event: InformerEvent, obj: T, old: T | undefined) => void;

function keyOf(obj: KubernetesObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

function statusOf(err: unknown): number | undefined {
  const e = err as { statusCode?: number; code?: number } | null;
  return e?.statusCode ?? (typeof e?.code === 'number' ? e.code : undefined);
}

/** A resilient list+watch cache of one resource collection. */
export class ResilientInformer<T extends KubernetesObject> {
  readonly #opts: InformerOptions<T>;
  readonly #watch: Watch;
  readonly #objects = new Map<string, T>();
  readonly #handlers: Handler<T>[] = [];
  #resourceVersion = '';
  #abort: AbortController | undefined;
  #stopped = true;
  #failures = 0;
  #lastActivity = 0;
  #synced = false;
  #timers: NodeJS.Timeout[] = [];
  #generation = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  readonly #stats = { relists: 0, expired: 0, watchErrors: 0, watchRestarts: 0 };

  constructor(opts: InformerOptions<T>) {
    this.#opts = opts;
    this.#watch = new Watch(opts.kc);
  }

  /** Registers a handler for add/update/delete (called synchronously, in event order). */
  on(handler: Handler<T>): void {
    this.#handlers.push(handler);
  }

  /** Lists, fills the cache, starts watching; resolves after the first successful list. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.#relist();
    this.#synced = true;
    void this.#startWatch();
    const resync = this.#opts.resyncMs ?? 600_000;
    const t1 = setInterval(() => void this.#relistSafely('periodic resync'), resync);
    const t2 = setInterval(() => this.#checkWatchdog(), 5_000);
    t1.unref();
    t2.unref();
    this.#timers.push(t1, t2);
  }

  /** Stops watching; the cache stays readable. */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#abort?.abort();
    this.#abort = undefined;
  }

  /** The cached object, or undefined. */
  get(name: string, namespace?: string): T | undefined {
    return this.#objects.get(`${namespace ?? ''}/${name}`);
  }

  /** All cached objects. */
  list(): T[] {
    return [...this.#objects.values()];
  }

  /** True once the first list succeeded and fewer than maxFailures consecutive failures since. */
  healthy(): boolean {
    return this.#synced && this.#failures < (this.#opts.maxFailures ?? 10);
  }

  /** Counters: full relists, 410 Gone (expired resourceVersion), watch errors, watch (re)starts. */
  stats(): { relists: number; expired: number; watchErrors: number; watchRestarts: number } {
    return { ...this.#stats };
  }

  /** The resourceVersion the next watch resumes from. */
  resourceVersion(): string {
    return this.#resourceVersion;
  }

  #emit(event: InformerEvent, obj: T, old: T | undefined): void {
    for (const h of this.#handlers) {
      try {
        h(event, obj, old);
      } catch (err) {
        this.#opts.log.error({ err, op: 'informerHandler', path: this.#opts.path }, 'informer handler threw');
      }
    }
  }

  async #relist(): Promise<void> {
    const list = await this.#opts.list();
    this.#stats.relists++;
    const fresh = new Map<string, T>();
    for (const item of list.items) fresh.set(keyOf(item), item);
    for (const [k, old] of this.#objects) {
      if (!fresh.has(k)) {
        this.#objects.delete(k);
        this.#emit('delete', old, old);
      }
    }
    for (const [k, obj] of fresh) {
      const old = this.#objects.get(k);
      this.#objects.set(k, obj);
      if (old === undefined) this.#emit('add', obj, undefined);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.#emit('update', obj, old);
    }
    this.#resourceVersion = list.metadata?.resourceVersion ?? '';
    this.#lastActivity = Date.now();
  }

  async #relistSafely(why: string): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.#relist();
      this.#opts.log.debug({ op: 'relist', path: this.#opts.path, why }, 'relisted');
    } catch (err) {
      this.#fail(err, `relist (${why})`);
    }
  }

  async #startWatch(): Promise<void> {
    if (this.#stopped) return;
    const generation = ++this.#generation;
    this.#stats.watchRestarts++;
    const base = this.#opts.watchTimeoutSeconds ?? 300;
    const query: Record<string, string | number | boolean> = {
      resourceVersion: this.#resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds: Math.round(base * (1 + Math.random() * 0.1)),
    };
    if (this.#opts.labelSelector !== undefined) query['labelSelector'] = this.#opts.labelSelector;
    if (this.#opts.fieldSelector !== undefined) query['fieldSelector'] = this.#opts.fieldSelector;
    this.#lastActivity = Date.now();
    let ended = false;
    this.#abort = await this.#watch.watch(
      this.#opts.path,
      query,
      (phase: string, obj: T & { code?: number }) => {
        if (generation !== this.#generation) return;
        this.#onWatchEvent(phase, obj);
      },
      (err: unknown) => {
        ended = true;
        if (generation !== this.#generation) return;
        this.#onWatchDone(err);
      },
    );
    // The stream is open (done was not called during connect): the API server is reachable again.
    if (!ended) this.#failures = 0;
  }

  #onWatchEvent(phase: string, obj: T & { code?: number }): void {
    this.#lastActivity = Date.now();
    if (phase === 'ERROR') {
      // 410: our resourceVersion is older than etcd's compaction window; only a relist helps.
      if (obj.code === 410) {
        this.#stats.expired++;
        this.#resourceVersion = '';
      }
      return;
    }
    if (phase === 'BOOKMARK') {
      this.#resourceVersion = obj.metadata?.resourceVersion ?? this.#resourceVersion;
      return;
    }
    const k = keyOf(obj);
    const old = this.#objects.get(k);
    if (phase === 'DELETED') {
      this.#objects.delete(k);
      this.#emit('delete', obj, old);
    } else if (phase === 'ADDED' || phase === 'MODIFIED') {
      this.#objects.set(k, obj);
      if (old === undefined) this.#emit('add', obj, undefined);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.#emit('update', obj, old);
    }
    this.#resourceVersion = obj.metadata?.resourceVersion ?? this.#resourceVersion;
    this.#failures = 0;
  }

  #onWatchDone(err: unknown): void {
    this.#abort = undefined;
    if (this.#stopped) return;
    if (err !== null && err !== undefined) {
      if (statusOf(err) === 410) {
        this.#stats.expired++;
        this.#resourceVersion = '';
      } else {
        this.#fail(err, 'watch');
        return;
      }
    }
    // A clean end (server timeout, or 410): resume at once, relisting first if the RV was dropped.
    void this.#resume();
  }

  async #resume(): Promise<void> {
    if (this.#stopped) return;
    try {
      if (this.#resourceVersion === '') await this.#relist();
      await this.#startWatch();
    } catch (err) {
      this.#fail(err, 'resume');
    }
  }

  #fail(err: unknown, during: string): void {
    this.#failures++;
    this.#stats.watchErrors++;
    const max = this.#opts.maxFailures ?? 10;
    // 100 ms doubling to 30 s: an API server restart (a few seconds) is ridden out in a handful of tries.
    const delay = Math.min(30_000, 100 * 2 ** Math.min(this.#failures - 1, 9)) * (0.5 + Math.random() * 0.5);
    this.#opts.log.warn({ op: 'informer', path: this.#opts.path, during, failures: this.#failures, retryMs: Math.round(delay), err }, 'watch failed; retrying');
    if (this.#failures >= max) {
      const fatal = new Error(`watch of ${this.#opts.path} failed ${this.#failures} times in a row`, { cause: err });
      this.#opts.onFatal?.(fatal);
    }
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      // After repeated failures the resourceVersion may be the problem: relist to be sure.
      if (this.#failures >= 2) this.#resourceVersion = '';
      void this.#resume();
    }, delay);
  }

  #checkWatchdog(): void {
    if (this.#stopped || this.#abort === undefined) return;
    const limitMs = ((this.#opts.watchTimeoutSeconds ?? 300) * 1.2 + 30) * 1000;
    if (Date.now() - this.#lastActivity > limitMs) {
      this.#opts.log.warn({ op: 'informer', path: this.#opts.path, silentMs: Date.now() - this.#lastActivity }, 'watch silent too long; restarting');
      this.#generation++;
      this.#abort.abort();
      this.#abort = undefined;
      void this.#resume();
    }
  }
}
