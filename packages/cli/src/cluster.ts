/**
 * Reads what the reports need from the API, as the invoking user. Whatever the user may not read
 * (RBAC), or that does not exist (the CRDs), becomes a note in the output instead of a failure:
 * a partial answer beats none when someone is debugging at 3 am.
 */
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { IN_FORCE_CONFIGMAP } from '@ironlb/core';
import { IRONLB_GROUP, IRONLB_VERSION, type IPAddressPoolObject, type L2AdvertisementObject, PLURALS, type ServiceL2StatusObject, makeApiClient } from '@ironlb/k8s';
import type { ClusterView } from './report.js';

/** Options of readCluster. */
export interface ReadOptions {
  namespace: string;
  configMapName: string;
  lbClass: string | undefined;
  /** Only this Service's Events are read (explain). */
  eventsOf?: { namespace: string; name: string };
}

function codeOf(err: unknown): number | undefined {
  return (err as { code?: number } | null)?.code;
}

/** Runs `fn`, turning 403/404 into `fallback` plus a note. Other errors (API down) throw. */
async function soft<T>(notes: string[], what: string, fallback: T, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const code = codeOf(err);
    if (code === 404) return fallback;
    if (code === 403) {
      notes.push(`not allowed to read ${what}; that part of the report is missing`);
      return fallback;
    }
    throw new Error(`cannot read ${what}`, { cause: err });
  }
}

/** Reads a snapshot of the cluster for status and explain. */
export async function readCluster(kc: KubeConfig, o: ReadOptions): Promise<ClusterView> {
  const core = makeApiClient(kc, CoreV1Api);
  const custom = makeApiClient(kc, CustomObjectsApi);
  const discovery = makeApiClient(kc, DiscoveryV1Api);
  const notes: string[] = [];
  const base = { group: IRONLB_GROUP, version: IRONLB_VERSION };
  const listItems = async <T extends KubernetesObject>(plural: string, namespace?: string): Promise<T[]> => {
    const r = (namespace === undefined ? await custom.listClusterCustomObject({ ...base, plural }) : await custom.listNamespacedCustomObject({ ...base, namespace, plural })) as { items?: T[] };
    return r.items ?? [];
  };
  const crds = await soft(notes, 'the ironlb.io API group', false, async () => {
    const r = await custom.getAPIResources(base);
    return r.resources.some((x) => x.name === PLURALS.IPAddressPool);
  });
  if (!crds) notes.push('the ironlb.io CRDs are not installed: ConfigMap configuration only, no ServiceL2Status');
  const [configMap, inForce, pools, advertisements, services, nodes, namespaces, slices, l2statuses, speakers, events] = await Promise.all([
    soft(notes, `ConfigMap ${o.namespace}/${o.configMapName}`, undefined, async () => core.readNamespacedConfigMap({ name: o.configMapName, namespace: o.namespace })),
    // What the controller has in force: the report seeds its merge from it, as the controller does.
    soft(notes, `ConfigMap ${o.namespace}/${IN_FORCE_CONFIGMAP}`, undefined, async () => core.readNamespacedConfigMap({ name: IN_FORCE_CONFIGMAP, namespace: o.namespace })),
    crds ? soft(notes, 'IPAddressPools', [] as IPAddressPoolObject[], async () => listItems<IPAddressPoolObject>(PLURALS.IPAddressPool, o.namespace)) : Promise.resolve([]),
    crds ? soft(notes, 'L2Advertisements', [] as L2AdvertisementObject[], async () => listItems<L2AdvertisementObject>(PLURALS.L2Advertisement, o.namespace)) : Promise.resolve([]),
    soft(notes, 'Services', [], async () => (await core.listServiceForAllNamespaces()).items),
    soft(notes, 'Nodes', [], async () => (await core.listNode()).items),
    soft(notes, 'Namespaces', [], async () => (await core.listNamespace()).items),
    soft(notes, 'EndpointSlices', [], async () => (await discovery.listEndpointSliceForAllNamespaces()).items),
    crds ? soft(notes, 'ServiceL2Statuses', [] as ServiceL2StatusObject[], async () => listItems<ServiceL2StatusObject>(PLURALS.ServiceL2Status)) : Promise.resolve([]),
    soft(notes, `Pods in ${o.namespace}`, undefined, async () => (await core.listNamespacedPod({ namespace: o.namespace, labelSelector: 'app.kubernetes.io/component=speaker' })).items),
    o.eventsOf === undefined
      ? Promise.resolve(undefined)
      : soft(notes, 'Events', undefined, async () => {
          const e = o.eventsOf as { namespace: string; name: string };
          const list = await core.listNamespacedEvent({ namespace: e.namespace, fieldSelector: `involvedObject.kind=Service,involvedObject.name=${e.name}` });
          return list.items.sort((a, b) => new Date(a.lastTimestamp ?? a.eventTime ?? 0).getTime() - new Date(b.lastTimestamp ?? b.eventTime ?? 0).getTime());
        }),
  ]);
  return {
    namespace: o.namespace,
    configMapName: o.configMapName,
    lbClass: o.lbClass,
    configMap,
    inForce,
    pools,
    advertisements,
    crds,
    services,
    nodes,
    namespaces,
    slices,
    l2statuses,
    speakers,
    ...(events !== undefined ? { events } : {}),
    now: Date.now(),
    notes,
  };
}

/** Reads MetalLB's configuration from the cluster, as YAML documents for `migrate`. */
export async function readMetalLB(kc: KubeConfig, namespace: string, configMapName: string): Promise<{ text: string; notes: string[] }> {
  const core = makeApiClient(kc, CoreV1Api);
  const custom = makeApiClient(kc, CustomObjectsApi);
  const notes: string[] = [];
  const docs: unknown[] = [];
  const cm = await soft(notes, `ConfigMap ${namespace}/${configMapName}`, undefined, async () => core.readNamespacedConfigMap({ name: configMapName, namespace }));
  if (cm !== undefined) docs.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: configMapName, namespace }, data: cm.data ?? {} });
  const kinds: { version: string; plural: string; kind: string }[] = [
    { version: 'v1beta1', plural: 'ipaddresspools', kind: 'IPAddressPool' },
    { version: 'v1beta1', plural: 'l2advertisements', kind: 'L2Advertisement' },
    { version: 'v1beta2', plural: 'bgppeers', kind: 'BGPPeer' },
    { version: 'v1beta1', plural: 'bgpadvertisements', kind: 'BGPAdvertisement' },
    { version: 'v1beta1', plural: 'bfdprofiles', kind: 'BFDProfile' },
    { version: 'v1beta1', plural: 'communities', kind: 'Community' },
  ];
  for (const k of kinds) {
    const items = await soft(notes, `metallb.io ${k.plural}`, [] as unknown[], async () => {
      const r = (await custom.listNamespacedCustomObject({ group: 'metallb.io', version: k.version, namespace, plural: k.plural })) as { items?: unknown[] };
      return r.items ?? [];
    });
    for (const it of items) docs.push({ apiVersion: `metallb.io/${k.version}`, kind: k.kind, ...(it as object) });
  }
  const { stringify } = await import('yaml');
  return { text: docs.map((d) => stringify(d)).join('---\n'), notes };
}
