/** Helpers for tests against the real control plane. */
import { CoreV1Api, type KubeConfig, type V1Service, type V1ServiceSpec } from '@kubernetes/client-node';

/** Polls `fn` every `everyMs` until it returns a value that is not undefined/false (exceptions count as "not yet"), or throws after timeoutMs. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`, { cause: last });
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Resolves after `ms`. */
export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Small typed wrapper over CoreV1Api for the scenarios. */
export class Api {
  readonly core: CoreV1Api;
  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  async namespace(name: string): Promise<void> {
    await this.core.createNamespace({ body: { metadata: { name } } }).catch((err: unknown) => {
      if ((err as { code?: number }).code !== 409) throw err;
    });
  }

  /** Creates or replaces the address-pool ConfigMap. */
  async setConfig(namespace: string, yaml: string, name = 'config'): Promise<void> {
    const body = { metadata: { name, namespace }, data: { config: yaml } };
    try {
      await this.core.replaceNamespacedConfigMap({ name, namespace, body });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      await this.core.createNamespacedConfigMap({ namespace, body });
    }
  }

  async createService(namespace: string, name: string, spec: Partial<V1ServiceSpec> = {}, annotations: Record<string, string> = {}): Promise<V1Service> {
    return this.core.createNamespacedService({
      namespace,
      body: {
        metadata: { name, annotations },
        spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }], ...spec },
      },
    });
  }

  async service(namespace: string, name: string): Promise<V1Service> {
    return this.core.readNamespacedService({ name, namespace });
  }

  async ingress(namespace: string, name: string): Promise<string[]> {
    const s = await this.service(namespace, name);
    return (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '');
  }

  /** Waits until the Service has exactly `count` ingress IPs and returns them. */
  async waitIngress(namespace: string, name: string, count = 1, timeoutMs = 10_000): Promise<string[]> {
    return eventually(
      `${namespace}/${name} to get ${count} IP(s)`,
      async () => {
        const ips = await this.ingress(namespace, name);
        return ips.length === count ? ips : undefined;
      },
      timeoutMs,
    );
  }

  /** Events on an object, as "Type Reason: message" lines. */
  async events(namespace: string, name: string): Promise<string[]> {
    const list = await this.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
    return list.items.map((e) => `${e.type} ${e.reason}: ${e.message}`);
  }

  async waitEvent(namespace: string, name: string, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    return eventually(`event ${pattern} on ${namespace}/${name}`, async () => (await this.events(namespace, name)).find((e) => pattern.test(e)), timeoutMs);
  }
}
