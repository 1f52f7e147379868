/**
 * Bounded API writes of desired state: callers say what an object should look like (`set`), as
 * often as they like; the writer sends only the latest value per key, only when it differs from
 * what was last written, at most one write per key in flight and at most one per `minIntervalMs`,
 * with a cap on concurrent writes, and retries failures with capped jittered backoff until a
 * newer value supersedes them. Timers are not unref'd: owed writes keep the process alive until
 * `stop()`. Status of IPAddressPools, L2Advertisements and ServiceL2Status
 * objects goes through it: a burst of 1,000 allocations costs one status write per pool.
 */
import { type BackoffOptions, DEFAULT_BACKOFF, backoffDelay } from './health.js';

/** What a write did: applied, or the object is gone (nothing more to do for this value). */
export type WriteOutcome = 'done' | 'gone';

/** Options of a CoalescingWriter. */
export interface CoalescingWriterOptions<V> {
  /** Writes one value; throws to be retried. */
  write: (key: string, value: V) => Promise<WriteOutcome>;
  /** Whether two values need no write between them (default: equal JSON). */
  same?: (a: V, b: V) => boolean;
  /** At most one write per key per this many ms (default 0). */
  minIntervalMs?: number;
  /** Writes in flight at once across keys (default 8). */
  concurrency?: number;
  backoff?: BackoffOptions;
  /** Called on each failed write (log it rate-limited, count it). */
  onError?: (key: string, err: unknown, attempt: number) => void;
  now?: () => number;
  random?: () => number;
}

/** Counters of a writer. */
export interface CoalescingStats {
  writes: number;
  /** `set` calls that needed no write (same as written) or were folded into a later value. */
  coalesced: number;
  failures: number;
}

interface Entry<V> {
  desired: V;
  has: boolean;
  written: V | undefined;
  hasWritten: boolean;
  inflight: boolean;
  lastWriteAt: number;
  attempts: number;
  timer: NodeJS.Timeout | undefined;
}

function jsonSame(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A per-key, latest-value-wins, rate-limited writer. */
export class CoalescingWriter<V> {
  readonly #o: CoalescingWriterOptions<V>;
  readonly #same: (a: V, b: V) => boolean;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry<V>>();
  /** Keys ready to write, waiting for a concurrency slot. */
  readonly #ready = new Set<string>();
  #inflight = 0;
  #stopped = false;
  #idle: (() => void)[] = [];
  readonly #stats: CoalescingStats = { writes: 0, coalesced: 0, failures: 0 };

  constructor(o: CoalescingWriterOptions<V>) {
    this.#o = o;
    this.#same = o.same ?? jsonSame;
    this.#now = o.now ?? Date.now;
  }

  /** Sets the desired value of `key`; the write follows when allowed. */
  set(key: string, value: V): void {
    if (this.#stopped) return;
    let e = this.#entries.get(key);
    if (e === undefined) {
      e = { desired: value, has: true, written: undefined, hasWritten: false, inflight: false, lastWriteAt: -Infinity, attempts: 0, timer: undefined };
      this.#entries.set(key, e);
    } else {
      if (e.has && !e.inflight && e.timer !== undefined) this.#stats.coalesced++;
      e.desired = value;
      e.has = true;
    }
    if (e.hasWritten && e.written !== undefined && this.#same(e.written, value) && !e.inflight) {
      // Already what the API has: nothing to do (a pending retry of an older value is dropped).
      e.has = false;
      e.attempts = 0;
      if (e.timer !== undefined) clearTimeout(e.timer);
      e.timer = undefined;
      this.#ready.delete(key);
      this.#stats.coalesced++;
      this.#checkIdle();
      return;
    }
    this.#schedule(key, e);
  }

  /** Forgets what was written for `key` (the object was deleted elsewhere); the next set writes. */
  forget(key: string): void {
    const e = this.#entries.get(key);
    if (e === undefined || e.inflight) return;
    if (e.timer !== undefined) clearTimeout(e.timer);
    this.#ready.delete(key);
    this.#entries.delete(key);
    this.#checkIdle();
  }

  /** Resolves once nothing is waiting, scheduled or in flight. */
  async idle(): Promise<void> {
    if (this.#busy() === 0) return;
    await new Promise<void>((r) => this.#idle.push(r));
  }

  /** Keys with a write waiting, scheduled or in flight. */
  pending(): number {
    return this.#busy();
  }

  /** Counters since start. */
  stats(): CoalescingStats {
    return { ...this.#stats };
  }

  /** Drops everything pending; in-flight writes finish but are not retried. */
  stop(): void {
    this.#stopped = true;
    for (const e of this.#entries.values()) if (e.timer !== undefined) clearTimeout(e.timer);
    this.#entries.clear();
    this.#ready.clear();
    const w = this.#idle;
    this.#idle = [];
    for (const r of w) r();
  }

  #busy(): number {
    let n = 0;
    for (const e of this.#entries.values()) if (e.has || e.inflight) n++;
    return n;
  }

  #schedule(key: string, e: Entry<V>): void {
    if (e.inflight || e.timer !== undefined) return; // the running write or the timer picks up the new value
    const wait = e.lastWriteAt + (this.#o.minIntervalMs ?? 0) - this.#now();
    if (wait > 0) {
      e.timer = setTimeout(() => {
        e.timer = undefined;
        this.#ready.add(key);
        this.#pump();
      }, wait);
      return;
    }
    this.#ready.add(key);
    this.#pump();
  }

  #pump(): void {
    const limit = this.#o.concurrency ?? 8;
    for (const key of this.#ready) {
      if (this.#inflight >= limit) return;
      this.#ready.delete(key);
      const e = this.#entries.get(key);
      if (e === undefined || !e.has || e.inflight) continue;
      void this.#run(key, e);
    }
    this.#checkIdle();
  }

  async #run(key: string, e: Entry<V>): Promise<void> {
    const value = e.desired;
    e.has = false;
    e.inflight = true;
    this.#inflight++;
    e.lastWriteAt = this.#now();
    let failed = false;
    try {
      const outcome = await this.#o.write(key, value);
      this.#stats.writes++;
      e.attempts = 0;
      e.written = value;
      e.hasWritten = outcome === 'done';
    } catch (err) {
      failed = true;
      this.#stats.failures++;
      e.attempts++;
      try {
        this.#o.onError?.(key, err, e.attempts);
      } catch {
        // A reporting hook must not stop the retry.
      }
    } finally {
      e.inflight = false;
      this.#inflight--;
    }
    if (this.#stopped) return;
    if (failed && !e.has) {
      // Retry the same value later unless a newer one arrives first.
      e.desired = value;
      e.has = true;
      const delay = backoffDelay(e.attempts, this.#o.backoff ?? DEFAULT_BACKOFF, this.#o.random ?? Math.random);
      e.timer = setTimeout(() => {
        e.timer = undefined;
        this.#ready.add(key);
        this.#pump();
      }, delay);
    } else if (e.has) {
      if (e.hasWritten && e.written !== undefined && this.#same(e.written, e.desired)) {
        e.has = false;
        this.#stats.coalesced++;
      } else this.#schedule(key, e);
    }
    this.#pump();
  }

  #checkIdle(): void {
    if (this.#busy() > 0 || this.#idle.length === 0) return;
    const w = this.#idle;
    this.#idle = [];
    for (const r of w) r();
  }
}
