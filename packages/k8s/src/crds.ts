/**
 * ironlb.io custom resources as the API serves them: object types, informer factories, the check
 * whether the CRDs are installed, and the adapter that turns cached objects (plus the legacy
 * ConfigMap's config) into core's config model. The rules live in @ironlb/core (buildConfig);
 * this file only copies fields.
 */
import { CustomObjectsApi, type KubeConfig, type KubernetesListObject, type KubernetesObject, type V1Namespace, type V1Node, type V1ObjectMeta } from '@kubernetes/client-node';
import { type BuildResult, type Config, type ConfigLimits, type NodeInfo, buildConfig, isConfigError, parseConfig } from '@ironlb/core';
import { apiClients, makeApiClient } from './clients.js';
import type { InformerContext } from './informers.js';
import { ResilientInformer } from './informer.js';

/** API group of ironlb's resources. */
export const IRONLB_GROUP = 'ironlb.io';
/** The one served version (MetalLB's v1beta1 fields). */
export const IRONLB_VERSION = 'v1beta1';
/** `apiVersion` of ironlb objects. */
export const IRONLB_API_VERSION = `${IRONLB_GROUP}/${IRONLB_VERSION}`;
/** Resource (plural) names. */
export const PLURALS = Object.freeze({ IPAddressPool: 'ipaddresspools', L2Advertisement: 'l2advertisements', ServiceL2Status: 'servicel2statuses' });

