/**
 * The controller runs with exactly the RBAC of deploy/ironlb.yaml (a ServiceAccount token, not
 * the admin): it allocates, records and aggregates Events (create + patch), keeps the memberlist
 * Secret (list/watch by name + create), publishes the config in force (ConfigMap create + update
 * by name), and is refused everything else it must not do. RBAC
 * cannot say "only Events you created" (Event names are generated), so patching someone else's
 * Event is allowed; the test pins that limit instead of pretending otherwise. Also: a status write
 * refused by the API is retried, not dropped, and succeeds once permission is granted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, KubeConfig, type KubernetesObject, PatchStrategy, RbacAuthorizationV1Api, type V1ClusterRole, setHeaderOptions } from '@kubernetes/client-node';
import { Controller } from '@ironlb/controller';
import { EventRecorder, createLogger } from '@ironlb/k8s';
import { type ControlPlane, startControlPlane } from '../controlplane/controlplane.js';
import { applyObjects, loadManifest, serviceAccountKubeconfig } from '../deploy/manifests.js';
import { Api, eventually } from './helpers.js';

const NS = 'ironlb-system';
const log = createLogger('rbac-test', process.env['TEST_LOG_LEVEL'] ?? 'silent');
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

async function status(call: () => Promise<unknown>): Promise<number> {
  return call().then(
    () => 200,
    (err: unknown) => (err as { code?: number }).code ?? -1,
  );
}

describe('the controller with the RBAC of deploy/ironlb.yaml', { timeout: 240_000 }, () => {
  let cp: ControlPlane;
  let api: Api;
  let sa: KubeConfig;
  let controller: Controller | undefined;
  const rbacKinds = new Set(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
  const objects = loadManifest('deploy/ironlb.yaml').filter((o) => rbacKinds.has(o.kind ?? ''));
  const controllerRole = objects.find((o) => o.kind === 'ClusterRole' && o.metadata?.name === 'ironlb:controller') as V1ClusterRole & KubernetesObject;

  before(async () => {
    cp = await startControlPlane();
    api = new Api(cp.kubeConfig());
    // Everything but the controller's permission to write Service status, for the retry test.
    const crippled = { ...controllerRole, rules: (controllerRole.rules ?? []).filter((r) => !(r.resources ?? []).includes('services/status')) };
    await applyObjects(
      cp.kubeConfig(),
      objects.map((o) => (o === controllerRole ? crippled : o)),
      false,
    );
    await api.setConfig(NS, 'address-pools:\n- name: p\n  protocol: layer2\n  addresses: [198.51.100.200-198.51.100.209]\n');
    sa = new KubeConfig();
    sa.loadFromString(await serviceAccountKubeconfig(cp.kubeConfig(), NS, 'controller', cp.server, cp.caPem));
  });
  after(async () => {
    controller?.stop();
    await cp?.stop();
  });

  it('retries a refused status write until it is allowed, then allocates', async () => {
    controller = new Controller({ kc: sa, log, namespace: NS, backoff: { initialMs: 100, maxMs: 2000 } });
    await controller.start();
    await api.namespace('app');
    await api.createService('app', 'web');
    await eventually('a refused write', async () => Number((await controller?.metrics.registry.getSingleMetricAsString('ironlb_k8s_client_update_errors_total'))?.split(' ').pop()) >= 2, 20_000);
    assert.deepEqual(await api.ingress('app', 'web'), []);
    await applyObjects(cp.kubeConfig(), [controllerRole], false);
    assert.deepEqual(await api.waitIngress('app', 'web', 1, 30_000), ['198.51.100.200'], 'the write was retried, not dropped');
    await api.waitEvent('app', 'web', /^Normal IPAllocated/);
  });

  it('keeps the memberlist Secret as the controller identity', async () => {
    const first = await eventually('the Secret', async () => api.core.readNamespacedSecret({ name: 'memberlist', namespace: NS }));
    await api.core.deleteNamespacedSecret({ name: 'memberlist', namespace: NS });
    await eventually('re-created', async () => (await api.core.readNamespacedSecret({ name: 'memberlist', namespace: NS })).metadata?.uid !== first.metadata?.uid);
  });

  it('publishes the config in force: create, and update of that one ConfigMap only', async () => {
    const cm = await eventually('the config in force', async () => api.core.readNamespacedConfigMap({ name: 'ironlb-config-in-force', namespace: NS }).catch(() => undefined));
    assert.match(cm.data?.['config.json'] ?? '', /"name":"p","source":"configmap","addresses":\["198\.51\.100\.200-198\.51\.100\.209"\]/);
    // Deleted by someone (the admin): the controller, with its own identity, writes it again.
    await api.core.deleteNamespacedConfigMap({ name: 'ironlb-config-in-force', namespace: NS });
    await eventually(
      're-created',
      async () => ((await api.core.readNamespacedConfigMap({ name: 'ironlb-config-in-force', namespace: NS }).catch(() => undefined))?.metadata?.uid ?? cm.metadata?.uid) !== cm.metadata?.uid,
      30_000,
    );
    // A change of the config in force is an update with the controller's identity.
    await api.setConfig(NS, 'address-pools:\n- name: p\n  protocol: layer2\n  addresses: [198.51.100.200-198.51.100.209]\n- name: q\n  protocol: layer2\n  addresses: [198.51.100.220/30]\n');
    await eventually('updated', async () => /"name":"q"/.test((await api.core.readNamespacedConfigMap({ name: 'ironlb-config-in-force', namespace: NS })).data?.['config.json'] ?? ''), 30_000);
  });

  it('records and aggregates Events with create + patch only', async () => {
    const rec = new EventRecorder(sa, 'ironlb-controller', log);
    const target = { kind: 'Service', apiVersion: 'v1', namespace: 'app', name: 'web' };
    await rec.record(target, 'Warning', 'Test', 'repeat me');
    await Promise.all([rec.record(target, 'Warning', 'Test', 'repeat me'), rec.record(target, 'Warning', 'Test', 'repeat me')]);
    assert.deepEqual(rec.stats(), { created: 1, patched: rec.stats().patched, failed: 0, truncated: 0 });
    const evs = (await api.core.listNamespacedEvent({ namespace: 'app', fieldSelector: 'reason=Test' })).items;
    assert.equal(evs.length, 1);
    assert.equal(evs[0]?.count, 3);
  });

  it('is refused what it must not do (and the one thing RBAC cannot refuse is pinned)', async () => {
    const core = sa.makeApiClient(CoreV1Api);
    const others = await api.core.createNamespacedEvent({
      namespace: 'app',
      body: { metadata: { name: 'someone-else.1' }, involvedObject: { kind: 'Service', namespace: 'app', name: 'web' }, reason: 'Theirs', message: 'x', type: 'Normal', count: 1 },
    });
    const refused: [string, () => Promise<unknown>][] = [
      ['get an Event', () => core.readNamespacedEvent({ name: 'someone-else.1', namespace: 'app' })],
      ['list Events', () => core.listNamespacedEvent({ namespace: 'app' })],
      ['update an Event', () => core.replaceNamespacedEvent({ name: 'someone-else.1', namespace: 'app', body: { ...others, message: 'changed' } })],
      ['delete an Event', () => core.deleteNamespacedEvent({ name: 'someone-else.1', namespace: 'app' })],
      ['read the memberlist Secret by get', () => core.readNamespacedSecret({ name: 'memberlist', namespace: NS })],
      ['list every Secret in its namespace', () => core.listNamespacedSecret({ namespace: NS })],
      ['patch the memberlist Secret', () => core.patchNamespacedSecret({ name: 'memberlist', namespace: NS, body: { data: { secretkey: 'eA==' } } }, mergePatch)],
      ['delete the memberlist Secret', () => core.deleteNamespacedSecret({ name: 'memberlist', namespace: NS })],
      ['read Secrets elsewhere', () => core.listNamespacedSecret({ namespace: 'default' })],
      ['change a Service spec', () => core.patchNamespacedService({ name: 'web', namespace: 'app', body: { spec: { type: 'ClusterIP' } } }, mergePatch)],
      ['write ConfigMaps', () => core.patchNamespacedConfigMap({ name: 'config', namespace: NS, body: { data: { config: '' } } }, mergePatch)],
      [
        'replace the address-pool ConfigMap',
        async () => core.replaceNamespacedConfigMap({ name: 'config', namespace: NS, body: await api.core.readNamespacedConfigMap({ name: 'config', namespace: NS }) }),
      ],
      ['delete the config in force', () => core.deleteNamespacedConfigMap({ name: 'ironlb-config-in-force', namespace: NS })],
      ['patch the config in force', () => core.patchNamespacedConfigMap({ name: 'ironlb-config-in-force', namespace: NS, body: { data: { 'config.json': '{}' } } }, mergePatch)],
      ['create ConfigMaps elsewhere', () => core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'x' } } })],
      ['edit RBAC', () => sa.makeApiClient(RbacAuthorizationV1Api).deleteClusterRole({ name: 'ironlb:speaker' })],
    ];
    for (const [what, p] of refused) assert.equal(await status(p), 403, `the controller must not ${what}`);
    assert.equal(await status(() => core.listNamespacedSecret({ namespace: NS, fieldSelector: 'metadata.name=memberlist' })), 200, 'list by name: what its informer does');
    // The limit of RBAC: patch cannot be restricted to Events this component created.
    assert.equal(await status(() => core.patchNamespacedEvent({ name: 'someone-else.1', namespace: 'app', body: { count: 2 } }, mergePatch)), 200);
  });
});
