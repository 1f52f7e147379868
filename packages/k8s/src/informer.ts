/**
 * A list+watch cache that does not trust the network: @kubernetes/client-node's ListWatch stops
 * for good on most errors (its own tests say "does not auto-restart after an error"), and a
 * half-dead connection can sit silent. This one:
 *  - retries forever, with capped jittered backoff: an API server upgrade or an etcd hiccup is
 *    waited out, never turned into an exit (the data plane keeps its last known state);
 *  - `start()` waits for the first list as long as it takes; `stop()` (or the AbortSignal) ends
 *    the wait, and every timer, request and stream it started;
 *  - relists on 410 Gone (expired resourceVersion) and after repeated failures, and diffs the
 *    cache (fires the deletes it missed);
 *  - asks the server to end every watch after timeoutSeconds, and a watchdog aborts a watch that
 *    sent nothing (not even a bookmark) for longer than that;
 *  - relists on a timer as a last line of defence against lost events;
 *  - reports its connection state (`state()`, `onStateChange`) for ApiHealth and /readyz, and
 *    logs the first failure, rate-limited reminders and the recovery, not every retry.
 * Built on client-node's Watch (pinned 1.4.0; see its watch.js): one HTTP stream per watch.
 */
import { type KubeConfig, type KubernetesListObject, type KubernetesObject, Watch } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { type BackoffOptions, type ConnectionState, DEFAULT_BACKOFF, type HealthSource, backoffDelay } from './health.js';

/** The kind of change delivered to handlers. */
export type InformerEvent = 'add' | 'update' | 'delete';

/** The part of client-node's `Watch` the informer uses (a test can hand in its own). */
export interface Watcher {
  watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController>;
}

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
  /** Retry pacing (default 0.2 s doubling to 10 s). */
  backoff?: BackoffOptions;
  /** Consecutive failures after which the next attempt relists instead of resuming (default 2). */
  relistAfterFailures?: number;
  /** While failing, at most one warning per this many ms (default 60 s). */
  logIntervalMs?: number;
  /**
   * Applied to every object before it is cached and handed to handlers (client-go's
   * SetTransform): keep only the fields the process reads, so a large cluster's managedFields,
   * images and the like do not sit in memory. Must keep metadata.name, namespace and
   * resourceVersion (the cache is keyed and diffed on them).
   */
  transform?: (obj: T) => T;
  /** Injected for tests: the watch implementation (default client-node's Watch on `kc`). */
  watcher?: Watcher;
  /** Injected for tests: clock (epoch ms) and random source for the backoff jitter. */
  now?: () => number;
  random?: () => number;
  /** @deprecated Ignored: the informer never gives up. */
  maxFailures?: number;
  /** @deprecated Never called: an unreachable API degrades readiness, it never ends the process. */
  onFatal?: (err: Error) => void;
}

type Handler<T> = (event: InformerEvent, obj: T, old: T | undefined) => void;

/** Thrown by `start()` when the informer is stopped before its first list succeeded. */
export class InformerStoppedError extends Error {
  override readonly name = 'AbortError';
  constructor(path: string) {
    super(`informer for ${path} stopped before it synced`);
  }
}

