/**
 * The speaker's decision, pure: from a snapshot of Services, EndpointSlices, Nodes and live
 * memberlist members, which Service IPs this node announces. Every speaker computes the same
 * answer from the same inputs (core's electAnnouncer), so exactly one node announces each IP
 * while their views agree.
 */
import type { V1Node, V1Service } from '@kubernetes/client-node';
import type { V1EndpointSlice } from '@kubernetes/client-node';
import { type ElectionCandidate, electAnnouncer } from '@ironlb/core';
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
  /** IPs outside every configured pool are never announced (returns false for those). */
  inPool: (ip: string) => boolean;
}

/** The outcome for one Service. */
export interface Decision {
  key: string;
  ips: string[];
  winner: string | null;
  /** Why nobody announces, when winner is null. */
  reason?: string;
}

/** All decisions, and the IPs this node must announce with the Services owning each. */
export interface Plan {
  decisions: Decision[];
  announce: Map<string, string[]>;
}

/** Decides every Service. */
export function plan(s: Snapshot): Plan {
  const decisions: Decision[] = [];
  const announce = new Map<string, string[]>();
  for (const svc of s.services) {
    if (svc.ips.length === 0) continue;
    const outside = svc.ips.filter((ip) => !s.inPool(ip));
    if (outside.length > 0) {
      decisions.push({ key: svc.key, ips: svc.ips, winner: null, reason: `ipNotInPool: ${outside.join(', ')}` });
      continue;
    }
    const eps = s.endpoints.get(svc.key) ?? [];
    const on = (pick: (e: EndpointView) => boolean): Set<string | undefined> => new Set(eps.filter((e) => pick(e) && e.nodeName !== undefined).map((e) => e.nodeName));
    const elect = (endpointsOn: Set<string | undefined>, any: boolean): ReturnType<typeof electAnnouncer> =>
      electAnnouncer({
        serviceIPs: svc.ips,
        candidates: s.nodes.map((n): ElectionCandidate => ({
          name: n.name,
          alive: s.alive.has(n.name),
          networkUnavailable: n.networkUnavailable,
          excludedByLabel: n.excluded,
          hasServingEndpoint: endpointsOn.has(n.name),
        })),
        trafficPolicy: svc.trafficPolicy,
        anyServingEndpoint: any,
      });
    // As kube-proxy does: ready endpoints first; terminating-but-serving ones only when no
    // eligible node has a ready one (so a drained node hands its IP over while its Pod still
    // serves, instead of keeping it until the Pod is gone).
    let r = elect(on((e) => e.ready), eps.some((e) => e.ready));
    if (r.winner === null && (r.reason === 'noServingEndpoints' || r.reason === 'noLocalEndpointCandidates')) {
      r = elect(on((e) => e.serving), eps.some((e) => e.serving));
    }
    if (r.winner === null) {
      decisions.push({ key: svc.key, ips: svc.ips, winner: null, reason: r.reason });
      continue;
    }
    decisions.push({ key: svc.key, ips: svc.ips, winner: r.winner });
    if (r.winner !== s.self) continue;
    for (const ip of svc.ips) {
      const owners = announce.get(ip) ?? [];
      owners.push(svc.key);
      announce.set(ip, owners);
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
    networkUnavailable: (node.status?.conditions ?? []).some((c) => c.type === 'NetworkUnavailable' && c.status === 'True'),
    excluded: Object.prototype.hasOwnProperty.call(node.metadata?.labels ?? {}, EXCLUDE_LABEL),
  };
}
