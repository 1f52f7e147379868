/**
 * Incarnation numbers are uint32 on the wire. hashicorp/memberlist compares them as plain
 * unsigned numbers and lets its refutation wrap (refute: `skipIncarnation(accused − inc + 1)`
 * overflows to 0 when accused = 0xffffffff), so one forged `dead` at 0xffffffff kills a member
 * until it is reaped: its refutation (0) is "older" than the accusation.
 *
 * ironlb's rule (pure, table-tested):
 * - Claims within `maxJump` of the incarnation we hold, either way, compare as RFC 1982 serial
 *   numbers: `a` is newer than `b` iff 0 < (a − b) mod 2^32 < 2^31. For any two values less
 *   than 2^31 apart without wrapping this is Go's `>`, so nothing changes on the wire or in
 *   ordinary operation; at the top of the range 0 follows 0xffffffff, so a refutation that
 *   wraps still wins among ironlb nodes.
 * - Claims farther away than `maxJump` (forward or backward, modulo 2^32), and claims
 *   numerically more than `maxJump` above (what Go would take as newer), are implausible:
 *   legitimate incarnations move by one per refutation, or to accused + 1. They are dropped
 *   and counted (`incarnationJump`), which makes a single absurd accusation (dead at
 *   0xffffffff about a member at 5) harmless, and keeps an attacker from splitting views by
 *   pushing one member's number more than half the circle away from what others hold.
 * - A restarted member (back at 1 while we remember, say, 600) is merely older, as in Go: its
 *   alive is ignored until it refutes its old state (at 601).
 * - A member we have never seen has no baseline: its first alive is taken as is.
 */

/** How a claimed incarnation relates to the one we hold. */
export type IncarnationOrder = 'newer' | 'equal' | 'older' | 'far';

/** (a − b) mod 2^32. */
export function incarnationDelta(a: number, b: number): number {
  return (a - b) >>> 0;
}

/** Compares a claimed incarnation with the known one (see the module comment). */
export function compareIncarnation(claim: number, known: number, maxJump: number): IncarnationOrder {
  const d = incarnationDelta(claim, known);
  if (d === 0) return 'equal';
  const jump = Math.min(Math.max(1, maxJump), 0x7fffffff);
  if (d <= jump) return 'newer';
  // Numerically far above what we hold is what a Go peer would take as newer: implausible
  // (this is how a forged 0xffffffff against 5 shows up), even where serial order says older.
  if (claim > known) return 'far';
  if (d >= 0x100000000 - jump) return 'older';
  return 'far';
}

/** True if `a` is newer than `b` in serial-number order (0 < (a − b) mod 2^32 < 2^31). */
export function isNewerIncarnation(a: number, b: number): boolean {
  const d = incarnationDelta(a, b);
  return d !== 0 && d < 0x80000000;
}

/** The incarnation a refutation must use: our next one, or accused + 1 if that is not newer (wraps). */
export function refutationIncarnation(next: number, accused: number): number {
  return isNewerIncarnation(next, accused) ? next >>> 0 : (accused + 1) >>> 0;
}
