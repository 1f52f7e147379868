/**
 * Service writes. Status goes through the status subresource as a JSON merge patch: it replaces
 * the whole ingress array (the semantics we want) without a resourceVersion, and client-node's
 * generated patch methods default to JSON Patch unless the content type is set explicitly.
 */
import { type CoreV1Api, type KubeConfig, PatchStrategy, type V1LoadBalancerIngress, type V1Service, setHeaderOptions } from '@kubernetes/client-node';
import { apiClients } from './clients.js';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const strategicPatch = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

/** A Service status condition as ironlb writes it (metav1.Condition). */
export interface ServiceCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** Writes Services' load-balancer status and annotations. */
export class ServiceWriter {
  readonly #core: CoreV1Api;

  constructor(kc: KubeConfig) {
    this.#core = apiClients(kc).core;
  }

  /**
   * Sets status.loadBalancer.ingress to exactly these IPs (empty clears it) and, in the same
   * write, the given annotations (null removes one). One write instead of two halves the API
   * load per allocation, and the IP and its pool annotation can never disagree. The status
   * subresource persists metadata changes (checked on kube-apiserver 1.36 by the integration
   * tests, which read both back).
   */
  async setStatus(namespace: string, name: string, ips: readonly string[], annotations: Record<string, string | null> = {}): Promise<V1Service> {
    const ingress: V1LoadBalancerIngress[] = ips.map((ip) => ({ ip, ipMode: 'VIP' }));
    const body: Record<string, unknown> = { status: { loadBalancer: ips.length > 0 ? { ingress } : { ingress: null } } };
    if (Object.keys(annotations).length > 0) body['metadata'] = { annotations };
    return this.#core.patchNamespacedServiceStatus({ namespace, name, body }, mergePatch);
  }

  /**
   * Sets one condition in status.conditions, or removes the condition of that type (`remove`),
   * leaving every other condition alone: a strategic merge patch merges the list by `type` (it is
   * a map-list keyed by type), where a merge patch would replace the whole list.
   */
  async setCondition(namespace: string, name: string, condition: ServiceCondition | { type: string; remove: true }): Promise<V1Service> {
    const item = 'remove' in condition ? { type: condition.type, $patch: 'delete' } : condition;
    return this.#core.patchNamespacedServiceStatus({ namespace, name, body: { status: { conditions: [item] } } }, strategicPatch);
  }
}
