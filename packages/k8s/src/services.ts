/**
 * Service writes. Status goes through the status subresource as a JSON merge patch: it replaces
 * the whole ingress array (the semantics we want) without a resourceVersion, and client-node's
 * generated patch methods default to JSON Patch unless the content type is set explicitly.
 */
import { CoreV1Api, type KubeConfig, PatchStrategy, type V1LoadBalancerIngress, type V1Service, setHeaderOptions } from '@kubernetes/client-node';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Writes Services' load-balancer status and annotations. */
export class ServiceWriter {
  readonly #core: CoreV1Api;

  constructor(kc: KubeConfig) {
    this.#core = kc.makeApiClient(CoreV1Api);
  }

  /** Sets status.loadBalancer.ingress to exactly these IPs (empty clears it). */
  async setIngress(namespace: string, name: string, ips: readonly string[]): Promise<V1Service> {
    const ingress: V1LoadBalancerIngress[] = ips.map((ip) => ({ ip, ipMode: 'VIP' }));
    return this.#core.patchNamespacedServiceStatus(
      { namespace, name, body: { status: { loadBalancer: ips.length > 0 ? { ingress } : { ingress: null } } } },
      mergePatch,
    );
  }

  /** Sets (string) or removes (null) annotations. */
  async setAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<V1Service> {
    return this.#core.patchNamespacedService({ namespace, name, body: { metadata: { annotations } } }, mergePatch);
  }
}
