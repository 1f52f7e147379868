/**
 * Who may announce what, pure: which pool an IP belongs to, and whether a node may announce a
 * pool's IPs and from which interfaces, with MetalLB's L2Advertisement semantics:
 *  - an advertisement covers the pools it lists by name or selects by label (neither: every pool);
 *  - a node may announce a pool when at least one advertisement covering the pool selects the node
 *    (no nodeSelectors: every node);
 *  - the interfaces are the union over those advertisements; one that lists none means all;
 *  - a pool no advertisement covers is allocated but never announced (metallb#1154).
 * Lookups go through an index built once per Config object (cached on it, never mutating it), so
 * the speaker can ask per IP and per node on every resync without rebuilding anything.
 */
import { advertisementCoversPool } from './crd.js';
import type { Config, L2Advertisement, Pool } from './config.js';
import { parseIP, type Family } from './ip.js';
import { type Labels, matchesAny } from './selector.js';

/** The node facts advertisements look at. */
export interface NodeInfo {
  readonly name: string;
  readonly labels: Labels;
}

/** Why a node may not announce a pool's IPs. */
export type NotAdvertisedReason =
  /** No pool of that name is in force. */
  | 'unknownPool'
  /** No advertisement covers the pool at all (its IPs are never announced by anyone). */
  | 'noAdvertisement'
  /** Advertisements cover the pool, but none selects this node. */
  | 'nodeNotSelected';

/** The answer for (pool, node). */
export type AdvertisementVerdict =
  | {
      readonly announce: true;
      /** Interfaces to answer on; null means every eligible interface. */
      readonly interfaces: readonly string[] | null;
      /** Names of the advertisements that select this node for the pool. */
      readonly advertisements: readonly string[];
    }
  | {
      readonly announce: false;
      readonly reason: NotAdvertisedReason;
      /** Names of the advertisements covering the pool (none of which selects the node). */
      readonly advertisements: readonly string[];
    };

interface Range {
  readonly first: bigint;
  readonly last: bigint;
  readonly pool: string;
}

/** Lookup tables of one Config. */
class Index {
  readonly pools = new Map<string, Pool>();
  readonly adsByPool = new Map<string, readonly L2Advertisement[]>();
  readonly ranges: Record<Family, Range[]> = { ipv4: [], ipv6: [] };
  /** Hand-made configs may overlap: then search linearly (first pool in config order wins). */
  readonly disjoint: boolean;

  constructor(readonly config: Config) {
    for (const p of config.pools) {
      if (!this.pools.has(p.name)) this.pools.set(p.name, p);
      for (const r of p.addresses) this.ranges[r.family].push({ first: r.first, last: r.last, pool: p.name });
    }
    let disjoint = true;
    for (const list of Object.values(this.ranges)) {
      list.sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
      for (let i = 1; i < list.length; i++) if ((list[i] as Range).first <= (list[i - 1] as Range).last) disjoint = false;
    }
    this.disjoint = disjoint;
    const ads = config.l2Advertisements;
    for (const p of this.pools.values()) {
      this.adsByPool.set(p.name, ads === undefined ? [] : ads.filter((a) => advertisementCoversPool(a, p)));
    }
  }

  poolOf(family: Family, value: bigint): string | undefined {
    if (!this.disjoint) {
      for (const p of this.config.pools) for (const r of p.addresses) if (r.family === family && value >= r.first && value <= r.last) return p.name;
      return undefined;
    }
    const list = this.ranges[family];
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = list[mid] as Range;
      if (value < r.first) hi = mid - 1;
      else if (value > r.last) lo = mid + 1;
      else return r.pool;
    }
    return undefined;
  }
}

const indexes = new WeakMap<Config, Index>();

function indexOf(config: Config): Index {
  let ix = indexes.get(config);
  if (ix === undefined) indexes.set(config, (ix = new Index(config)));
  return ix;
}

/**
 * The pool an IP belongs to, or undefined (not an IP, or in no pool). A light replacement for
 * building an Allocator just to ask `poolOf`: a binary search over the config's ranges.
 */
export function poolForIP(config: Config, ip: string): string | undefined {
  const parsed = parseIP(ip.trim());
  return parsed === null ? undefined : indexOf(config).poolOf(parsed.family, parsed.value);
}

/** The pool of that name in force, if any. */
export function poolByName(config: Config, name: string): Pool | undefined {
  return indexOf(config).pools.get(name);
}

/** The advertisements that cover a pool ([] for an unknown pool, or none covering it). */
export function advertisementsForPool(config: Config, pool: string): readonly L2Advertisement[] {
  return indexOf(config).adsByPool.get(pool) ?? [];
}

/**
 * Whether `node` may announce IPs of `pool`, and on which interfaces (null: all). A Config without
 * `l2Advertisements` (built by hand, before advertisements existed) lets every node announce every
 * pool on every interface, as the legacy ConfigMap always did.
 */
export function advertisementFor(config: Config, pool: string, node: NodeInfo): AdvertisementVerdict {
  const ix = indexOf(config);
  if (!ix.pools.has(pool)) return { announce: false, reason: 'unknownPool', advertisements: [] };
  if (config.l2Advertisements === undefined) return { announce: true, interfaces: null, advertisements: [] };
  const covering = ix.adsByPool.get(pool) ?? [];
  if (covering.length === 0) return { announce: false, reason: 'noAdvertisement', advertisements: [] };
  const selecting = covering.filter((a) => matchesAny(a.nodeSelectors, node.labels));
  if (selecting.length === 0) return { announce: false, reason: 'nodeNotSelected', advertisements: covering.map((a) => a.name) };
  let all = false;
  const set = new Set<string>();
  for (const a of selecting) {
    if (a.interfaces.length === 0) all = true;
    for (const i of a.interfaces) set.add(i);
  }
  return { announce: true, interfaces: all ? null : [...set].sort(), advertisements: selecting.map((a) => a.name) };
}

/** Names of the nodes an advertisement selects, sorted (for its status). */
export function nodesSelectedBy(ad: L2Advertisement, nodes: readonly NodeInfo[]): string[] {
  return nodes
    .filter((n) => matchesAny(ad.nodeSelectors, n.labels))
    .map((n) => n.name)
    .sort();
}

/**
 * Pools whose IPs no node may announce now: no advertisement covers them, or the covering ones
 * select none of `nodes`. What the controller warns about on Services (metallb#1154).
 */
export function unannouncedPools(config: Config, nodes: readonly NodeInfo[]): Map<string, 'noAdvertisement' | 'noSelectedNodes'> {
  const out = new Map<string, 'noAdvertisement' | 'noSelectedNodes'>();
  if (config.l2Advertisements === undefined) return out;
  const ix = indexOf(config);
  for (const p of config.pools) {
    const ads = ix.adsByPool.get(p.name) ?? [];
    if (ads.length === 0) out.set(p.name, 'noAdvertisement');
    else if (!nodes.some((n) => ads.some((a) => matchesAny(a.nodeSelectors, n.labels)))) out.set(p.name, 'noSelectedNodes');
  }
  return out;
}
