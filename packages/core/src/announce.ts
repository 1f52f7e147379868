/**
 * The whole layer2 decision for one Service, pure: pool of its IPs → advertisements → election.
 * Every speaker runs it with the same inputs and announces when it is the winner, on the winner's
 * interfaces; `kubectl ironlb explain` runs the same function and prints why (per node) nobody or
 * somebody announces. MetalLB's order (speaker/layer2_controller.go ShouldAnnounce): the
 * candidates are the live nodes, minus NetworkUnavailable and excluded ones, restricted to nodes an
 * advertisement of the IP's pool selects; with externalTrafficPolicy Local, to nodes with a
 * ready endpoint (serving ones when no eligible node has a ready one); the lowest hash of node
 * name and IP wins.
 */
import { advertisementFor, advertisementsForPool, poolForIP } from './advertise.js';
import type { Config } from './config.js';
import { type ElectionCandidate, type NoWinnerReason, electAnnouncer } from './election.js';
import type { Labels } from './selector.js';

/** One node as the decision sees it. */
export interface AnnounceNode {
  readonly name: string;
  readonly labels: Labels;
  /** Alive in memberlist (the speaker), or believed alive (a CLI reading Node conditions). */
  readonly alive: boolean;
  /** Node condition NetworkUnavailable=True. */
  readonly networkUnavailable: boolean;
  /** Labelled node.kubernetes.io/exclude-from-external-load-balancers. */
  readonly excludedByLabel: boolean;
}

/** One endpoint of the Service. */
export interface AnnounceEndpoint {
  readonly nodeName: string | undefined;
  /** Ready (ready unset or true): takes new connections. Defaults to `serving`. */
  readonly ready?: boolean;
  /** Ready, or terminating but still serving. */
  readonly serving: boolean;
}

/** Everything one decision looks at. */
export interface AnnounceInput {
  /** status.loadBalancer.ingress IPs, primary first. */
  readonly ips: readonly string[];
  readonly trafficPolicy: 'Cluster' | 'Local';
  readonly endpoints: readonly AnnounceEndpoint[];
  readonly nodes: readonly AnnounceNode[];
  readonly config: Config;
}

/** Why no node announces the Service. */
export type NoAnnounceReason =
  | NoWinnerReason
  /** An IP is in no pool in force (never announced: it may be someone else's). */
  | 'ipNotInPool'
  /** The IPs are in different pools (a hand-edited status). */
  | 'poolsDiffer'
  /** No L2Advertisement covers the pool: allocated, never announced (metallb#1154). */
  | 'noAdvertisement'
  /** Advertisements cover the pool but select none of the nodes. */
  | 'noSelectedNodes';

/** Why one node is not the announcer (or 'winner' / 'candidate'). */
export type NodeVerdict =
  | 'winner'
  /** Eligible, ranked after the winner. */
  | 'candidate'
  | 'notAlive'
  | 'networkUnavailable'
  | 'excludedByLabel'
  | 'notSelectedByAdvertisement'
  | 'noLocalEndpoint';

/** The outcome for one Service. */
export interface AnnounceDecision {
  /** The node that announces, or null. */
  readonly winner: string | null;
  /** Set when winner is null. */
  readonly reason?: NoAnnounceReason;
  /** One line for humans (logs, Events, the CLI). */
  readonly message: string;
  /** The pool of the IPs, when they are in one. */
  readonly pool?: string;
  /** Where the winner answers: interface names, or null for every eligible interface. */
  readonly interfaces: readonly string[] | null;
  /** Eligible nodes, best first (the winner first). */
  readonly ranking: readonly string[];
  /** Every node, with why it is or is not the announcer. */
  readonly nodes: readonly { readonly name: string; readonly verdict: NodeVerdict }[];
}

const MESSAGES: Record<NoAnnounceReason, string> = {
  noServiceIPs: 'the Service has no load-balancer IP yet',
  noServingEndpoints: 'no endpoint of the Service is ready or serving anywhere; announcing would black-hole traffic',
  noCandidates: 'no node is eligible (every node selected for the pool is dead, NetworkUnavailable or excluded by label)',
  noLocalEndpointCandidates: 'externalTrafficPolicy is Local and no eligible node runs a serving endpoint',
  ipNotInPool: 'an IP of the Service is in no address pool in force',
  poolsDiffer: 'the IPs of the Service are in different pools',
  noAdvertisement: 'no L2Advertisement covers the pool of its IPs, so they are allocated but never announced',
  noSelectedNodes: 'the L2Advertisements covering its pool select none of the nodes',
};

function none(reason: NoAnnounceReason, extra: Partial<Pick<AnnounceDecision, 'pool' | 'nodes' | 'message'>> = {}): AnnounceDecision {
  return { winner: null, reason, message: extra.message ?? MESSAGES[reason], interfaces: null, ranking: [], nodes: extra.nodes ?? [], ...(extra.pool !== undefined ? { pool: extra.pool } : {}) };
}

interface Selection {
  readonly selected: readonly AnnounceNode[];
  readonly unselected: readonly string[];
  readonly interfacesOf: ReadonlyMap<string, readonly string[] | null>;
}

