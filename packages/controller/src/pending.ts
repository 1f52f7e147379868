/**
 * Services waiting for an IP, oldest first. When IPs are freed the controller offers them to the
 * oldest waiting Services only, in memory, until the freed IPs are taken: no API call, log line
 * or Event for the others (500 pending Services and 10 frees used to cost ~1,000 failed
 * allocations, log lines and Event writes).
 */

/** An ordered set of service keys by creation time (then key). */
export class PendingServices {
  readonly #at = new Map<string, number>();
  /** Sorted by (time, key); insert and delete are a binary search plus a splice. */
  readonly #order: { t: number; key: string }[] = [];

  /** Adds or keeps `key`; `createdMs` orders it (its creationTimestamp). */
  add(key: string, createdMs: number): void {
    const t = Number.isFinite(createdMs) ? createdMs : 0;
    const have = this.#at.get(key);
    if (have === t) return;
    if (have !== undefined) this.delete(key);
    this.#at.set(key, t);
    this.#order.splice(this.#index(t, key), 0, { t, key });
  }

  /** Removes `key` if present. */
  delete(key: string): void {
    const t = this.#at.get(key);
    if (t === undefined) return;
    this.#at.delete(key);
    const i = this.#index(t, key);
    if (this.#order[i]?.key === key) this.#order.splice(i, 1);
  }

  /** Whether `key` is waiting. */
  has(key: string): boolean {
    return this.#at.has(key);
  }

  /** How many Services are waiting. */
  get size(): number {
    return this.#at.size;
  }

  /** Keys oldest first (a copy; tests and diagnostics). */
  oldestFirst(): string[] {
    return this.#order.map((e) => e.key);
  }

  /**
   * Visits keys oldest first until `visit` returns false. `visit` may delete the key it was given
   * (and only that one); the walk costs O(visited), not O(size).
   */
  walk(visit: (key: string) => boolean): void {
    let i = 0;
    while (i < this.#order.length) {
      const key = (this.#order[i] as { key: string }).key;
      const more = visit(key);
      if (this.#order[i]?.key === key) i++;
      if (!more) return;
    }
  }

  /** First position whose entry is not before (t, key). */
  #index(t: number, key: string): number {
    let lo = 0;
    let hi = this.#order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const e = this.#order[mid] as { t: number; key: string };
      if (e.t < t || (e.t === t && e.key < key)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
