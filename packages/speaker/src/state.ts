/**
 * The speaker's decision, pure: from a snapshot of Services, EndpointSlices, Nodes, live
 * memberlist members and the config in force, which Service IPs this node announces and on
 * which interfaces. Every speaker computes the same answer from the same inputs (core's
 * decideAnnouncement: pool → L2Advertisements → election), so exactly one node announces each
 * IP while their views agree; `kubectl ironlb explain` runs the same function.
 */
import type { V1Node, V1Service } from '@kubernetes/client-node';
import type { V1EndpointSlice } from '@kubernetes/client-node';
import { type AnnounceDecision, type AnnounceNode, type Config, decideAnnouncement } from '@ironlb/core';
import { ingressIPs, isHandled, serviceKey } from '@ironlb/k8s';

/** The label that takes a node out of external load balancing (honoured as MetalLB does). */
export const EXCLUDE_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';

/** What the speaker needs of a Service. */
export interface ServiceView {
  key: string;
  ips: string[];
  trafficPolicy: 'Cluster' | 'Local';
}

/** What the speaker needs of an endpoint. */
export interface EndpointView {
  nodeName: string | undefined;
  /** Ready: takes new connections (kube-proxy's first choice). */
  ready: boolean;
  /** Serving: ready, or terminating but still serving (kube-proxy's fallback when none is ready). */
  serving: boolean;
}

/** What the speaker needs of a Node. */
export interface NodeView {
  name: string;
  labels: Readonly<Record<string, string>>;
  networkUnavailable: boolean;
  excluded: boolean;
}

/** Everything one decision looks at. */
export interface Snapshot {
  self: string;
  services: readonly ServiceView[];
  /** Endpoints by service key "ns/name". */
  endpoints: ReadonlyMap<string, readonly EndpointView[]>;
  nodes: readonly NodeView[];
  /** Names memberlist reports alive or suspect (MetalLB's "usable speakers"). */
  alive: ReadonlySet<string>;
  /** The config in force (pools and advertisements); IPs outside every pool are never announced. */
  config: Config;
}

/** The outcome for one Service. */
export interface Decision {
  key: string;
  ips: string[];
  winner: string | null;
  /** Why nobody announces, when winner is null. */
  reason?: string;
  /** The full decision (per-node verdicts, interfaces), for logs and the CLI. */
  detail: AnnounceDecision;
}

/** What this node announces for one IP. */
export interface Holding {
  /** Services (keys) holding the IP. */
  owners: string[];
  /** Interfaces to answer on (null: every eligible one). */
  interfaces: readonly string[] | null;
}

/** All decisions, and the IPs this node must announce. */
export interface Plan {
  decisions: Decision[];
  announce: Map<string, Holding>;
}

/** Decides every Service. */
export function plan(s: Snapshot): Plan {
  const decisions: Decision[] = [];
  const announce = new Map<string, Holding>();
  // One array for the whole pass: decideAnnouncement caches per-pool node selections on it.
  const nodes: AnnounceNode[] = s.nodes.map((n) => ({ name: n.name, labels: n.labels, alive: s.alive.has(n.name), networkUnavailable: n.networkUnavailable, excludedByLabel: n.excluded }));
  for (const svc of s.services) {
    if (svc.ips.length === 0) continue;
    const d = decideAnnouncement({ ips: svc.ips, trafficPolicy: svc.trafficPolicy, endpoints: s.endpoints.get(svc.key) ?? [], nodes, config: s.config });
    decisions.push(
      d.winner === null
        ? { key: svc.key, ips: svc.ips, winner: null, reason: d.reason === 'ipNotInPool' ? `ipNotInPool: ${d.message}` : (d.reason ?? 'none'), detail: d }
        : { key: svc.key, ips: svc.ips, winner: d.winner, detail: d },
    );
    if (d.winner !== s.self) continue;
    for (const ip of svc.ips) {
      const h = announce.get(ip);
      if (h === undefined) announce.set(ip, { owners: [svc.key], interfaces: d.interfaces });
      else {
        h.owners.push(svc.key);
        // Services sharing an IP share a pool, hence its advertisements: the same interfaces.
      }
    }
  }
  return { decisions, announce };
}

