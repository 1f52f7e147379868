/**
 * Layer2 announcing-node election (MetalLB `ShouldAnnounce`): stateless, so every speaker
 * computes the same ordering from the same inputs and announces only if it comes first.
 * Hashing the service IP rather than the service name makes services that share an IP elect
 * the same node (MetalLB v0.11, issues #315/#558).
 */
import { createHash } from 'node:crypto';
import { formatIP, parseIP } from './ip.js';

/** A node that might announce, with the facts the speaker knows about it. */
export interface ElectionCandidate {
  readonly name: string;
  /** Alive in memberlist (or, memberlist disabled, present as a Node). */
  readonly alive: boolean;
  /** Node condition NetworkUnavailable=True. */
  readonly networkUnavailable: boolean;
  /** Labelled node.kubernetes.io/exclude-from-external-load-balancers. */
  readonly excludedByLabel: boolean;
  /** Hosts at least one serving endpoint of this service. */
  readonly hasServingEndpoint: boolean;
}

/** Everything the election looks at for one service. */
export interface ElectionInput {
  /** The service's load-balancer IPs; the first one is hashed. */
  readonly serviceIPs: readonly string[];
  readonly candidates: readonly ElectionCandidate[];
  readonly trafficPolicy: 'Cluster' | 'Local';
  /** Any endpoint of the service, on any node, is serving (ready unset/true, or serving). */
  readonly anyServingEndpoint: boolean;
}

/** Why nobody announces a service. */
export type NoWinnerReason =
  /** The service has no load-balancer IP yet. */
  | 'noServiceIPs'
  /** No serving endpoint anywhere: announcing would black-hole traffic. */
  | 'noServingEndpoints'
  /** Every candidate is dead, network-unavailable or excluded by label (or there are none). */
  | 'noCandidates'
  /** Local policy and no eligible candidate hosts a serving endpoint. */
  | 'noLocalEndpointCandidates';

/** The election verdict: the winner and the full order (for logs), or why there is none. */
export type ElectionResult = { readonly winner: string; readonly ranking: readonly string[] } | { readonly winner: null; readonly reason: NoWinnerReason };

/**
 * SHA-256 of `nodeName + "#" + ip`, the per-node sort key. The IP text is canonicalised when
 * it parses, so "2001:DB8::1" and "2001:db8::1" elect the same node on every speaker.
 */
export function electionHash(nodeName: string, ip: string): Buffer {
  const key = `${nodeName}#${ip}`;
  let h = hashes.get(key);
  if (h === undefined) {
    h = createHash('sha256')
      .update(`${nodeName}#${canonical(ip)}`)
      .digest();
    remember(hashes, key, h);
  }
  return h;
}

/*
 * The hash of a (node, IP) pair never changes, and a speaker re-runs every election on each
 * event: with 1000 Services that was 3000 IP parses and SHA-256s per event (~100 ms). Bounded
 * memo tables keep a steady state's elections to map lookups; the result is the same either way.
 */
const MEMO_MAX = 65_536;
const hashes = new Map<string, Buffer>();
const canonicalText = new Map<string, string>();

function canonical(ip: string): string {
  let t = canonicalText.get(ip);
  if (t === undefined) {
    const parsed = parseIP(ip);
    t = parsed === null ? ip : formatIP(parsed);
    remember(canonicalText, ip, t);
  }
  return t;
}

function remember<V>(m: Map<string, V>, k: string, v: V): void {
  if (m.size >= MEMO_MAX) m.clear();
  m.set(k, v);
}

/** Chooses the node that announces a service's IPs (pure; same inputs ⇒ same answer everywhere). */
export function electAnnouncer(input: ElectionInput): ElectionResult {
  const ip = input.serviceIPs[0];
  if (ip === undefined) return { winner: null, reason: 'noServiceIPs' };
  if (!input.anyServingEndpoint) return { winner: null, reason: 'noServingEndpoints' };
  const eligible = input.candidates.filter((c) => c.alive && !c.networkUnavailable && !c.excludedByLabel);
  if (eligible.length === 0) return { winner: null, reason: 'noCandidates' };
  const pool = input.trafficPolicy === 'Local' ? eligible.filter((c) => c.hasServingEndpoint) : eligible;
  if (pool.length === 0) return { winner: null, reason: 'noLocalEndpointCandidates' };
  const names = [...new Set(pool.map((c) => c.name))];
  const keyed = names.map((name) => ({ name, hash: electionHash(name, ip) }));
  keyed.sort((a, b) => Buffer.compare(a.hash, b.hash));
  const ranking = keyed.map((k) => k.name);
  return { winner: ranking[0] ?? '', ranking };
}