/**
 * Which nodes the advertisements of `pool` select, once per (config, node list, pool): a resync
 * decides every Service with the same node list, so 1,000 Services of one pool on 100 nodes cost
 * 100 selector evaluations, not 100,000. Cached on the objects themselves (WeakMaps), never stale.
 */
const selections = new WeakMap<Config, WeakMap<readonly AnnounceNode[], Map<string, Selection>>>();

function selection(config: Config, pool: string, nodes: readonly AnnounceNode[]): Selection {
  let byNodes = selections.get(config);
  if (byNodes === undefined) selections.set(config, (byNodes = new WeakMap<readonly AnnounceNode[], Map<string, Selection>>()));
  let byPool = byNodes.get(nodes);
  if (byPool === undefined) byNodes.set(nodes, (byPool = new Map<string, Selection>()));
  const have = byPool.get(pool);
  if (have !== undefined) return have;
  const selected: AnnounceNode[] = [];
  const unselected: string[] = [];
  const interfacesOf = new Map<string, readonly string[] | null>();
  for (const n of nodes) {
    const v = advertisementFor(config, pool, n);
    if (!v.announce) unselected.push(n.name);
    else {
      interfacesOf.set(n.name, v.interfaces);
      selected.push(n);
    }
  }
  const s = { selected, unselected, interfacesOf };
  byPool.set(pool, s);
  return s;
}

/**
 * Decides who announces one Service's IPs (pure; same inputs ⇒ same answer on every speaker).
 * Pass the same `nodes` array for every Service of one resync (and do not mutate it afterwards):
 * per-pool node selection is cached on it.
 */
export function decideAnnouncement(input: AnnounceInput): AnnounceDecision {
  if (input.ips.length === 0) return none('noServiceIPs');
  const pools = input.ips.map((ip) => poolForIP(input.config, ip));
  const outside = input.ips.filter((_ip, i) => pools[i] === undefined);
  if (outside.length > 0) return none('ipNotInPool', { message: `${outside.join(', ')} ${outside.length > 1 ? 'are' : 'is'} in no address pool in force` });
  const pool = pools[0] as string;
  if (pools.some((p) => p !== pool)) return none('poolsDiffer', { message: `the IPs are in different pools (${[...new Set(pools)].join(', ')})` });
  if (input.config.l2Advertisements !== undefined && advertisementsForPool(input.config, pool).length === 0) {
    return none('noAdvertisement', { pool, message: `no L2Advertisement covers pool "${pool}", so its IPs are allocated but never announced` });
  }

  const sel = selection(input.config, pool, input.nodes);
  const verdicts = new Map<string, NodeVerdict>(sel.unselected.map((n) => [n, 'notSelectedByAdvertisement'] as const));
  const interfacesOf = sel.interfacesOf;
  const selected = sel.selected;
  const nodeList = (): { name: string; verdict: NodeVerdict }[] => input.nodes.map((n) => ({ name: n.name, verdict: verdicts.get(n.name) ?? 'candidate' }));
  if (selected.length === 0) return none('noSelectedNodes', { pool, message: `the L2Advertisements covering pool "${pool}" select none of the nodes`, nodes: nodeList() });

  // As kube-proxy (and the speaker's plan): ready endpoints first; terminating-but-serving ones
  // only when no eligible node has a ready one, so a drained node hands its IP over at once.
  const isReady = (e: AnnounceEndpoint): boolean => e.ready ?? e.serving;
  const elect = (pick: (e: AnnounceEndpoint) => boolean): { r: ReturnType<typeof electAnnouncer>; on: Set<string | undefined> } => {
    const on = new Set(input.endpoints.filter((e) => pick(e) && e.nodeName !== undefined).map((e) => e.nodeName));
    const candidates: ElectionCandidate[] = selected.map((n) => ({
      name: n.name,
      alive: n.alive,
      networkUnavailable: n.networkUnavailable,
      excludedByLabel: n.excludedByLabel,
      hasServingEndpoint: on.has(n.name),
    }));
    return { r: electAnnouncer({ serviceIPs: input.ips, candidates, trafficPolicy: input.trafficPolicy, anyServingEndpoint: input.endpoints.some(pick) }), on };
  };
  let { r, on } = elect(isReady);
  if (r.winner === null && (r.reason === 'noServingEndpoints' || r.reason === 'noLocalEndpointCandidates')) ({ r, on } = elect((e) => e.serving));
  for (const n of selected) {
    if (!n.alive) verdicts.set(n.name, 'notAlive');
    else if (n.networkUnavailable) verdicts.set(n.name, 'networkUnavailable');
    else if (n.excludedByLabel) verdicts.set(n.name, 'excludedByLabel');
    else if (input.trafficPolicy === 'Local' && !on.has(n.name)) verdicts.set(n.name, 'noLocalEndpoint');
  }
  if (r.winner === null) return none(r.reason, { pool, nodes: nodeList() });
  verdicts.set(r.winner, 'winner');
  return {
    winner: r.winner,
    message: `announced from node "${r.winner}"`,
    pool,
    interfaces: interfacesOf.get(r.winner) ?? null,
    ranking: r.ranking,
    nodes: nodeList(),
  };
}
