/**
 * deploy/ironlb.yaml is proven on the real API server: it passes a server-side dry run and a
 * real apply, and its RBAC grants each identity what it needs and refuses what it must not do.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CoreV1Api, DiscoveryV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { type ControlPlane, startControlPlane } from '../controlplane/controlplane.js';
import { installCrds } from '../integration/crd-helpers.js';
import { applyObjects, loadManifest, serviceAccountKubeconfig } from './manifests.js';

function statusOf(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

async function refused(what: string, fn: () => Promise<unknown>): Promise<void> {
  const code = await fn().then(
    () => 200,
    (err: unknown) => statusOf(err),
  );
  assert.equal(code, 403, `${what} must be forbidden`);
}

describe('deploy/ironlb.yaml on a real API server', () => {
  let cp: ControlPlane;
  let admin: KubeConfig;
  const as = async (sa: string): Promise<KubeConfig> => {
    const kc = new KubeConfig();
    kc.loadFromString(await serviceAccountKubeconfig(admin, 'ironlb-system', sa, cp.server, cp.caPem));
    return kc;
  };
  before(async () => {
    cp = await startControlPlane();
    admin = cp.kubeConfig();
  });
  after(async () => {
    await cp?.stop();
  });

  it('passes a server-side dry run, then applies for real', async () => {
    const objs = loadManifest('deploy/ironlb.yaml');
    const kinds = objs.map((o) => o.kind);
    for (const k of ['Namespace', 'ServiceAccount', 'ClusterRole', 'Role', 'Deployment', 'DaemonSet']) assert.ok(kinds.includes(k), `manifest has a ${k}`);
    const clusterScoped = objs.filter((o) => o.metadata?.namespace === undefined);
    const namespaced = objs.filter((o) => o.metadata?.namespace !== undefined);
    await applyObjects(admin, clusterScoped, true);
    const core = admin.makeApiClient(CoreV1Api);
    await assert.rejects(core.readNamespace({ name: 'ironlb-system' }), 'a dry run persists nothing');
    await applyObjects(
      admin,
      objs.filter((o) => o.kind === 'Namespace'),
      false,
    );
    await applyObjects(admin, namespaced, true);
    await applyObjects(admin, objs, false);
    await applyObjects(admin, objs, false); // idempotent, like a second `kubectl apply`
    const ds = await admin.makeApiClient(AppsV1Api).readNamespacedDaemonSet({ name: 'speaker', namespace: 'ironlb-system' });
    assert.equal(ds.spec?.template.spec?.hostNetwork, true);
    const caps = ds.spec?.template.spec?.containers[0]?.securityContext?.capabilities;
    assert.deepEqual([caps?.drop, caps?.add], [['ALL'], ['NET_RAW']], 'the speaker gets NET_RAW and nothing else');
    const ns = await core.readNamespace({ name: 'ironlb-system' });
    assert.equal(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
    // The examples apply too (the custom resources once their definitions are served).
    await applyObjects(admin, [...loadManifest('deploy/examples/config.yaml'), ...loadManifest('deploy/examples/service.yaml')], false);
    await installCrds(admin);
    await applyObjects(admin, loadManifest('deploy/examples/crds.yaml'), false);
  });

  it('lets the controller do its job and nothing more', async () => {
    const kc = await as('controller');
    const core = kc.makeApiClient(CoreV1Api);
    await core.listServiceForAllNamespaces();
    await core.patchNamespacedServiceStatus(
      { name: 'web', namespace: 'default', body: { status: { loadBalancer: { ingress: [{ ip: '198.51.100.200' }] } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await core.readNamespacedConfigMap({ name: 'config', namespace: 'ironlb-system' });
    await refused('controller reading Secrets outside ironlb-system', () => core.readNamespacedSecret({ name: 'anything', namespace: 'kube-system' }));
    await refused('controller listing Secrets in ironlb-system', () => core.listNamespacedSecret({ namespace: 'ironlb-system' }));
    await refused('controller deleting Nodes', () => core.deleteNode({ name: 'n1' }));
    await refused('controller reading ConfigMaps outside ironlb-system', () => core.listNamespacedConfigMap({ namespace: 'default' }));
    await refused('controller changing a Service spec', () =>
      core.patchNamespacedService({ name: 'web', namespace: 'default', body: { spec: { type: 'ClusterIP' } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
    );
  });

  it('lets the speaker read what the election needs and refuses writes to Services', async () => {
    const kc = await as('speaker');
    const core = kc.makeApiClient(CoreV1Api);
    await core.listNode();
    await core.listServiceForAllNamespaces();
    await kc.makeApiClient(DiscoveryV1Api).listEndpointSliceForAllNamespaces();
    await refused('speaker writing Service status', () =>
      core.patchNamespacedServiceStatus({ name: 'web', namespace: 'default', body: { status: { loadBalancer: { ingress: [] } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
    );
    await refused('speaker reading Secrets outside ironlb-system', () => core.readNamespacedSecret({ name: 'memberlist', namespace: 'default' }));
    await refused('speaker reading other Secrets in ironlb-system', () => core.readNamespacedSecret({ name: 'other', namespace: 'ironlb-system' }));
    await refused('speaker patching Services', () =>
      core.patchNamespacedService({ name: 'web', namespace: 'default', body: { metadata: { labels: { x: 'y' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
    );
  });
});
