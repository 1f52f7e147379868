/**
 * The adapter from a Kubernetes Service to the allocator's domain record (nothing under
 * packages/core sees a V1Service). Pure: no I/O.
 */
import type { V1Service } from '@kubernetes/client-node';
import { serviceKey } from '@ironlb/k8s';
import { type Family, type IPFamilyPolicy, type Labels, type PortProtocol, type ServiceRecord, backendKeyFor, quote, requestedIPsFrom } from '@ironlb/core';

/** Annotation prefixes we read, ours first; MetalLB's current and legacy ones for migration. */
export const ANNOTATION_PREFIXES = ['ironlb.io/', 'metallb.io/', 'metallb.universe.tf/'] as const;
/** Where the controller records the pool an IP came from. */
export const POOL_ANNOTATION = 'ironlb.io/ip-allocated-from-pool';

/** The first value of `name` under any accepted prefix. */
export function annotation(svc: V1Service, name: string): string | undefined {
  const a = svc.metadata?.annotations ?? {};
  for (const p of ANNOTATION_PREFIXES) {
    const v = a[p + name];
    if (v !== undefined) return v;
  }
  return undefined;
}

/** The annotations ironlb reads (under every prefix). */
export const READ_ANNOTATIONS = ['address-pool', 'loadBalancerIPs', 'allow-shared-ip'] as const;

/**
 * Why the prefixes disagree about `name` (two of ironlb.io/, metallb.io/, metallb.universe.tf/
 * set to different values), or undefined. Taking "ours first" silently would let a stale
 * migration leftover decide which pool or IP a Service gets.
 */
export function annotationConflict(svc: V1Service, name: string): string | undefined {
  const a = svc.metadata?.annotations ?? {};
  const set = ANNOTATION_PREFIXES.filter((p) => a[p + name] !== undefined);
  const first = set[0];
  if (first === undefined) return undefined;
  const differing = set.find((p) => a[p + name]?.trim() !== a[first + name]?.trim());
  if (differing === undefined) return undefined;
  return `annotations ${first}${name}=${quote(a[first + name] ?? '')} and ${differing}${name}=${quote(a[differing + name] ?? '')} disagree; keep only one of them`;
}

export { serviceKey, isHandled, ingressIPs } from '@ironlb/k8s';

/** A record, or the reason the Service's request is contradictory (→ Warning Event, stays pending). */
export type RecordResult = { ok: true; record: ServiceRecord } | { ok: false; message: string };

function familyOf(f: string): Family | undefined {
  return f === 'IPv4' ? 'ipv4' : f === 'IPv6' ? 'ipv6' : undefined;
}

/**
 * Builds the allocator record. The API server always fills ipFamilies/ipFamilyPolicy for
 * LoadBalancer Services; defaults below only matter for hand-made objects in unit tests.
 * `namespaceLabels` (the Service's Namespace's labels) feed IPAddressPool namespaceSelectors.
 */
export function serviceRecord(svc: V1Service, namespaceLabels?: Labels): RecordResult {
  const key = serviceKey(svc);
  for (const name of READ_ANNOTATIONS) {
    const conflict = annotationConflict(svc, name);
    if (conflict !== undefined) return { ok: false, message: conflict };
  }
  const families = (svc.spec?.ipFamilies ?? ['IPv4']).map(familyOf).filter((f): f is Family => f !== undefined);
  const familyPolicy = (svc.spec?.ipFamilyPolicy ?? 'SingleStack') as IPFamilyPolicy;
  const ports = (svc.spec?.ports ?? []).map((p) => ({ protocol: (p.protocol ?? 'TCP') as PortProtocol, port: p.port }));
  const requested = requestedIPsFrom(svc.spec?.loadBalancerIP, annotation(svc, 'loadBalancerIPs'));
  if (!requested.ok) return { ok: false, message: requested.message };
  const requestedIPs = requested.ips;
  const policy = svc.spec?.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster';
  const backendKey = backendKeyFor(policy, svc.spec?.selector);
  const sharingKey = annotation(svc, 'allow-shared-ip');
  const requestedPool = annotation(svc, 'address-pool');
  const record: ServiceRecord = {
    key,
    families: families.length > 0 ? families : ['ipv4'],
    familyPolicy,
    ports,
    backendKey,
    requestedIPs,
    namespace: svc.metadata?.namespace ?? '',
    labels: svc.metadata?.labels ?? {},
    ...(namespaceLabels !== undefined ? { namespaceLabels } : {}),
    ...(sharingKey !== undefined && sharingKey !== '' ? { sharingKey } : {}),
    ...(requestedPool !== undefined && requestedPool !== '' ? { requestedPool } : {}),
  };
  return { ok: true, record };
}
