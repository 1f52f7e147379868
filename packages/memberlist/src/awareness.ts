/**
 * Local health (memberlist awareness.go, Lifeguard) plus the two timestamps ironlb's
 * "isolated sole accuser" rule reads: when a valid packet last arrived, and when a probe of
 * ours last failed while nothing at all arrived during it.
 */
import { applyAwareness } from './timing.js';

/** Health score and isolation timestamps of this node. */
export class Health {
  /** Health score in [0, max−1]; scales the probe interval by (score + 1). */
  score = 0;
  /** When a valid packet last arrived from anyone. */
  lastPacketAt = 0;
  /** When a probe of ours last failed while nothing at all arrived during it (we were cut off). */
  lastIsolatedAt = 0;

  /** `max` is the timing's awarenessMaxMultiplier. */
  constructor(private readonly max: number) {}

  /** Moves the score by `delta`, clamped. */
  apply(delta: number): void {
    this.score = applyAwareness(this.score, delta, this.max);
  }
}
