/**
 * Rate-limited warnings: the first occurrence of a kind is logged at once, later ones within
 * the interval are only counted, and the next line of that kind (or a flush) carries the
 * count. 1000 idle TCP connections thus cost one line per interval, not 1000.
 */
import type { Clock, Timer } from './clock.js';
import type { Logger } from './types.js';

interface Slot {
  last: number;
  suppressed: number;
  obj: object;
  msg: string;
  level: 'warn' | 'info' | 'error';
}

/** One log line per key per interval, with a count of the lines suppressed. */
export class RateLimitedLog {
  private readonly slots = new Map<string, Slot>();
  private flushTimer: Timer | undefined;

  /** Wraps `log`; `intervalMs` is the minimum spacing of lines with the same key. */
  constructor(
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly intervalMs: number,
  ) {}

  /** Logs a warning unless one with this key was logged within the interval. */
  warn(key: string, obj: object, msg: string): void {
    this.write('warn', key, obj, msg);
  }

  /** Like warn, at info level. */
  info(key: string, obj: object, msg: string): void {
    this.write('info', key, obj, msg);
  }

  /** Like warn, at error level. */
  error(key: string, obj: object, msg: string): void {
    this.write('error', key, obj, msg);
  }

  /** Logs pending suppressed counts now (shutdown) and stops the flush timer. */
  flush(): void {
    this.flushTimer?.cancel();
    this.flushTimer = undefined;
    for (const [key, s] of this.slots) {
      if (s.suppressed > 0) this.log[s.level]({ ...s.obj, suppressed: s.suppressed }, `${s.msg} (repeated)`);
      this.slots.delete(key);
    }
  }

  private write(level: Slot['level'], key: string, obj: object, msg: string): void {
    const now = this.clock.now();
    const s = this.slots.get(key);
    if (s !== undefined && now - s.last < this.intervalMs) {
      s.suppressed++;
      s.obj = obj;
      s.msg = msg;
      s.level = level;
      this.armFlush();
      return;
    }
    const suppressed = s?.suppressed ?? 0;
    this.log[level](suppressed > 0 ? { ...obj, suppressed } : obj, msg);
    if (this.slots.size >= 256 && s === undefined) return; // bound the table itself
    this.slots.set(key, { last: now, suppressed: 0, obj, msg, level });
  }

  /** A repeated warning with no later occurrence is still reported once the interval ends. */
  private armFlush(): void {
    if (this.flushTimer !== undefined) return;
    this.flushTimer = this.clock.setTimeout(() => {
      this.flushTimer = undefined;
      const now = this.clock.now();
      let pending = false;
      for (const [key, s] of this.slots) {
        if (s.suppressed === 0) {
          if (now - s.last >= this.intervalMs) this.slots.delete(key);
          continue;
        }
        if (now - s.last >= this.intervalMs) {
          this.log[s.level]({ ...s.obj, suppressed: s.suppressed }, `${s.msg} (repeated)`);
          s.suppressed = 0;
          s.last = now;
        } else pending = true;
      }
      if (pending) this.armFlush();
    }, this.intervalMs);
  }
}
