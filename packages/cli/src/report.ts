/**
 * What `kubectl ironlb status` and `explain` say, pure: computed from a snapshot of API objects
 * with the same core functions the controller and the speakers run (the merged config, the
 * allocator, decideAnnouncement), so the CLI explains what ironlb does rather than guessing.
 * Pool usage is recomputed from Service status (the source of truth), not read from the pools'
 * status, so it is right even for the legacy ConfigMap or a controller that is down.
 */
import type { CoreV1Event, V1ConfigMap, V1EndpointSlice, V1Namespace, V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
import {
  type AnnounceDecision,
  type AnnounceNode,
  Allocator,
  type BuildResult,
  type Config,
  type Family,
  type ServiceRecord,
  backendKeyFor,
  decideAnnouncement,
  familyName,
  IN_FORCE_CONFIGMAP,
  IN_FORCE_KEY,
  decodeInForce,
  isConfigError,
  legacyPartOf,
  parseConfig,
  poolForIP,
  requestedIPsFrom,
  unannouncedPools,
} from '@ironlb/core';
import { type IPAddressPoolObject, type L2AdvertisementObject, type ServiceL2StatusObject, configFromObjects, ingressIPs, isHandled, serviceKey } from '@ironlb/k8s';

/** The label that takes a node out of external load balancing (what the speaker honours). */
const EXCLUDE_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';
/** Annotation prefixes read for Service requests (as the controller). */
const PREFIXES = ['ironlb.io/', 'metallb.io/', 'metallb.universe.tf/'];

/** Everything the CLI read from the cluster. */
export interface ClusterView {
  /** The ironlb namespace. */
  namespace: string;
  configMapName: string;
  lbClass: string | undefined;
  configMap: V1ConfigMap | undefined;
  /** The config in force the controller publishes (ConfigMap ironlb-config-in-force), if read. */
  inForce?: V1ConfigMap | undefined;
  pools: readonly IPAddressPoolObject[];
  advertisements: readonly L2AdvertisementObject[];
  /** False when the ironlb.io CRDs are not installed. */
  crds: boolean;
  services: readonly V1Service[];
  nodes: readonly V1Node[];
  namespaces: readonly V1Namespace[];
  slices: readonly V1EndpointSlice[];
  l2statuses: readonly ServiceL2StatusObject[];
  /** Speaker Pods (undefined when they could not be listed). */
  speakers: readonly V1Pod[] | undefined;
  /** Events of the Service being explained (newest last). */
  events?: readonly CoreV1Event[];
  now: number;
  /** Things the CLI could not read (RBAC, missing CRDs), said once in the output. */
  notes: string[];
}

/**
 * The config the cluster's objects describe (what the controller would put in force), seeded like
 * the controller's: `previous` is the config in force it published, and when the ConfigMap is gone
 * or invalid, the ConfigMap pools in force stand in for it. `inForceError` says why the published
 * document could not be used (undefined when it was, or when there is none).
 */
export function effectiveConfig(v: ClusterView): { config: Config | undefined; build: BuildResult | undefined; legacyError: string | undefined; inForceError?: string } {
  let legacy: Config | undefined;
  let legacyError: string | undefined;
  let previous: Config | undefined;
  let inForceError: string | undefined;
  if (v.inForce !== undefined) {
    const r = decodeInForce(v.inForce.data?.[IN_FORCE_KEY]);
    if (r.ok) previous = r.config;
    else inForceError = `ConfigMap ${v.namespace}/${IN_FORCE_CONFIGMAP} is invalid (${r.error.slice(0, 300)}); this report may differ from the controller`;
  }
  const text = v.configMap?.data?.['config'];
  if (text !== undefined) {
    const c = parseConfig(text);
    if (isConfigError(c)) legacyError = c.message;
    else if (!c.blank) legacy = c;
  }
  // The controller keeps the ConfigMap's last good pools while it is missing, invalid or empty.
  if (legacy === undefined && previous !== undefined) legacy = legacyPartOf(previous);
  const extra = inForceError !== undefined ? { inForceError } : {};
  if (!v.crds) return { config: legacy, build: undefined, legacyError, ...extra };
  const build = configFromObjects({ pools: v.pools, advertisements: v.advertisements, legacy, previous });
  const any = legacy !== undefined || v.pools.length > 0 || v.advertisements.length > 0;
  return { config: any ? build.config : undefined, build, legacyError, ...extra };
}

function annotation(svc: V1Service, name: string): string | undefined {
  const a = svc.metadata?.annotations ?? {};
  for (const p of PREFIXES) if (a[p + name] !== undefined) return a[p + name];
  return undefined;
}

function familyOf(f: string): Family | undefined {
  return f === 'IPv4' ? 'ipv4' : f === 'IPv6' ? 'ipv6' : undefined;
}

/** The allocator record of a Service (the controller's serviceRecord, reduced to what matters here). */
export function recordOf(svc: V1Service, namespaces: readonly V1Namespace[]): ServiceRecord | string {
  const requested = requestedIPsFrom(svc.spec?.loadBalancerIP, annotation(svc, 'loadBalancerIPs'));
  if (!requested.ok) return requested.message;
  const families = (svc.spec?.ipFamilies ?? ['IPv4']).map(familyOf).filter((f): f is Family => f !== undefined);
  const sharingKey = annotation(svc, 'allow-shared-ip');
  const requestedPool = annotation(svc, 'address-pool');
  const ns = svc.metadata?.namespace ?? '';
  return {
    key: serviceKey(svc),
    families: families.length > 0 ? families : ['ipv4'],
    familyPolicy: (svc.spec?.ipFamilyPolicy ?? 'SingleStack') as ServiceRecord['familyPolicy'],
    ports: (svc.spec?.ports ?? []).map((p) => ({ protocol: (p.protocol ?? 'TCP') as 'TCP', port: p.port })),
    backendKey: backendKeyFor(svc.spec?.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster', svc.spec?.selector),
    requestedIPs: requested.ips,
    namespace: ns,
    labels: svc.metadata?.labels ?? {},
    namespaceLabels: namespaces.find((n) => n.metadata?.name === ns)?.metadata?.labels ?? {},
    ...(sharingKey !== undefined && sharingKey !== '' ? { sharingKey } : {}),
    ...(requestedPool !== undefined && requestedPool !== '' ? { requestedPool } : {}),
  };
}

/** An allocator holding every handled Service's current IPs (oldest first, as the controller re-admits). */
function occupied(v: ClusterView, config: Config, except?: string): Allocator {
  const a = new Allocator(config);
  const handled = v.services.filter((s) => isHandled(s, v.lbClass) && ingressIPs(s).length > 0 && serviceKey(s) !== except);
  handled.sort((x, y) => new Date(x.metadata?.creationTimestamp ?? 0).getTime() - new Date(y.metadata?.creationTimestamp ?? 0).getTime());
  for (const s of handled) {
    const rec = recordOf(s, v.namespaces);
    if (typeof rec !== 'string') a.assign(rec, ingressIPs(s));
  }
  return a;
}

/** Whether a node counts as alive: its speaker Pod is ready; without Pod access, the Node is Ready. */
function nodesForDecision(v: ClusterView): AnnounceNode[] {
  const speakerReady = new Map<string, boolean>();
  for (const p of v.speakers ?? []) {
    const node = p.spec?.nodeName;
    if (node === undefined) continue;
    const ready = (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
    speakerReady.set(node, (speakerReady.get(node) ?? false) || ready);
  }
  const bySpeakers = v.speakers !== undefined && v.speakers.length > 0;
  return v.nodes.map((n) => {
    const name = n.metadata?.name ?? '';
    const conds = n.status?.conditions ?? [];
    const nodeReady = conds.some((c) => c.type === 'Ready' && c.status === 'True');
    return {
      name,
      labels: n.metadata?.labels ?? {},
      alive: bySpeakers ? speakerReady.get(name) === true : nodeReady,
      networkUnavailable: conds.some((c) => c.type === 'NetworkUnavailable' && c.status === 'True'),
      excludedByLabel: Object.prototype.hasOwnProperty.call(n.metadata?.labels ?? {}, EXCLUDE_LABEL),
    };
  });
}

function endpointsOf(v: ClusterView, key: string): { nodeName: string | undefined; ready: boolean; serving: boolean }[] {
  const [ns, name] = key.split('/');
  return v.slices
    .filter((s) => s.metadata?.namespace === ns && s.metadata?.labels?.['kubernetes.io/service-name'] === name)
    .flatMap((s) =>
      (s.endpoints ?? []).map((e) => {
        const c = e.conditions ?? {};
        const ready = c.ready === undefined || c.ready === null || c.ready === true;
        return { nodeName: e.nodeName ?? undefined, ready, serving: ready || c.serving === true };
      }),
    );
}

/** One pool line of `status`. */
export interface PoolLine {
  name: string;
  source: 'configmap' | 'crd';
  addresses: string[];
  usedV4: number;
  freeV4: string;
  usedV6: number;
  freeV6: string;
  services: number;
  advertised: string;
}

/** One Service line of `status`. */
export interface ServiceLine {
  service: string;
  ips: string[];
  pool: string | undefined;
  node: string | undefined;
  interfaces: string[] | null;
  /** When the announcing node took over (ServiceL2Status), as an ISO time. */
  since: string | undefined;
  /** Seconds since the last change of announcer (undefined when unknown). */
  ageSeconds: number | undefined;
  state: string;
}

/** One node line of `status`. */
export interface NodeLine {
  name: string;
  ready: boolean;
  speaker: 'ready' | 'not ready' | 'missing' | 'unknown';
  eligible: boolean;
  note: string;
}

/** The whole `status` report. */
export interface StatusReport {
  config: 'configmap' | 'crds' | 'both' | 'none';
  problems: string[];
  pools: PoolLine[];
  services: ServiceLine[];
  nodes: NodeLine[];
  notes: string[];
}

/** A count as text: exact up to 2^53, else "≈2^k" (a /64 holds 2^64 addresses). */
function big(n: bigint): string {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? n.toString() : `≈2^${n.toString(2).length - 1}`;
}

/** The `status` report. */
export function statusReport(v: ClusterView): StatusReport {
  const { config, build, legacyError, inForceError } = effectiveConfig(v);
  const problems: string[] = [];
  if (legacyError !== undefined) problems.push(`ConfigMap ${v.namespace}/${v.configMapName}: ${legacyError}`);
  if (inForceError !== undefined) problems.push(inForceError);
  if (v.configMap === undefined && (config?.pools ?? []).some((p) => (p.source ?? 'configmap') === 'configmap')) {
    problems.push(`ConfigMap ${v.namespace}/${v.configMapName} does not exist, but its pools stay in force (dropping them would take IPs away); to remove them, create it with "address-pools: []"`);
  }
  for (const p of build?.problems ?? []) problems.push(...p.errors.map((e) => `${e}${p.keptPrevious ? ' (previous version in force)' : ''}`));
  const hasCm = config?.pools.some((p) => (p.source ?? 'configmap') === 'configmap') ?? false;
  const hasCrd = config?.pools.some((p) => p.source === 'crd') ?? false;
  const kind = config === undefined ? 'none' : hasCm && hasCrd ? 'both' : hasCrd ? 'crds' : 'configmap';
  const alloc = config === undefined ? undefined : occupied(v, config);
  const nodes = nodesForDecision(v);
  const unannounced = config === undefined ? new Map<string, string>() : unannouncedPools(config, nodes);
  const pools: PoolLine[] = (config?.pools ?? []).map((p) => {
    const s = alloc?.poolStats(p.name);
    const why = unannounced.get(p.name);
    const advertised = why === 'noAdvertisement' ? 'NO: no L2Advertisement' : why === 'noSelectedNodes' ? 'NO: selects no node' : 'yes';
    return {
      name: p.name,
      source: p.source ?? 'configmap',
      addresses: p.addresses.map((r) => r.text),
      usedV4: s?.inUseV4 ?? 0,
      freeV4: s === undefined ? '0' : big(s.totalV4 - BigInt(s.inUseV4)),
      usedV6: s?.inUseV6 ?? 0,
      freeV6: s === undefined ? '0' : big(s.totalV6 - BigInt(s.inUseV6)),
      services: s?.servicesAllocated ?? 0,
      advertised,
    };
  });
  const statusOf = new Map<string, ServiceL2StatusObject>(v.l2statuses.map((o) => [`${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`, o]));
  const services: ServiceLine[] = v.services
    .filter((s) => isHandled(s, v.lbClass))
    .map((s) => {
      const key = serviceKey(s);
      const ips = ingressIPs(s);
      const st = statusOf.get(key)?.status;
      const pool = config === undefined || ips[0] === undefined ? undefined : poolForIP(config, ips[0]);
      let state = 'announced';
      if (ips.length === 0) state = 'pending (no IP)';
      else if (config === undefined) state = 'no config';
      else if (st === undefined) {
        const d = decideAnnouncement({ ips, trafficPolicy: s.spec?.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster', endpoints: endpointsOf(v, key), nodes, config });
        state = d.winner === null ? `not announced: ${d.reason ?? ''}` : `expected on ${d.winner} (no ServiceL2Status yet)`;
      }
      const sinceMs = st?.since !== undefined ? new Date(st.since).getTime() : NaN;
      return {
        service: key,
        ips,
        pool,
        node: st?.node,
        interfaces: st === undefined ? null : st.interfaces.length === 0 ? null : st.interfaces.map((i) => i.name),
        since: st?.since,
        ageSeconds: Number.isFinite(sinceMs) ? Math.max(0, Math.round((v.now - sinceMs) / 1000)) : undefined,
        state,
      };
    })
    .sort((a, b) => a.service.localeCompare(b.service));
  const nodeLines: NodeLine[] = nodes.map((n) => {
    const node = v.nodes.find((x) => x.metadata?.name === n.name);
    const ready = (node?.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
    const pods = (v.speakers ?? []).filter((p) => p.spec?.nodeName === n.name);
    const speaker: NodeLine['speaker'] =
      v.speakers === undefined
        ? 'unknown'
        : pods.length === 0
          ? 'missing'
          : pods.some((p) => (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'))
            ? 'ready'
            : 'not ready';
    const why = [
      n.networkUnavailable ? 'NetworkUnavailable' : '',
      n.excludedByLabel ? `labelled ${EXCLUDE_LABEL}` : '',
      !n.alive ? (v.speakers !== undefined && v.speakers.length > 0 ? 'speaker not ready' : 'Node not Ready') : '',
    ].filter(Boolean);
    return { name: n.name, ready, speaker, eligible: why.length === 0, note: why.join(', ') };
  });
  return { config: kind, problems, pools, services, nodes: nodeLines, notes: [...v.notes] };
}

/** The `explain` report for one Service. */
export interface Explanation {
  service: string;
  /** One-line verdict. */
  verdict: string;
  /** Why, step by step. */
  reasons: string[];
  ips: string[];
  pool?: string;
  /** The announcement decision (when the Service has IPs). */
  decision?: AnnounceDecision;
  /** What ServiceL2Status says (who actually announces, as reported by the speaker). */
  reported?: { node: string; since: string; interfaces: string[] };
  /** Recent Warning Events on the Service. */
  events: string[];
}

/** Explains why a Service has (no) IP and who (nobody) announces it. */
export function explain(v: ClusterView, namespace: string, name: string): Explanation {
  const key = `${namespace}/${name}`;
  const svc = v.services.find((s) => serviceKey(s) === key);
  const events = (v.events ?? [])
    .filter((e) => e.type === 'Warning')
    .slice(-5)
    .map((e) => `${e.reason ?? ''}: ${e.message ?? ''}`);
  const base = { service: key, ips: [] as string[], events };
  if (svc === undefined) return { ...base, verdict: 'no such Service', reasons: [`Service ${key} does not exist`] };
  if (svc.spec?.type !== 'LoadBalancer') return { ...base, verdict: 'not a LoadBalancer Service', reasons: [`spec.type is ${svc.spec?.type ?? 'ClusterIP'}; ironlb only serves type LoadBalancer`] };
  if (!isHandled(svc, v.lbClass)) {
    return {
      ...base,
      verdict: 'handled by another load balancer',
      reasons: [`spec.loadBalancerClass is ${JSON.stringify(svc.spec.loadBalancerClass)}; ironlb serves ${v.lbClass === undefined ? 'Services without a class' : `class ${v.lbClass}`}`],
    };
  }
  const { config, legacyError, build, inForceError } = effectiveConfig(v);
  const ips = ingressIPs(svc);
  const reasons: string[] = [];
  if (legacyError !== undefined) reasons.push(`the ConfigMap is invalid (${legacyError}); the controller keeps its last good config`);
  if (inForceError !== undefined) reasons.push(inForceError);
  if (config === undefined)
    return { ...base, ips, verdict: 'no address pool is configured', reasons: [...reasons, 'neither the ConfigMap nor any IPAddressPool defines a pool: the controller is idle'] };
  if (ips.length === 0) {
    const rec = recordOf(svc, v.namespaces);
    if (typeof rec === 'string') return { ...base, ips, verdict: 'no IP: the request is contradictory', reasons: [...reasons, rec] };
    const a = occupied(v, config, key);
    const r = a.allocate(rec);
    if (r.ok)
      reasons.push(
        `an IP is free for it now (${r.allocation.addresses.join(', ')} from pool "${r.allocation.pool}"): the controller should assign it shortly; if not, check the controller is running`,
      );
    else reasons.push(r.failure.message);
    for (const p of build?.problems ?? []) reasons.push(`not in force: ${p.errors[0] ?? ''}`);
    return { ...base, ips, verdict: r.ok ? 'no IP yet' : `no IP: ${r.failure.reason}`, reasons };
  }
  const decision = decideAnnouncement({ ips, trafficPolicy: svc.spec.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster', endpoints: endpointsOf(v, key), nodes: nodesForDecision(v), config });
  const st = v.l2statuses.find((o) => o.metadata?.namespace === namespace && o.metadata.name === name)?.status;
  const reported = st === undefined ? undefined : { node: st.node, since: st.since, interfaces: st.interfaces.map((i) => i.name) };
  const fam = ips.map((ip) => (ip.includes(':') ? familyName('ipv6') : familyName('ipv4'))).join('+');
  if (decision.winner === null) {
    reasons.push(decision.message);
    if (reported !== undefined)
      reasons.push(`yet ServiceL2Status says node ${reported.node} announces it (since ${reported.since}): a speaker may see the cluster differently (memberlist) or the record is stale`);
  } else {
    reasons.push(`${fam} ${ips.join(', ')} from pool "${decision.pool ?? '?'}"; ${decision.ranking.length} eligible node(s), ${decision.winner} ranks first`);
    if (decision.interfaces !== null) reasons.push(`answered on interface(s) ${decision.interfaces.join(', ')} only`);
    if (reported === undefined) reasons.push('no ServiceL2Status yet: the speaker has not reported announcing it (speakers older than this CLI do not write one)');
    else if (reported.node !== decision.winner) reasons.push(`ServiceL2Status says ${reported.node} announces it: the speakers' membership view differs from Node/Pod readiness`);
  }
  return {
    ...base,
    ips,
    ...(decision.pool !== undefined ? { pool: decision.pool } : {}),
    verdict: decision.winner === null ? `not announced: ${decision.reason ?? ''}` : `announced by ${reported?.node ?? decision.winner}`,
    reasons,
    decision,
    ...(reported !== undefined ? { reported } : {}),
  };
}
