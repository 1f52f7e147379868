/**
 * A keyed work queue: each key is processed by at most one worker at a time, duplicates collapse,
 * up to `concurrency` keys run at once (status writes are network-bound; allocation itself is
 * synchronous), and a failing key is retried with per-key capped, jittered backoff, never
 * dropped. Every failure (a 'retry' verdict or a throw) is reported to `onFailure`, which the
 * controller counts in a metric and logs rate-limited; nothing is swallowed.
 */
import { type BackoffOptions, backoffDelay } from '@ironlb/k8s';

/** The work for one key: 'retry' asks for another attempt later. */
export type Work = (key: string) => Promise<'done' | 'retry'>;

/** How a key's attempt failed: `err` set when the work threw, undefined for a 'retry' verdict. */
export type FailureReport = (key: string, attempt: number, err: unknown) => void;

/** Options of a KeyedQueue. */
export interface QueueOptions {
  /** Keys processed at once (default 32). */
  concurrency?: number;
  /** Retry pacing per key (default 0.2 s doubling to 10 s). */
  backoff?: BackoffOptions;
  onFailure?: FailureReport;
  random?: () => number;
}

/** A deduplicating, per-key serialized work queue. */
export class KeyedQueue {
  readonly #work: Work;
  readonly #concurrency: number;
  readonly #backoff: BackoffOptions;
  readonly #onFailure: FailureReport | undefined;
  readonly #random: () => number;
  readonly #pending = new Set<string>();
  readonly #inflight = new Set<string>();
  readonly #attempts = new Map<string, number>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #idleWaiters: (() => void)[] = [];
  #stopped = false;

  constructor(work: Work, options: number | QueueOptions = 32) {
    const o: QueueOptions = typeof options === 'number' ? { concurrency: options } : options;
    this.#work = work;
    this.#concurrency = o.concurrency ?? 32;
    this.#backoff = o.backoff ?? { initialMs: 200, maxMs: 10_000 };
    this.#onFailure = o.onFailure;
    this.#random = o.random ?? Math.random;
  }

  /** Adds a key (no-op if already pending). */
  add(key: string): void {
    if (this.#stopped) return;
    // Work now supersedes a scheduled retry of the same key.
    const retry = this.#timers.get(key);
    if (retry !== undefined) {
      clearTimeout(retry);
      this.#timers.delete(key);
    }
    this.#pending.add(key);
    this.#pump();
  }

  /** Number of keys pending or in flight. */
  size(): number {
    return this.#pending.size + this.#inflight.size;
  }

  /** Keys waiting for a retry timer. */
  retrying(): number {
    return this.#timers.size;
  }

  /** Resolves when nothing is pending or in flight (retries waiting on timers do not count). */
  async idle(): Promise<void> {
    if (this.size() === 0) return;
    await new Promise<void>((r) => this.#idleWaiters.push(r));
  }

  /** Stops taking work and cancels scheduled retries. */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.#pending.clear();
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  #pump(): void {
    if (this.#stopped) return;
    for (const key of this.#pending) {
      if (this.#inflight.size >= this.#concurrency) break;
      if (this.#inflight.has(key)) continue;
      this.#pending.delete(key);
      this.#inflight.add(key);
      void this.#run(key);
    }
    if (this.size() === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  async #run(key: string): Promise<void> {
    let outcome: 'done' | 'retry' = 'retry';
    let error: unknown;
    let threw = false;
    try {
      outcome = await this.#work(key);
    } catch (err) {
      threw = true;
      error = err;
      outcome = 'retry';
    }
    this.#inflight.delete(key);
    if (outcome === 'retry' && !this.#stopped) {
      const n = (this.#attempts.get(key) ?? 0) + 1;
      this.#attempts.set(key, n);
      try {
        this.#onFailure?.(key, n, threw ? (error ?? new Error('work threw undefined')) : undefined);
      } catch {
        // A reporting hook must not stop the retry.
      }
      const existing = this.#timers.get(key);
      if (existing !== undefined) clearTimeout(existing);
      const t = setTimeout(
        () => {
          this.#timers.delete(key);
          this.add(key);
        },
        backoffDelay(n, this.#backoff, this.#random),
      );
      // Not unref'd: owed work keeps the process alive; stop() clears it.
      this.#timers.set(key, t);
    } else {
      this.#attempts.delete(key);
    }
    this.#pump();
  }
}
