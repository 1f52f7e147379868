/** The informers both processes use, built one way (path, list call and selector kept in step). */
import { CoreV1Api, DiscoveryV1Api, type KubeConfig, type V1ConfigMap, type V1EndpointSlice, type V1Node, type V1Service } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ResilientInformer } from './informer.js';

/** What every informer factory takes. */
export interface InformerContext {
  kc: KubeConfig;
  log: Logger;
  onFatal?: ((err: Error) => void) | undefined;
}

function base(ctx: InformerContext, resource: string): { kc: KubeConfig; log: Logger; onFatal?: (err: Error) => void } {
  return { kc: ctx.kc, log: ctx.log.child({ component: 'informer', resource }), ...(ctx.onFatal ? { onFatal: ctx.onFatal } : {}) };
}

/** Every Service in the cluster. */
export function serviceInformer(ctx: InformerContext): ResilientInformer<V1Service> {
  const core = ctx.kc.makeApiClient(CoreV1Api);
  return new ResilientInformer<V1Service>({ ...base(ctx, 'services'), path: '/api/v1/services', list: async () => core.listServiceForAllNamespaces() });
}

/** The one address-pool ConfigMap `namespace/name`. */
export function configMapInformer(ctx: InformerContext, namespace: string, name: string): ResilientInformer<V1ConfigMap> {
  const core = ctx.kc.makeApiClient(CoreV1Api);
  const fieldSelector = `metadata.name=${name}`;
  return new ResilientInformer<V1ConfigMap>({
    ...base(ctx, 'configmaps'),
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    fieldSelector,
    list: async () => core.listNamespacedConfigMap({ namespace, fieldSelector }),
  });
}

/** Every Node. */
export function nodeInformer(ctx: InformerContext): ResilientInformer<V1Node> {
  const core = ctx.kc.makeApiClient(CoreV1Api);
  return new ResilientInformer<V1Node>({ ...base(ctx, 'nodes'), path: '/api/v1/nodes', list: async () => core.listNode() });
}

/** Every EndpointSlice in the cluster. */
export function endpointSliceInformer(ctx: InformerContext): ResilientInformer<V1EndpointSlice> {
  const discovery = ctx.kc.makeApiClient(DiscoveryV1Api);
  return new ResilientInformer<V1EndpointSlice>({
    ...base(ctx, 'endpointslices'),
    path: '/apis/discovery.k8s.io/v1/endpointslices',
    list: async () => discovery.listEndpointSliceForAllNamespaces(),
  });
}
