/**
 * Pure helpers that turn Service fields into `ServiceRecord` fields, so the k8s adapter stays
 * a thin copy and the rules (MetalLB `controller/service.go`) are unit-tested here.
 */
import { formatIP, parseIP, quote } from './ip.js';

/** Requested IPs, or why the request is unusable (message fit for a LoadBalancerFailed event). */
export type RequestedIPs = { readonly ok: true; readonly ips: readonly string[] } | { readonly ok: false; readonly message: string };

/**
 * Combines `spec.loadBalancerIP` and the comma-separated loadBalancerIPs annotation. Setting
 * both is an error, as in MetalLB; empty strings mean "not set". IPs come back canonical.
 */
export function requestedIPsFrom(loadBalancerIP: string | undefined, annotation: string | undefined): RequestedIPs {
  const spec = loadBalancerIP?.trim() ?? '';
  const ann = annotation?.trim() ?? '';
  if (spec !== '' && ann !== '') {
    return { ok: false, message: 'spec.loadBalancerIP and the loadBalancerIPs annotation are both set; use only the annotation' };
  }
  const texts = spec !== '' ? [spec] : ann === '' ? [] : ann.split(',').map((t) => t.trim());
  const ips: string[] = [];
  for (const t of texts) {
    const ip = parseIP(t);
    if (ip === null) return { ok: false, message: `invalid requested IP ${quote(t)}` };
    ips.push(formatIP(ip));
  }
  return { ok: true, ips };
}

/**
 * The sharing "backend key": "" for externalTrafficPolicy Cluster; for Local the selector as
 * a label string with sorted keys (`a=1,b=2`, like Go's labels.Set.String), so two Local
 * services share an IP only with identical selectors.
 */
export function backendKeyFor(trafficPolicy: 'Cluster' | 'Local', selector: Readonly<Record<string, string>> | undefined): string {
  if (trafficPolicy !== 'Local') return '';
  const keys = Object.keys(selector ?? {}).sort();
  // A Local service without a selector still must not share with Cluster ones (key "").
  if (keys.length === 0) return '<no selector>';
  return keys.map((k) => `${k}=${selector?.[k] ?? ''}`).join(',');
}