function keyOf(obj: KubernetesObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

function statusOf(err: unknown): number | undefined {
  const e = err as { statusCode?: number; code?: number } | null;
  return e?.statusCode ?? (typeof e?.code === 'number' ? e.code : undefined);
}

/** A watch that ends (cleanly) sooner than this after it opened counts as a failure, so a server that keeps closing at once is retried with backoff, not in a tight loop. */
const MIN_HEALTHY_WATCH_MS = 1000;

/** A resilient list+watch cache of one resource collection. */
export class ResilientInformer<T extends KubernetesObject> implements HealthSource {
  readonly name: string;
  readonly #opts: InformerOptions<T>;
  readonly #watcher: Watcher;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #objects = new Map<string, T>();
  readonly #handlers: Handler<T>[] = [];
  readonly #stateListeners: (() => void)[] = [];
  #resourceVersion = '';
  /** The open watch stream, if any. */
  #abort: AbortController | undefined;
  /** new → running → stopped (for good). */
  #phase: 'new' | 'running' | 'stopped' = 'new';
  /** Bumped by stop, the watchdog and every new watch: callbacks of older ones are ignored. */
  #generation = 0;
  #failures = 0;
  #lastActivity = 0;
  #synced = false;
  #connected = false;
  #disconnectedSince: number | undefined;
  #lastError: unknown;
  #lastWarnAt = 0;
  #suppressed = 0;
  #timers: NodeJS.Timeout[] = [];
  #retryTimer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  /** A kick arrived while an attempt was running: run another one after it. */
  #again = false;
  #startWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  readonly #stats = { relists: 0, expired: 0, watchErrors: 0, watchRestarts: 0 };

  constructor(opts: InformerOptions<T>) {
    this.#opts = opts;
    this.name = opts.path.split('/').pop() ?? opts.path;
    this.#watcher = opts.watcher ?? new Watch(opts.kc);
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
  }

  /** Registers a handler for add/update/delete (called synchronously, in event order). */
  on(handler: Handler<T>): void {
    this.#handlers.push(handler);
  }

  /** Calls `cb` after every change of `state()` (connected, synced). */
  onStateChange(cb: () => void): void {
    this.#stateListeners.push(cb);
  }

  /**
   * Lists, fills the cache, starts watching; resolves after the first successful list, however
   * long the API takes to answer. Rejects with InformerStoppedError if stopped (or `signal`
   * aborts) first. Calling it again while running returns the same wait.
   */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.#phase === 'stopped' || signal?.aborted === true) throw new InformerStoppedError(this.#opts.path);
    const wait = this.#synced ? Promise.resolve() : new Promise<void>((resolve, reject) => this.#startWaiters.push({ resolve, reject }));
    signal?.addEventListener('abort', () => this.stop(), { once: true });
    if (this.#phase === 'new') {
      this.#phase = 'running';
      const resync = this.#opts.resyncMs ?? 600_000;
      const t1 = setInterval(() => this.#periodicRelist(), resync);
      const t2 = setInterval(() => this.#checkWatchdog(), 5_000);
      t1.unref();
      t2.unref();
      this.#timers.push(t1, t2);
      this.#kick();
    }
    await wait;
  }

  /** Stops watching and retrying, for good (start() cannot resume it); the cache stays readable. */
  stop(): void {
    if (this.#phase === 'stopped') return;
    this.#phase = 'stopped';
    this.#generation++;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#abort?.abort();
    this.#abort = undefined;
    const waiters = this.#startWaiters;
    this.#startWaiters = [];
    for (const w of waiters) w.reject(new InformerStoppedError(this.#opts.path));
  }

  /** The cached object, or undefined. */
  get(name: string, namespace?: string): T | undefined {
    return this.#objects.get(`${namespace ?? ''}/${name}`);
  }

  /** All cached objects. */
  list(): T[] {
    return [...this.#objects.values()];
  }

  /** Synced, connected, since when not, and the last error. */
  state(): ConnectionState {
    return { synced: this.#synced, connected: this.#connected, disconnectedSince: this.#disconnectedSince, lastError: this.#lastError };
  }

  /** True once the first list succeeded. */
  synced(): boolean {
    return this.#synced;
  }

  /** True while the last list/watch reached the API and nothing failed since. */
  connected(): boolean {
    return this.#connected;
  }

  /** When the current run of failures began (epoch ms), or undefined while connected. */
  disconnectedSince(): number | undefined {
    return this.#disconnectedSince;
  }

  /**
   * Liveness: always true. The informer never gives up, so there is nothing a restart would fix;
   * reachability is `connected()` and belongs in readiness.
   * @deprecated Use `state()` / ApiHealth for readiness.
   */
  healthy(): boolean {
    return true;
  }

  /** Counters: full relists, 410 Gone (expired resourceVersion), failures, watch (re)starts. */
  stats(): { relists: number; expired: number; watchErrors: number; watchRestarts: number } {
    return { ...this.#stats };
  }

  /** The resourceVersion the next watch resumes from ("" means the next attempt relists). */
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

  #notify(): void {
    for (const cb of this.#stateListeners) {
      try {
        cb();
      } catch (err) {
        this.#opts.log.error({ err, op: 'informerState', path: this.#opts.path }, 'informer state listener threw');
      }
    }
  }

  get #stopped(): boolean {
    return this.#phase !== 'running';
  }

  /** Runs one attempt (relist if needed, then watch), or one more right after the running one. */
  #kick(): void {
    if (this.#stopped) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    // #attempt never rejects: every failure goes through #fail.
    this.#running = this.#attempt().finally(() => this.#afterRun());
  }

  #afterRun(): void {
    this.#running = undefined;
    if (this.#again) {
      this.#again = false;
      this.#kick();
    }
  }

  async #attempt(): Promise<void> {
    const generation = this.#generation;
    try {
      if (this.#resourceVersion === '' || !this.#synced) await this.#relist(generation);
    } catch (err) {
      if (generation === this.#generation && !this.#stopped) this.#fail(err, this.#synced ? 'relist' : 'initial list');
      return;
    }
    if (generation !== this.#generation || this.#stopped) return;
    await this.#startWatch();
  }

  async #relist(generation: number): Promise<void> {
    const list = await this.#opts.list();
    // Stopped (or superseded) while the list was in flight: its result is stale, drop it.
    if (generation !== this.#generation || this.#stopped) return;
    this.#stats.relists++;
    const fresh = new Map<string, T>();
    const tf = this.#opts.transform;
    for (const item of list.items) fresh.set(keyOf(item), tf === undefined ? item : tf(item));
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
    this.#lastActivity = this.#now();
    const first = !this.#synced;
    this.#synced = true;
    this.#markConnected(first);
    if (first) {
      const waiters = this.#startWaiters;
      this.#startWaiters = [];
      for (const w of waiters) w.resolve();
    }
  }

  async #startWatch(): Promise<void> {
    const generation = ++this.#generation;
    this.#stats.watchRestarts++;
    const base = this.#opts.watchTimeoutSeconds ?? 300;
    const query: Record<string, string | number | boolean> = {
      resourceVersion: this.#resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds: Math.round(base * (1 + this.#random() * 0.1)),
    };
    if (this.#opts.labelSelector !== undefined) query['labelSelector'] = this.#opts.labelSelector;
    if (this.#opts.fieldSelector !== undefined) query['fieldSelector'] = this.#opts.fieldSelector;
    const openedAt = this.#now();
    this.#lastActivity = openedAt;
    let ended = false;
    // watch() calls `done` itself (maybe before it returns) for connect errors and non-200s; it
    // throws only if it cannot even build the request (e.g. a credential plugin failed).
    let abort: AbortController;
    try {
      abort = await this.#watcher.watch(
        this.#opts.path,
        query,
        (phase: string, obj: unknown) => {
          if (generation !== this.#generation) return;
          this.#onWatchEvent(phase, obj as T & { code?: number });
        },
        (err: unknown) => {
          ended = true;
          if (generation !== this.#generation) return;
          this.#onWatchDone(err, openedAt);
        },
      );
    } catch (err) {
      if (generation === this.#generation && !this.#stopped) this.#fail(err, 'watch');
      return;
    }
    // Stopped, or replaced by the watchdog, while connecting: this stream is nobody's; close it.
    if (generation !== this.#generation || this.#stopped) {
      abort.abort();
      return;
    }
    if (!ended) {
      this.#abort = abort;
      this.#markConnected();
    }
  }

  #onWatchEvent(phase: string, raw: T & { code?: number }): void {
    this.#lastActivity = this.#now();
    const tf = this.#opts.transform;
    const obj = tf === undefined || phase === 'ERROR' || phase === 'BOOKMARK' ? raw : (tf(raw) as T & { code?: number });
    if (phase === 'ERROR') {
      // 410: our resourceVersion is older than etcd's compaction window; only a relist helps.
      // The server ends the stream right after; #onWatchDone then resumes with a relist.
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
  }

  #onWatchDone(err: unknown, openedAt: number): void {
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
    } else if (this.#now() - openedAt < MIN_HEALTHY_WATCH_MS && this.#resourceVersion !== '') {
      this.#fail(new Error('watch closed right after it opened'), 'watch');
      return;
    }
    // A clean end (server timeout) or a 410: resume at once, relisting first if the RV was dropped.
    this.#kick();
  }

  #fail(err: unknown, during: string): void {
    this.#failures++;
    this.#stats.watchErrors++;
    this.#lastError = err;
    const relistAfter = this.#opts.relistAfterFailures ?? 2;
    // After repeated failures the resourceVersion may be the problem: relist to be sure.
    if (this.#failures >= relistAfter) this.#resourceVersion = '';
    const delay = backoffDelay(this.#failures, this.#opts.backoff ?? DEFAULT_BACKOFF, this.#random);
    const log = this.#opts.log;
    const fields = { op: 'informer', path: this.#opts.path, during, failures: this.#failures, retryMs: delay, err };
    if (this.#connected || this.#disconnectedSince === undefined) {
      this.#connected = false;
      this.#disconnectedSince = this.#now();
      this.#lastWarnAt = this.#now();
      this.#suppressed = 0;
      log.warn(fields, this.#synced ? 'lost the Kubernetes API; keeping the cache and retrying' : 'cannot list from the Kubernetes API yet; retrying');
      this.#notify();
    } else if (this.#now() - this.#lastWarnAt >= (this.#opts.logIntervalMs ?? 60_000)) {
      this.#lastWarnAt = this.#now();
      log.warn({ ...fields, downMs: this.#now() - this.#disconnectedSince, suppressed: this.#suppressed }, 'Kubernetes API still unreachable; retrying');
      this.#suppressed = 0;
    } else {
      this.#suppressed++;
      log.debug(fields, 'retrying');
    }
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#kick();
    }, delay);
  }

  /** Records a successful contact; `force` notifies even if it was connected already (first sync). */
  #markConnected(force = false): void {
    this.#failures = 0;
    if (this.#connected) {
      if (force) this.#notify();
      return;
    }
    const downMs = this.#disconnectedSince === undefined ? undefined : this.#now() - this.#disconnectedSince;
    this.#connected = true;
    this.#disconnectedSince = undefined;
    this.#lastError = undefined;
    if (downMs !== undefined) this.#opts.log.info({ op: 'informer', path: this.#opts.path, downMs }, 'Kubernetes API reachable again');
    this.#notify();
  }

  #periodicRelist(): void {
    // Only while healthy and idle: a failing informer is already retrying (and relisting).
    if (this.#stopped || !this.#connected || this.#running !== undefined) return;
    const generation = this.#generation;
    this.#running = this.#relist(generation)
      .catch((err: unknown) => {
        if (generation === this.#generation && !this.#stopped) this.#fail(err, 'periodic relist');
      })
      .finally(() => this.#afterRun());
  }

  #checkWatchdog(): void {
    if (this.#stopped || this.#abort === undefined) return;
    const limitMs = ((this.#opts.watchTimeoutSeconds ?? 300) * 1.2 + 30) * 1000;
    const silentMs = this.#now() - this.#lastActivity;
    if (silentMs > limitMs) {
      this.#opts.log.warn({ op: 'informer', path: this.#opts.path, silentMs }, 'watch silent too long; restarting it');
      this.#generation++;
      this.#abort.abort();
      this.#abort = undefined;
      this.#fail(new Error(`watch silent for ${Math.round(silentMs / 1000)} s`), 'watchdog');
    }
  }
}