/** A condition as ironlb writes it (metav1.Condition). */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** IPAddressPool status (MetalLB's counters, plus conditions). */
export interface IPAddressPoolStatus {
  assignedIPv4?: number;
  assignedIPv6?: number;
  availableIPv4?: number;
  availableIPv6?: number;
  conditions?: Condition[];
}

/** An IPAddressPool object; `spec` is untrusted (core validates it). */
export interface IPAddressPoolObject extends KubernetesObject {
  metadata?: V1ObjectMeta;
  spec?: unknown;
  status?: IPAddressPoolStatus;
}

/** L2Advertisement status: the nodes it selects now, plus conditions. */
export interface L2AdvertisementStatus {
  selectedNodes?: string[];
  selectedNodeCount?: number;
  conditions?: Condition[];
}

/** An L2Advertisement object. */
export interface L2AdvertisementObject extends KubernetesObject {
  metadata?: V1ObjectMeta;
  spec?: unknown;
  status?: L2AdvertisementStatus;
}

/** Who announces a Service: one object per announced Service, in the Service's namespace. */
export interface ServiceL2StatusFields {
  node: string;
  serviceName: string;
  serviceNamespace: string;
  /** Interfaces the node answers on; empty means every eligible interface. */
  interfaces: { name: string }[];
  /** The announced IPs. */
  ips: string[];
  /** When this node started announcing (RFC 3339). */
  since: string;
}

/** A ServiceL2Status object. */
export interface ServiceL2StatusObject extends KubernetesObject {
  metadata?: V1ObjectMeta;
  status?: ServiceL2StatusFields;
}

function customApi(kc: KubeConfig): CustomObjectsApi {
  return makeApiClient(kc, CustomObjectsApi);
}

/** Informer on the IPAddressPools of `namespace` (ironlb reads them there only, as MetalLB). */
export function ipAddressPoolInformer(ctx: InformerContext, namespace: string): ResilientInformer<IPAddressPoolObject> {
  return customInformer<IPAddressPoolObject>(ctx, namespace, PLURALS.IPAddressPool);
}

/** Informer on the L2Advertisements of `namespace`. */
export function l2AdvertisementInformer(ctx: InformerContext, namespace: string): ResilientInformer<L2AdvertisementObject> {
  return customInformer<L2AdvertisementObject>(ctx, namespace, PLURALS.L2Advertisement);
}

/** Informer on every ServiceL2Status (they live in the Services' namespaces). */
export function serviceL2StatusInformer(ctx: InformerContext, labelSelector?: string): ResilientInformer<ServiceL2StatusObject> {
  return customInformer<ServiceL2StatusObject>(ctx, undefined, PLURALS.ServiceL2Status, labelSelector);
}

/** Every Namespace (their labels feed serviceAllocation.namespaceSelectors). */
export function namespaceInformer(ctx: InformerContext): ResilientInformer<V1Namespace> {
  const { core } = apiClients(ctx.kc);
  const inf = new ResilientInformer<V1Namespace>({
    kc: ctx.kc,
    log: ctx.log.child({ component: 'informer', resource: 'namespaces' }),
    path: '/api/v1/namespaces',
    list: async () => core.listNamespace(),
    ...(ctx.backoff !== undefined ? { backoff: ctx.backoff } : {}),
  });
  ctx.health?.add(inf);
  return inf;
}

function customInformer<T extends KubernetesObject>(ctx: InformerContext, namespace: string | undefined, plural: string, labelSelector?: string): ResilientInformer<T> {
  const api = customApi(ctx.kc);
  const path = namespace === undefined ? `/apis/${IRONLB_GROUP}/${IRONLB_VERSION}/${plural}` : `/apis/${IRONLB_GROUP}/${IRONLB_VERSION}/namespaces/${namespace}/${plural}`;
  const list = async (): Promise<KubernetesListObject<T>> =>
    (namespace === undefined
      ? await api.listClusterCustomObject({ group: IRONLB_GROUP, version: IRONLB_VERSION, plural, ...(labelSelector !== undefined ? { labelSelector } : {}) })
      : await api.listNamespacedCustomObject({
          group: IRONLB_GROUP,
          version: IRONLB_VERSION,
          namespace,
          plural,
          ...(labelSelector !== undefined ? { labelSelector } : {}),
        })) as KubernetesListObject<T>;
  const inf = new ResilientInformer<T>({
    kc: ctx.kc,
    log: ctx.log.child({ component: 'informer', resource: plural }),
    path,
    list,
    ...(labelSelector !== undefined ? { labelSelector } : {}),
    ...(ctx.backoff !== undefined ? { backoff: ctx.backoff } : {}),
  });
  ctx.health?.add(inf);
  return inf;
}

/**
 * Which ironlb resources the API server serves: undefined when the group is not installed (404),
 * else the set of plural names. Other failures throw (the caller retries): an API that is down
 * must not read as "no CRDs".
 */
export async function servedResources(kc: KubeConfig): Promise<Set<string> | undefined> {
  try {
    const list = await customApi(kc).getAPIResources({ group: IRONLB_GROUP, version: IRONLB_VERSION });
    return new Set(list.resources.map((r) => r.name));
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

function createdMs(meta: V1ObjectMeta | undefined): number | undefined {
  const t = meta?.creationTimestamp;
  if (t === undefined || t === null) return undefined;
  const ms = new Date(t).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

/** What configFromObjects merges. */
export interface ObjectsInput {
  pools: readonly IPAddressPoolObject[];
  advertisements: readonly L2AdvertisementObject[];
  /** The legacy ConfigMap's config in force, if any. */
  legacy?: Config | undefined;
  /** The config in force: an invalid object keeps its version from here. */
  previous?: Config | undefined;
  limits?: ConfigLimits;
}

/**
 * The config model from cached IPAddressPools and L2Advertisements plus the legacy ConfigMap's
 * config (core's buildConfig: one model for both styles), with every invalid object reported.
 * Objects being deleted (deletionTimestamp set) are already gone as far as config goes.
 */
export function configFromObjects(input: ObjectsInput): BuildResult {
  const live = <T extends { metadata?: V1ObjectMeta }>(o: T): boolean => o.metadata?.deletionTimestamp === undefined || o.metadata.deletionTimestamp === null;
  return buildConfig({
    legacy: input.legacy,
    previous: input.previous,
    ...(input.limits !== undefined ? { limits: input.limits } : {}),
    pools: input.pools.filter(live).map((p) => ({ name: p.metadata?.name ?? '', labels: p.metadata?.labels ?? {}, spec: p.spec, createdMs: createdMs(p.metadata) })),
    advertisements: input.advertisements.filter(live).map((a) => ({ name: a.metadata?.name ?? '', labels: a.metadata?.labels ?? {}, spec: a.spec ?? {}, createdMs: createdMs(a.metadata) })),
  });
}

/** What configFromSources merges: the ConfigMap's text as read, plus the objects. */
export interface SourcesInput extends Omit<ObjectsInput, 'legacy'> {
  /** data.config of the address-pool ConfigMap (undefined: no ConfigMap, or no such key). */
  configMapText: string | undefined;
  /** The ConfigMap's last good config: kept when the text is invalid or empty. */
  lastGoodLegacy?: Config | undefined;
}

/** The merged config, the ConfigMap's part in force, and why the text was not used (if it was not). */
export interface SourcesResult extends BuildResult {
  legacy: Config | undefined;
  legacyError: string | undefined;
}

/**
 * Like configFromObjects, from the ConfigMap's text: an invalid or empty text keeps the last good
 * ConfigMap config (the controller's rule), and says why in `legacyError`. For the speaker, whose
 * config must follow the same rules as the controller's.
 */
export function configFromSources(input: SourcesInput): SourcesResult {
  let legacy = input.lastGoodLegacy;
  let legacyError: string | undefined;
  if (input.configMapText !== undefined) {
    const parsed = parseConfig(input.configMapText);
    if (isConfigError(parsed)) legacyError = parsed.message;
    else if (parsed.blank) legacyError = 'the "config" key is empty; keeping the last good config';
    else legacy = parsed;
  }
  const { configMapText: _text, lastGoodLegacy: _last, ...rest } = input;
  return { ...configFromObjects({ ...rest, legacy }), legacy, legacyError };
}

/** A Node as advertisements see it (name and labels). */
export function nodeInfo(node: V1Node): NodeInfo {
  return { name: node.metadata?.name ?? '', labels: node.metadata?.labels ?? {} };
}
