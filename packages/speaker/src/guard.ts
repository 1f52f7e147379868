/**
 * The split-brain and address-conflict guard, pure. Gossip decides who announces, but gossip can
 * be cut while layer 2 still works (a firewall on 7946, a partition): then two speakers each
 * believe the other dead and both answer. The wire tells the truth, so speakers watch it:
 *
 *  - a claim (ARP reply, gratuitous ARP, neighbor advertisement) for an IP we announce, from a
 *    MAC a peer speaker advertised, means two of us answer. Both sides apply one rule, the
 *    election order of the two nodes for the service's IP (the order every speaker would use if
 *    it saw both alive): the higher-ranked one re-asserts at once, the other yields and keeps
 *    yielding while it sees the winner answer, checked by probing;
 *  - a claim from any other MAC is an address conflict with a foreign host: re-assert (RFC 5227
 *    §2.4 defence, rate-limited by layer2) and tell the user.
 *
 * Time is injected: the yield leases are a small state machine tested without sleeping.
 */
import { electionHash } from '@ironlb/core';

/** A claim seen on the wire for an IP. */
export interface Claim {
  readonly ip: string;
  readonly mac: string;
}

/** What the speaker knows when a claim arrives. */
export interface ClaimContext {
  readonly self: string;
  /** This node's own MACs (a claim from one is our own frame). */
  readonly selfMacs: ReadonlySet<string>;
  /** The peer speaker that advertised this MAC, if any. */
  readonly peerOfMac: (mac: string) => string | undefined;
  /** The IP the election hashes for the service owning `ip` (its first ingress IP), or undefined if we do not announce `ip`. */
  readonly electionIpOf: (ip: string) => string | undefined;
}

/** What to do about one claim. */
export type ClaimVerdict =
  /** Our own frame, or an IP we do not announce. */
  | { readonly kind: 'ignore'; readonly reason: 'ownMac' | 'notAnnounced' }
  /** A peer answers too, but we rank first: re-assert now so clients (and the peer) see us. */
  | { readonly kind: 'reassert'; readonly peer: string }
  /** A peer that ranks first answers: stop answering and let it have the IP. */
  | { readonly kind: 'yield'; readonly peer: string }
  /** A host that is not a speaker claims our IP: defend it and raise a Warning. */
  | { readonly kind: 'conflict' };

/** True when node `a` ranks before node `b` in the election for `electionIp`. */
export function outranks(a: string, b: string, electionIp: string): boolean {
  const c = Buffer.compare(electionHash(a, electionIp), electionHash(b, electionIp));
  return c < 0 || (c === 0 && a < b);
}

/** Decides one claim (pure). */
export function decideClaim(claim: Claim, ctx: ClaimContext): ClaimVerdict {
  const mac = claim.mac.toLowerCase();
  if (ctx.selfMacs.has(mac)) return { kind: 'ignore', reason: 'ownMac' };
  const electionIp = ctx.electionIpOf(claim.ip);
  if (electionIp === undefined) return { kind: 'ignore', reason: 'notAnnounced' };
  const peer = ctx.peerOfMac(mac);
  if (peer === undefined || peer === ctx.self) return { kind: 'conflict' };
  return outranks(ctx.self, peer, electionIp) ? { kind: 'reassert', peer } : { kind: 'yield', peer };
}

/**
 * IPs this node yields to a higher-ranked peer that was seen answering. A lease lasts `leaseMs`
 * from the last evidence (a claim or a probe answer from that peer); when it runs out the peer
 * is presumed gone and the normal election applies again.
 */
export class YieldTable {
  readonly #leaseMs: number;
  readonly #now: () => number;
  readonly #leases = new Map<string, { peer: string; until: number }>();

  /** `leaseMs`: how long one piece of evidence keeps an IP yielded; `now`: the clock. */
  constructor(leaseMs: number, now: () => number) {
    this.#leaseMs = leaseMs;
    this.#now = now;
  }

  /** Records evidence that `peer` answers for `ip`; true if the IP was not yielded before. */
  yieldTo(ip: string, peer: string): boolean {
    const fresh = !this.isYielded(ip);
    this.#leases.set(ip, { peer, until: this.#now() + this.#leaseMs });
    return fresh;
  }

  /** Renews the lease if `peer` is the one we yield `ip` to (a probe saw it answer). */
  renew(ip: string, peer: string): void {
    const l = this.#leases.get(ip);
    if (l !== undefined && l.peer === peer) l.until = this.#now() + this.#leaseMs;
  }

  /** Whether `ip` is yielded now. */
  isYielded(ip: string): boolean {
    const l = this.#leases.get(ip);
    return l !== undefined && l.until > this.#now();
  }

  /** The peer `ip` is yielded to, if the lease is live. */
  peerOf(ip: string): string | undefined {
    const l = this.#leases.get(ip);
    return l !== undefined && l.until > this.#now() ? l.peer : undefined;
  }

  /** Live leases, as ip → peer. */
  live(): Map<string, string> {
    const now = this.#now();
    const out = new Map<string, string>();
    for (const [ip, l] of this.#leases) if (l.until > now) out.set(ip, l.peer);
    return out;
  }

  /** Removes and returns the IPs whose lease ran out (the caller re-runs the election). */
  takeExpired(): string[] {
    const now = this.#now();
    const out: string[] = [];
    for (const [ip, l] of this.#leases) {
      if (l.until <= now) {
        this.#leases.delete(ip);
        out.push(ip);
      }
    }
    return out;
  }

  /** Drops the lease of `ip` (the IP left this node's plan, or the peer left the cluster). */
  clear(ip: string): void {
    this.#leases.delete(ip);
  }

  /** Time of the earliest expiry, or undefined when nothing is yielded (to arm one timer). */
  nextExpiry(): number | undefined {
    let next: number | undefined;
    for (const l of this.#leases.values()) if (next === undefined || l.until < next) next = l.until;
    return next;
  }
}
