/** The informers both processes use, built one way (path, list call and selector kept in step). */
import type { KubeConfig, V1ConfigMap, V1EndpointSlice, V1Node, V1Secret, V1Service } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiClients } from './clients.js';
import type { ApiHealth, BackoffOptions } from './health.js';
import { type InformerOptions, ResilientInformer } from './informer.js';

/** What every informer factory takes. */
export interface InformerContext {
  kc: KubeConfig;
  log: Logger;
  /** When set, every informer built from this context reports to it (readiness, metrics, logs). */
  health?: ApiHealth | undefined;
  /** Retry pacing override (tests use short ones). */
  backoff?: BackoffOptions | undefined;
  /** @deprecated Never called: informers retry forever; an unreachable API only degrades readiness. */
  onFatal?: ((err: Error) => void) | undefined;
}

/** Per-informer options of the factories below. */
export interface FactoryOptions<T> {
  /** Slims every object before it is cached (see InformerOptions.transform). */
  transform?: (obj: T) => T;
}

function build<T extends V1Service | V1ConfigMap | V1Node | V1EndpointSlice | V1Secret>(
  ctx: InformerContext,
  resource: string,
  opts: Pick<InformerOptions<T>, 'path' | 'list'> & { fieldSelector?: string; transform?: ((obj: T) => T) | undefined },
): ResilientInformer<T> {
  const inf = new ResilientInformer<T>({
    kc: ctx.kc,
    log: ctx.log.child({ component: 'informer', resource }),
    ...(ctx.backoff !== undefined ? { backoff: ctx.backoff } : {}),
    path: opts.path,
    list: opts.list,
    ...(opts.fieldSelector !== undefined ? { fieldSelector: opts.fieldSelector } : {}),
    ...(opts.transform !== undefined ? { transform: opts.transform } : {}),
  });
  ctx.health?.add(inf);
  return inf;
}

/** Every Service in the cluster. */
export function serviceInformer(ctx: InformerContext, o: FactoryOptions<V1Service> = {}): ResilientInformer<V1Service> {
  const { core } = apiClients(ctx.kc);
  return build<V1Service>(ctx, 'services', { path: '/api/v1/services', list: async () => core.listServiceForAllNamespaces(), transform: o.transform });
}

/** The one address-pool ConfigMap `namespace/name`. */
export function configMapInformer(ctx: InformerContext, namespace: string, name: string): ResilientInformer<V1ConfigMap> {
  const { core } = apiClients(ctx.kc);
  const fieldSelector = `metadata.name=${name}`;
  return build<V1ConfigMap>(ctx, 'configmaps', {
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    fieldSelector,
    list: async () => core.listNamespacedConfigMap({ namespace, fieldSelector }),
  });
}

/**
 * The one Secret `namespace/name` (RBAC can grant list/watch on that name alone: the API server
 * authorizes a list or watch by resourceName when the field selector pins metadata.name).
 */
export function secretInformer(ctx: InformerContext, namespace: string, name: string): ResilientInformer<V1Secret> {
  const { core } = apiClients(ctx.kc);
  const fieldSelector = `metadata.name=${name}`;
  return build<V1Secret>(ctx, 'secrets', {
    path: `/api/v1/namespaces/${namespace}/secrets`,
    fieldSelector,
    list: async () => core.listNamespacedSecret({ namespace, fieldSelector }),
  });
}

/** Every Node. */
export function nodeInformer(ctx: InformerContext, o: FactoryOptions<V1Node> = {}): ResilientInformer<V1Node> {
  const { core } = apiClients(ctx.kc);
  return build<V1Node>(ctx, 'nodes', { path: '/api/v1/nodes', list: async () => core.listNode(), transform: o.transform });
}

/** Every EndpointSlice in the cluster. */
export function endpointSliceInformer(ctx: InformerContext, o: FactoryOptions<V1EndpointSlice> = {}): ResilientInformer<V1EndpointSlice> {
  const { discovery } = apiClients(ctx.kc);
  return build<V1EndpointSlice>(ctx, 'endpointslices', {
    path: '/apis/discovery.k8s.io/v1/endpointslices',
    list: async () => discovery.listEndpointSliceForAllNamespaces(),
    transform: o.transform,
  });
}
