/**
 * A keyed work queue: each key is processed by at most one worker at a time, duplicates collapse,
 * up to `concurrency` keys run at once (status writes are network-bound; allocation itself is
 * synchronous), and a failing key is retried with per-key exponential backoff.
 */
export type Work = (key: string) => Promise<'done' | 'retry'>;

/** A deduplicating, per-key serialized work queue. */
export class KeyedQueue {
  readonly #work: Work;
  readonly #concurrency: number;
  readonly #pending = new Set<string>();
  readonly #inflight = new Set<string>();
  readonly #attempts = new Map<string, number>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #idleWaiters: (() => void)[] = [];
  #stopped = false;

  constructor(work: Work, concurrency = 32) {
    this.#work = work;
    this.#concurrency = concurrency;
  }

  /** Adds a key (no-op if already pending). */
  add(key: string): void {
    if (this.#stopped) return;
    this.#pending.add(key);
    this.#pump();
  }

  /** Number of keys pending or in flight. */
  size(): number {
    return this.#pending.size + this.#inflight.size;
  }

  /** Resolves when nothing is pending or in flight (retries waiting on timers do not count). */
  async idle(): Promise<void> {
    if (this.size() === 0) return;
    await new Promise<void>((r) => this.#idleWaiters.push(r));
  }

  /** Stops taking work and cancels scheduled retries. */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#pending.clear();
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
    try {
      outcome = await this.#work(key);
    } catch {
      outcome = 'retry';
    }
    this.#inflight.delete(key);
    if (outcome === 'retry' && !this.#stopped) {
      const n = (this.#attempts.get(key) ?? 0) + 1;
      this.#attempts.set(key, n);
      const delay = Math.min(30_000, 100 * 2 ** Math.min(n, 9)) * (0.5 + Math.random() * 0.5);
      const t = setTimeout(() => {
        this.#timers.delete(t);
        this.add(key);
      }, delay);
      t.unref();
      this.#timers.add(t);
    } else {
      this.#attempts.delete(key);
    }
    this.#pump();
  }
}
