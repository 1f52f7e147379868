/**
 * Timing presets and the pure formulas of SWIM/Lifeguard as hashicorp/memberlist computes them
 * (config.go, util.go, suspicion.go, awareness.go). All durations are milliseconds.
 */

/** Protocol timing knobs (names follow memberlist's Config). */
export interface Timing {
  /** Time between probes of successive members (scaled by awareness). */
  probeInterval: number;
  /** Wait for a direct ack before going indirect. */
  probeTimeout: number;
  /** Relays asked to ping a target that missed its direct ack. */
  indirectChecks: number;
  /** Broadcast retransmits = retransmitMult × ceil(log10(n+1)). */
  retransmitMult: number;
  /** Suspicion min = suspicionMult × max(1, log10 n) × probeInterval. */
  suspicionMult: number;
  /** Suspicion max = suspicionMaxTimeoutMult × min (before confirmations shrink it). */
  suspicionMaxTimeoutMult: number;
  /** Period of the anti-entropy TCP push/pull with one random peer (0 disables). */
  pushPullInterval: number;
  /** Period of the gossip (broadcast) sends. */
  gossipInterval: number;
  /** Peers gossiped to per gossip interval. */
  gossipNodes: number;
  /** Keep gossiping to dead nodes this long (so they can refute). */
  gossipToTheDeadTime: number;
  /** Awareness (local health) score is clamped to [0, max-1]; it scales the probe interval. */
  awarenessMaxMultiplier: number;
  /** Deadline of one TCP exchange (push/pull, TCP ping). */
  tcpTimeout: number;
  /** Disable the TCP fallback ping. */
  disableTcpPings: boolean;
  /** A dead node may come back from a different address after this long (0 = never). */
  deadNodeReclaimTime: number;
  /**
   * ironlb addition (Serf's "reconnect", not in Go memberlist): every interval, push/pull with
   * the address of one random failed (not left) member, so a healed partition or a restarted
   * node re-merges without an explicit join. 0 disables.
   */
  reconnectInterval: number;
  /** How long a failed member's address is retried by the reconnect loop. */
  reconnectTimeout: number;
  /**
   * ironlb addition (0 = Go's behaviour): when a probe gets no ack but the member's TCP port
   * still accepts our connection, its host and listening socket are there and only the process
   * is slow (CPU contention, a GC pause). Such a member is not suspected until it has not acked
   * us for this long. A crashed process refuses the connection (RST) and a dead host does not
   * answer: both are suspected at once, as before. A hung process is suspected after this grace.
   */
  stallGrace: number;
}

/** memberlist DefaultLANConfig timing. */
export const LAN: Readonly<Timing> = Object.freeze({
  probeInterval: 1000,
  probeTimeout: 500,
  indirectChecks: 3,
  retransmitMult: 4,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  pushPullInterval: 30_000,
  gossipInterval: 200,
  gossipNodes: 3,
  gossipToTheDeadTime: 30_000,
  awarenessMaxMultiplier: 8,
  tcpTimeout: 10_000,
  disableTcpPings: false,
  deadNodeReclaimTime: 0,
  reconnectInterval: 30_000,
  reconnectTimeout: 3_600_000,
  stallGrace: 0,
});

/** memberlist DefaultLocalConfig timing. */
export const LOCAL: Readonly<Timing> = Object.freeze({
  ...LAN,
  probeInterval: 1000,
  probeTimeout: 200,
  indirectChecks: 1,
  retransmitMult: 2,
  suspicionMult: 3,
  pushPullInterval: 15_000,
  gossipInterval: 100,
  gossipToTheDeadTime: 15_000,
  tcpTimeout: 1000,
  reconnectInterval: 15_000,
});

/**
 * `fast`: sub-second failure detection on one L2 segment (the speaker's default).
 *
 * Formula (n members, no awareness penalty): detection ≈ W + P + S where
 * - W, the wait until some survivor probes the victim: each of the n−1 survivors probes the
 *   victim once per n−1 probe intervals (round-robin), so together about once per interval:
 *   W ≈ 0–100 ms, 50 ms on average;
 * - P, the failed probe: the verdict comes one probeInterval (100 ms) after the probe starts;
 * - S, the suspicion timeout: min = 3 × max(1, log10 n) × 100 ms = 300 ms for n ≤ 10 (390 ms
 *   at n = 20), max = 2 × min = 600 ms; with k = suspicionMult − 2 = 1 expected confirmation
 *   (n ≥ 3) a second survivor's independent failed probe cuts it to min.
 * Expected: n = 3 or 10 → ≈ 50 + 100 + 300..600 ≈ 450–750 ms; n = 2 (k = 0) → ≈ 450 ms.
 *
 * Trade-off: a healthy member is declared dead if it cannot answer a probe within 100 ms
 * (40 ms direct, then the indirect/TCP window) *and* refute the gossiped suspicion within 300–600 ms, i.e. if
 * its event loop or CPU stalls for ~0.5 s. On a busy 2-core host that can happen; awareness
 * (max 4×) slows a struggling prober's own probes, and suspicionMult 3 (not 2) keeps one
 * confirmation in the loop so one slow prober alone cannot kill a peer in 300 ms.
 * Every peer, Go included, must refute within the fastest peer's suspicion time, because
 * everyone accepts the first "dead" broadcast.
 */
