/**
 * Lifeguard suspicion timer (memberlist suspicion.go): it starts at `max` when confirmations
 * are expected (k ≥ 1), else at `min`, and each confirmation from a new accuser shrinks it
 * toward `min`, measured from the start of the suspicion.
 */
import type { Clock, Timer } from './clock.js';
import { suspicionTimeoutAfter } from './timing.js';

/** One suspicion about one member. */
export class Suspicion {
  private readonly confirmations = new Set<string>();
  private n = 0;
  private readonly start: number;
  private timer: Timer;
  /** Set once the expiry was postponed (see MemberTable's suspicion expiry). */
  deferred = false;

  /** Starts the timer; `fire` gets the number of confirmations when it expires. */
  constructor(
    private readonly clock: Clock,
    from: string,
    private readonly k: number,
    private readonly min: number,
    private readonly max: number,
    private readonly fire: (confirmations: number) => void,
  ) {
    // The accuser is recorded so its repeats do not count as confirmations.
    this.confirmations.add(from);
    this.start = clock.now();
    this.timer = clock.setTimeout(() => this.fire(this.n), k < 1 ? min : max);
  }

  /** Counts a confirmation from a new accuser; true if it was new (and should be re-gossiped). */
  confirm(from: string): boolean {
    if (this.n >= this.k || this.confirmations.has(from)) return false;
    this.confirmations.add(from);
    this.n++;
    const remaining = suspicionTimeoutAfter(this.min, this.max, this.k, this.n) - (this.clock.now() - this.start);
    this.timer.cancel();
    this.timer = this.clock.setTimeout(() => this.fire(this.n), Math.max(0, remaining));
    return true;
  }

  /** Independent confirmations so far. */
  confirmationCount(): number {
    return this.n;
  }

  /** Restarts the timer to fire `ms` from now. */
  rearm(ms: number): void {
    this.timer.cancel();
    this.timer = this.clock.setTimeout(() => this.fire(this.n), ms);
  }

  /** Cancels the timer. */
  stop(): void {
    this.timer.cancel();
  }
}