/** A Service as the speaker sees it, or undefined if the speaker does not handle it. */
export function serviceView(svc: V1Service, lbClass: string | undefined): ServiceView | undefined {
  if (!isHandled(svc, lbClass)) return undefined;
  return { key: serviceKey(svc), ips: ingressIPs(svc), trafficPolicy: svc.spec?.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster' };
}

/** Service key of an EndpointSlice (label kubernetes.io/service-name), or undefined. */
export function sliceServiceKey(slice: V1EndpointSlice): string | undefined {
  const name = slice.metadata?.labels?.['kubernetes.io/service-name'];
  return name === undefined ? undefined : `${slice.metadata?.namespace ?? ''}/${name}`;
}

/**
 * Endpoints of a slice. Ready when `ready` is unset or true (the API's meaning); serving when
 * ready or `serving` is true (a terminating Pod that still serves).
 */
export function endpointViews(slice: V1EndpointSlice): EndpointView[] {
  return (slice.endpoints ?? []).map((e) => {
    const c = e.conditions ?? {};
    const ready = c.ready === undefined || c.ready === null || c.ready === true;
    return { nodeName: e.nodeName ?? undefined, ready, serving: ready || c.serving === true };
  });
}

/** A Node as the election sees it. */
export function nodeView(node: V1Node): NodeView {
  return {
    name: node.metadata?.name ?? '',
    labels: node.metadata?.labels ?? {},
    networkUnavailable: (node.status?.conditions ?? []).some((c) => c.type === 'NetworkUnavailable' && c.status === 'True'),
    excluded: Object.prototype.hasOwnProperty.call(node.metadata?.labels ?? {}, EXCLUDE_LABEL),
  };
}

/*
 * Slimming transforms for the speaker's informers: every speaker caches every Service,
 * EndpointSlice and Node of the cluster, and the API objects carry much it never reads
 * (managedFields, a Node's image list, Service ports and cluster IPs, endpoint addresses). Only the
 * fields the functions above read are kept, plus what the informer keys and diffs on.
 */

/** The metadata every cached object keeps (name, namespace, resourceVersion) plus `extra`. */
function slimMeta(m: V1Service['metadata'], extra: { uid?: boolean; labels?: boolean } = {}): V1Service['metadata'] {
  if (m === undefined) return m;
  const out: NonNullable<V1Service['metadata']> = {};
  if (m.name !== undefined) out.name = m.name;
  if (m.namespace !== undefined) out.namespace = m.namespace;
  if (m.resourceVersion !== undefined) out.resourceVersion = m.resourceVersion;
  if (extra.uid === true && m.uid !== undefined) out.uid = m.uid;
  if (extra.labels === true && m.labels !== undefined) out.labels = m.labels;
  return out;
}

/** A Service as the speaker keeps it: type, class, traffic policy, ingress IPs, uid (Events, owner refs). */
export function slimService(s: V1Service): V1Service {
  return {
    metadata: slimMeta(s.metadata, { uid: true }),
    spec: { type: s.spec?.type, loadBalancerClass: s.spec?.loadBalancerClass, externalTrafficPolicy: s.spec?.externalTrafficPolicy },
    status: { loadBalancer: { ingress: (s.status?.loadBalancer?.ingress ?? []).map((i) => ({ ip: i.ip })) } },
  } as V1Service;
}

/** An EndpointSlice as the speaker keeps it: its Service label, and each endpoint's node and conditions. */
export function slimEndpointSlice(e: V1EndpointSlice): V1EndpointSlice {
  const svc = e.metadata?.labels?.['kubernetes.io/service-name'];
  return {
    addressType: e.addressType,
    metadata: { ...slimMeta(e.metadata), ...(svc !== undefined ? { labels: { 'kubernetes.io/service-name': svc } } : {}) },
    endpoints: (e.endpoints ?? []).map((p) => ({ addresses: [], nodeName: p.nodeName, conditions: { ready: p.conditions?.ready, serving: p.conditions?.serving } })),
  } as V1EndpointSlice;
}

/** A Node as the speaker keeps it: labels, addresses, and the NetworkUnavailable condition. */
export function slimNode(n: V1Node): V1Node {
  return {
    metadata: slimMeta(n.metadata, { labels: true }),
    status: {
      addresses: (n.status?.addresses ?? []).map((a) => ({ type: a.type, address: a.address })),
      conditions: (n.status?.conditions ?? []).filter((c) => c.type === 'NetworkUnavailable').map((c) => ({ type: c.type, status: c.status })),
    },
  } as V1Node;
}
