/**
 * Time and chance, injected (STYLE.md #16). The state machine reads the time, schedules every
 * timer and draws every random number through these, so transition tests and the simulator
 * drive it with a ManualClock and a seeded random source: no sockets, no sleeping.
 */

/** A scheduled callback. cancel() is idempotent. */
export interface Timer {
  cancel(): void;
}

/** A source of time and timers. */
export interface Clock {
  /** Milliseconds (the system clock's epoch ms, or virtual time). */
  now(): number;
  /**
   * Runs `fn` after `ms`. Real timers are unref'd (they never keep a process alive) unless
   * `keepAlive` is set, for waits a caller awaits (leave, updateMeta).
   */
  setTimeout(fn: () => void, ms: number, keepAlive?: boolean): Timer;
  /**
   * Resolves once input already pending at this instant has been handled. Node runs expired
   * timers *before* reading sockets, so after a stall (GC, a busy CPU) a probe timeout would
   * fire while its ack is still unread in the socket buffer; every verdict waits for this first.
   */
  afterIo(): Promise<void>;
}

/** A random source: uniform in [0, 1), like Math.random. */
export type Random = () => number;

/** The real clock: Date.now, unref'd setTimeout, setImmediate. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn: () => void, ms: number, keepAlive = false): Timer {
    const t = setTimeout(fn, Math.max(0, ms));
    if (!keepAlive) t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  afterIo: () => new Promise((resolve) => setImmediate(resolve)),
};

/** Math.random, the default random source. */
export const systemRandom: Random = Math.random;

/** A reproducible random source (mulberry32) for tests and the simulator. */
export function seededRandom(seed: number): Random {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Entry {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Lets every promise continuation that is ready run (one macrotask turn). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Virtual time for tests and simulations. Nothing happens until advance() is awaited: it runs
 * due timers in time order (ties in scheduling order) and, after each instant, lets promise
 * continuations settle, so async state machines (await sleep, await afterIo) progress exactly
 * as they would in real time, only without waiting.
 */
export class ManualClock implements Clock {
  private t: number;
  private heap: Entry[] = [];
  private seq = 0;
  /** Timer callbacks run so far (a cost measure for the simulator). */
  fired = 0;

  /** Starts virtual time at `start` ms. */
  constructor(start = 1_000_000) {
    this.t = start;
  }

  /** Current virtual time. */
  now(): number {
    return this.t;
  }

  /** Schedules `fn` at now + ms (the keepAlive flag has no meaning here). */
  setTimeout(fn: () => void, ms: number): Timer {
    const e: Entry = { at: this.t + Math.max(0, Number.isFinite(ms) ? ms : 0), seq: this.seq++, fn, cancelled: false };
    this.push(e);
    return {
      cancel: () => {
        e.cancelled = true;
      },
    };
  }

  /** A zero-delay timer: runs after everything already due at this instant (deliveries included). */
  afterIo(): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, 0));
  }

  /** Number of scheduled, not yet run timers (cancelled ones may still be counted). */
  pending(): number {
    return this.heap.length;
  }

  /** Advances virtual time by `ms`, running every timer that falls due. */
  async advance(ms: number): Promise<void> {
    const end = this.t + Math.max(0, ms);
    await settle();
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.at > end) break;
      this.t = top.at;
      // Run everything due at this instant, then let continuations run (they may schedule
      // more work at the same instant, which the loop then picks up).
      while (this.heap[0] !== undefined && this.heap[0].at === this.t) {
        const e = this.pop();
        if (e.cancelled) continue;
        this.fired++;
        e.fn();
      }
      await settle();
    }
    this.t = end;
    await settle();
  }

  /**
   * Advances in `stepMs` steps until `cond()` holds or `maxMs` passed; returns the virtual time
   * it took, or undefined on timeout.
   */
  async advanceUntil(cond: () => boolean, maxMs: number, stepMs = 5): Promise<number | undefined> {
    const start = this.t;
    while (!cond()) {
      if (this.t - start >= maxMs) return undefined;
      await this.advance(stepMs);
    }
    return this.t - start;
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pe = h[p] as Entry;
      if (!before(e, pe)) break;
      h[i] = pe;
      i = p;
    }
    h[i] = e;
  }

  private pop(): Entry {
    const h = this.heap;
    const top = h[0] as Entry;
    const last = h.pop() as Entry;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        let me = last;
        const le = h[l];
        if (le !== undefined && before(le, me)) {
          m = l;
          me = le;
        }
        const re = h[r];
        if (re !== undefined && before(re, me)) {
          m = r;
          me = re;
        }
        if (m === i) break;
        h[i] = me;
        i = m;
      }
      h[i] = last;
    }
    return top;
  }
}