export const FAST: Readonly<Timing> = Object.freeze({
  probeInterval: 100,
  // < probeInterval/2 so relays' nacks (sent probeTimeout after the indirect request, which
  // goes out probeTimeout after the probe starts) arrive before the verdict.
  probeTimeout: 40,
  indirectChecks: 3,
  // Go's ceil(log10(n+1)) is 1 below 10 members, so every broadcast goes out only `mult`
  // times, partly piggybacked to random peers. With 3, a refutation missed one of 5 members
  // a few % of the time within the 300 ms budget (seen in the in-memory outage test); 6 is
  // still a handful of tiny packets per membership change.
  retransmitMult: 6,
  suspicionMult: 3,
  suspicionMaxTimeoutMult: 2,
  pushPullInterval: 10_000,
  gossipInterval: 30,
  gossipNodes: 3,
  gossipToTheDeadTime: 5_000,
  awarenessMaxMultiplier: 4,
  tcpTimeout: 1000,
  disableTcpPings: false,
  deadNodeReclaimTime: 0,
  reconnectInterval: 2_000,
  reconnectTimeout: 3_600_000,
  stallGrace: 0,
});

/**
 * `rapid`: crash detection in ~150 ms (p50) / ~300 ms (p99) for a 3-member cluster, for
 * failover-sensitive services on a quiet L2 segment. The ironlb speaker's default (this package's
 * callers choose; see the README for the measured trade-off: simulator and real UDP with both
 * cores busy; it costs the speaker ~45 MB more RSS and ~1.3 % more CPU at rest than `fast`).
 *
 * Formula as for FAST: detection ≈ W + P + S with W ≈ 15 ms (two survivors probing every
 * 30 ms), P = 30 ms, S = min = 3 × 30 = 90 ms once the second survivor confirms (k = 1 for
 * n ≥ 3); an unconfirmed suspicion (one stalled prober) waits max = 3 × min = 270 ms, time for
 * a healthy member to refute. Gossip every 10 ms so suspicions, confirmations and refutations
 * travel within one probe interval.
 */
export const RAPID: Readonly<Timing> = Object.freeze({
  ...FAST,
  probeInterval: 30,
  // < probeInterval/2, for the same reason as FAST's.
  probeTimeout: 12,
  suspicionMult: 3,
  suspicionMaxTimeoutMult: 3,
  gossipInterval: 10,
  tcpTimeout: 500,
  // CPU contention stalls a healthy process for tens, sometimes hundreds of ms; at a 30 ms
  // probe interval that alone would fail probes. A member whose TCP port still takes our
  // connection is given this long before it is suspected (a crash is refused at once).
  stallGrace: 500,
});

/** Named presets. */
export const PRESETS = { lan: LAN, local: LOCAL, fast: FAST, rapid: RAPID } as const;

/** A preset name. */
export type PresetName = keyof typeof PRESETS;

/** memberlist suspicionTimeout: mult × max(1, log10(max(1, n))) × interval (ms, 3-digit precision as Go). */
export function suspicionMinTimeout(suspicionMult: number, n: number, probeInterval: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)));
  return (suspicionMult * Math.floor(nodeScale * 1000) * probeInterval) / 1000;
}

/** Lifeguard suspicion parameters for a cluster of n: min, max and expected confirmations k. */
export function suspicionParams(t: Pick<Timing, 'suspicionMult' | 'suspicionMaxTimeoutMult' | 'probeInterval'>, n: number): { min: number; max: number; k: number } {
  const min = suspicionMinTimeout(t.suspicionMult, n, t.probeInterval);
  const max = t.suspicionMaxTimeoutMult * min;
  let k = t.suspicionMult - 2;
  if (n - 2 < k) k = 0;
  return { min, max, k: Math.max(0, k) };
}

/**
 * Total suspicion timeout (from the start of suspicion) after `c` independent confirmations:
 * max − (ln(c+1)/ln(k+1))·(max − min), floored to ms, clamped to ≥ min; min when k < 1.
 */
export function suspicionTimeoutAfter(min: number, max: number, k: number, c: number): number {
  if (k < 1) return min;
  if (c <= 0) return max;
  const frac = Math.log(c + 1) / Math.log(k + 1);
  const raw = Math.floor(max - frac * (max - min));
  return Math.max(min, raw);
}

/** How many times one broadcast is sent: retransmitMult × ceil(log10(n+1)). */
export function retransmitLimit(retransmitMult: number, n: number): number {
  return retransmitMult * Math.ceil(Math.log10(n + 1));
}

/** Push/pull interval scaled above 32 members: × (ceil(log2 n − 5) + 1). */
export function pushPullScale(interval: number, n: number): number {
  if (n <= 32) return interval;
  return (Math.ceil(Math.log2(n) - Math.log2(32)) + 1) * interval;
}

/** Awareness score after a delta, clamped to [0, max−1]. */
export function applyAwareness(score: number, delta: number, max: number): number {
  return Math.min(Math.max(0, score + delta), Math.max(0, max - 1));
}

/** A duration scaled by awareness: d × (score + 1). */
export function scaleByAwareness(d: number, score: number): number {
  return d * (score + 1);
}

/**
 * Expected time (ms) to declare a hard-killed member dead with this timing in a cluster of n,
 * as derived in FAST's comment: half a probe round to reach the victim, one probe interval for
 * the failed probe, then the suspicion timeout (min if a confirmation is expected, else max).
 */
export function expectedDetectionMs(t: Timing, n: number): { typical: number; worst: number } {
  const { min, max, k } = suspicionParams(t, n);
  const wait = t.probeInterval / 2;
  const typical = wait + t.probeInterval + min;
  const worst = t.probeInterval + t.probeInterval + (k < 1 ? min : max);
  return { typical, worst };
}
