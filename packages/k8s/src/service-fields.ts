/**
 * Reading a Service the way both processes must agree on: the controller allocates only for the
 * Services the speaker announces, so the class filter and the ingress IPs come from one place.
 */
import type { V1Service } from '@kubernetes/client-node';

/** "namespace/name" of a Service. */
export function serviceKey(svc: V1Service): string {
  return `${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`;
}

/** Whether ironlb handles the Service: LoadBalancer, and the class matches `lbClass` (unset: no class). */
export function isHandled(svc: V1Service, lbClass: string | undefined): boolean {
  if (svc.spec?.type !== 'LoadBalancer') return false;
  const cls = svc.spec.loadBalancerClass;
  return lbClass === undefined ? cls === undefined || cls === null || cls === '' : cls === lbClass;
}

/** The IPs currently in status.loadBalancer.ingress (hostnames ignored). */
export function ingressIPs(svc: V1Service): string[] {
  return (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((ip): ip is string => typeof ip === 'string' && ip !== '');
}
