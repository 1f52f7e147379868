/**
 * What the status of each IPAddressPool and L2Advertisement should say, pure: usage counts per
 * family from the allocator, the nodes an advertisement selects, and conditions that say when an
 * object is invalid or not in force, and when a pool's IPs cannot be announced. A condition keeps
 * its lastTransitionTime while its status stays the same, so an unchanged object yields an equal
 * value and the CoalescingWriter writes nothing.
 */
import { type BuildResult, type Config, type NodeInfo, type PoolStats, advertisementsForPool, nodesSelectedBy } from '@ironlb/core';
import type { Condition, IPAddressPoolStatus, L2AdvertisementStatus } from '@ironlb/k8s';

/** Longest condition message written (the CRD allows 32 KiB; a screenful is enough). */
const MAX_MESSAGE = 2000;
/** How many node names an advertisement's status lists (the count is always exact). */
export const MAX_LISTED_NODES = 100;

/** Sets `type` in `previous` (keeping its lastTransitionTime when the status is unchanged). */
export function condition(previous: readonly Condition[] | undefined, c: Omit<Condition, 'lastTransitionTime'>, now: Date): Condition {
  const old = previous?.find((p) => p.type === c.type);
  const message = c.message.length > MAX_MESSAGE ? `${c.message.slice(0, MAX_MESSAGE - 1)}…` : c.message;
  return { ...c, message, lastTransitionTime: old !== undefined && old.status === c.status ? old.lastTransitionTime : now.toISOString() };
}

/** Everything a pool's status is computed from. */
export interface PoolStatusInput {
  name: string;
  generation: number | undefined;
  build: BuildResult | undefined;
  /** The config in force. */
  config: Config | undefined;
  stats: PoolStats | undefined;
  /** Why the pool's IPs cannot be announced, when they cannot. */
  unannounced: 'noAdvertisement' | 'noSelectedNodes' | undefined;
  /** The pools whose change the mass-release guard refused, and its message. */
  refused: { pools: ReadonlySet<string>; message: string } | undefined;
  /** The conditions last written (for lastTransitionTime). */
  previous: readonly Condition[] | undefined;
  now: Date;
}

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);
function count(n: bigint | number): number {
  const b = typeof n === 'number' ? BigInt(n) : n;
  return Number(b > SAFE ? SAFE : b < 0n ? 0n : b);
}

/** The status of one IPAddressPool. */
export function poolStatus(i: PoolStatusInput): IPAddressPoolStatus {
  const inForce = i.config?.pools.find((p) => p.name === i.name && p.source === 'crd');
  const problem = i.build?.problems.find((p) => p.kind === 'IPAddressPool' && p.name === i.name);
  const gen = i.generation !== undefined ? { observedGeneration: i.generation } : {};
  const conditions: Condition[] = [];
  if (i.refused?.pools.has(i.name) === true) {
    conditions.push(condition(i.previous, { type: 'Valid', status: 'False', reason: 'ReleaseRefused', message: i.refused.message, ...gen }, i.now));
  } else if (problem !== undefined) {
    const kept = problem.keptPrevious ? ' The previous version stays in force.' : ' The pool is not in force.';
    conditions.push(condition(i.previous, { type: 'Valid', status: 'False', reason: 'Invalid', message: problem.errors.join('; ') + kept, ...gen }, i.now));
  } else if (inForce !== undefined) {
    conditions.push(condition(i.previous, { type: 'Valid', status: 'True', reason: 'InForce', message: 'the pool is in force', ...gen }, i.now));
  } else {
    conditions.push(condition(i.previous, { type: 'Valid', status: 'Unknown', reason: 'Pending', message: 'not evaluated yet', ...gen }, i.now));
  }
  if (inForce !== undefined) {
    const ads = i.config === undefined ? [] : advertisementsForPool(i.config, i.name).map((a) => a.name);
    if (i.unannounced === 'noAdvertisement') {
      conditions.push(
        condition(
          i.previous,
          { type: 'Advertised', status: 'False', reason: 'NoAdvertisement', message: 'no L2Advertisement covers this pool: its IPs are allocated but never announced', ...gen },
          i.now,
        ),
      );
    } else if (i.unannounced === 'noSelectedNodes') {
      conditions.push(
        condition(
          i.previous,
          { type: 'Advertised', status: 'False', reason: 'NoSelectedNodes', message: 'the L2Advertisements covering this pool select no node: its IPs are not announced', ...gen },
          i.now,
        ),
      );
    } else {
      conditions.push(
        condition(
          i.previous,
          {
            type: 'Advertised',
            status: 'True',
            reason: 'Advertised',
            message:
              ads.length > 0
                ? `announced on the nodes and interfaces that L2Advertisement(s) ${ads.slice(0, 10).join(', ')}${ads.length > 10 ? ` and ${ads.length - 10} more` : ''} select`
                : 'announced on every node and interface (a ConfigMap pool)',
            ...gen,
          },
          i.now,
        ),
      );
    }
  }
  const s = inForce !== undefined ? i.stats : undefined;
  return {
    assignedIPv4: s?.inUseV4 ?? 0,
    assignedIPv6: s?.inUseV6 ?? 0,
    availableIPv4: s === undefined ? 0 : count(s.totalV4 - BigInt(s.inUseV4)),
    availableIPv6: s === undefined ? 0 : count(s.totalV6 - BigInt(s.inUseV6)),
    conditions,
  };
}

/** Everything an advertisement's status is computed from. */
export interface AdvertisementStatusInput {
  name: string;
  generation: number | undefined;
  build: BuildResult | undefined;
  config: Config | undefined;
  nodes: readonly NodeInfo[] | undefined;
  previous: readonly Condition[] | undefined;
  now: Date;
}

/** The status of one L2Advertisement. */
export function advertisementStatus(i: AdvertisementStatusInput): L2AdvertisementStatus {
  const gen = i.generation !== undefined ? { observedGeneration: i.generation } : {};
  const problem = i.build?.problems.find((p) => p.kind === 'L2Advertisement' && p.name === i.name);
  const inForce = i.config?.l2Advertisements?.find((a) => a.source === 'crd' && a.name === i.name);
  const conditions: Condition[] = [];
  if (problem !== undefined) {
    const kept = problem.keptPrevious ? ' The previous version stays in force.' : ' The advertisement is not in force.';
    conditions.push(condition(i.previous, { type: 'Valid', status: 'False', reason: 'Invalid', message: problem.errors.join('; ') + kept, ...gen }, i.now));
  } else if (inForce !== undefined) {
    const warn = i.build?.objectWarnings.filter((w) => w.kind === 'L2Advertisement' && w.name === i.name).map((w) => w.message) ?? [];
    conditions.push(condition(i.previous, { type: 'Valid', status: 'True', reason: 'InForce', message: warn.length > 0 ? `in force; ${warn.join('; ')}` : 'in force', ...gen }, i.now));
  } else {
    conditions.push(condition(i.previous, { type: 'Valid', status: 'Unknown', reason: 'Pending', message: 'not evaluated yet', ...gen }, i.now));
  }
  if (inForce === undefined || i.nodes === undefined) return { conditions };
  const selected = nodesSelectedBy(inForce, i.nodes);
  return { selectedNodes: selected.slice(0, MAX_LISTED_NODES), selectedNodeCount: selected.length, conditions };
}
