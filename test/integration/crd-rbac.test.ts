/**
 * deploy/ironlb.yaml (CRDs, RBAC, webhook configuration) on a real API server, least privilege
 * proven, not assumed: the controller runs as its ServiceAccount (tokens minted by TokenRequest)
 * and does its whole job with ironlb.io objects (reads pools and advertisements, writes their
 * status and the Service condition, injects the webhook CA), the speaker's identity writes
 * ServiceL2Status; and each identity is refused what it must not do.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AdmissionregistrationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Controller } from '@ironlb/controller';
import { ServiceL2StatusWriter, createLogger } from '@ironlb/k8s';
import { type ControlPlane, startControlPlane } from '../controlplane/controlplane.js';
import { serviceAccountKubeconfig } from '../deploy/manifests.js';
import { advertisement, apply, getObject, installCrds, manifest, pool } from './crd-helpers.js';
import { Api, eventually } from './helpers.js';

const NS = 'ironlb-system';
const log = createLogger('crd-rbac-test', process.env['TEST_LOG_LEVEL'] ?? 'silent');
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const G = { group: 'ironlb.io', version: 'v1beta1' };

async function refused(what: string, fn: () => Promise<unknown>): Promise<void> {
  const code = await fn().then(
    () => 200,
    (err: unknown) => (err as { code?: number }).code,
  );
  assert.equal(code, 403, `${what} must be forbidden`);
}

describe('ironlb.io RBAC on a real API server', { timeout: 240_000 }, () => {
  let cp: ControlPlane;
  let admin: KubeConfig;
  let api: Api;
  let controller: Controller | undefined;
  const as = async (sa: string): Promise<KubeConfig> => {
    const kc = new KubeConfig();
    kc.loadFromString(await serviceAccountKubeconfig(admin, NS, sa, cp.server, cp.caPem));
    return kc;
  };

  before(async () => {
    cp = await startControlPlane();
    admin = cp.kubeConfig();
    api = new Api(admin);
    // The one manifest, in its own order (CRDs and Namespace first), then the CRDs must be served.
    await apply(admin, manifest('deploy/ironlb.yaml'));
    await installCrds(admin);
    await apply(admin, [pool('p', { addresses: ['198.51.100.0/29'] }), advertisement('all')]);
    await api.core.createNode({ body: { metadata: { name: 'n1', labels: { 'kubernetes.io/hostname': 'n1' } } } });
  });
  after(async () => {
    controller?.stop();
    await cp?.stop();
  });

  it('the controller, as its ServiceAccount, does its job with ironlb.io objects', async () => {
    const kc = await as('controller');
    controller = new Controller({
      kc,
      log,
      namespace: NS,
      statusIntervalMs: 100,
      webhook: { host: '127.0.0.1', port: 0, hosts: ['127.0.0.1'], checkIntervalMs: 300 },
      backoff: { initialMs: 50, maxMs: 500 },
    });
    await controller.start();
    await api.namespace('app');
    await api.createService('app', 'web');
    assert.deepEqual(await api.waitIngress('app', 'web'), ['198.51.100.0']);
    await eventually('pool status written', async () => ((await getObject<{ status?: { assignedIPv4?: number } }>(admin, 'IPAddressPool', NS, 'p'))?.status?.assignedIPv4 === 1 ? true : undefined));
    await eventually('advertisement status written', async () =>
      (await getObject<{ status?: { selectedNodeCount?: number } }>(admin, 'L2Advertisement', NS, 'all'))?.status?.selectedNodeCount === 1 ? true : undefined,
    );
    // The CA goes into the (Service-based) webhook configuration of deploy/ironlb.yaml.
    await eventually('caBundle injected', async () => {
      const vwc = await admin.makeApiClient(AdmissionregistrationV1Api).readValidatingWebhookConfiguration({ name: 'ironlb-webhook' });
      return (vwc.webhooks ?? []).every((w) => (w.clientConfig.caBundle ?? '') !== '') ? true : undefined;
    });
    // An unannounced pool: the Service condition is written with the controller's identity too.
    await apply(admin, [pool('dark', { addresses: ['198.51.100.8/30'] }), advertisement('all', { ipAddressPools: ['p'] })]);
    await api.createService('app', 'dark', {}, { 'ironlb.io/address-pool': 'dark' });
    await eventually('Advertised condition', async () => ((await api.service('app', 'dark')).status?.conditions ?? []).some((c) => c.type === 'ironlb.io/Advertised' && c.status === 'False'));
  });

  it('refuses the controller what it must not do', async () => {
    const kc = await as('controller');
    const custom = kc.makeApiClient(CustomObjectsApi);
    const adm = kc.makeApiClient(AdmissionregistrationV1Api);
    await refused('controller changing a pool spec', () =>
      custom.patchNamespacedCustomObject({ ...G, namespace: NS, plural: 'ipaddresspools', name: 'p', body: { spec: { autoAssign: false } } }, mergePatch),
    );
    await refused('controller deleting a pool', () => custom.deleteNamespacedCustomObject({ ...G, namespace: NS, plural: 'ipaddresspools', name: 'p' }));
    await refused('controller reading pools outside ironlb-system', () => custom.listNamespacedCustomObject({ ...G, namespace: 'default', plural: 'ipaddresspools' }));
    await refused('controller writing ServiceL2Status', () =>
      custom.createNamespacedCustomObject({
        ...G,
        namespace: 'app',
        plural: 'servicel2statuses',
        body: { apiVersion: 'ironlb.io/v1beta1', kind: 'ServiceL2Status', metadata: { name: 'web' }, status: { node: 'x', serviceName: 'web', serviceNamespace: 'app' } },
      }),
    );
    await refused('controller patching another webhook configuration', () => adm.patchValidatingWebhookConfiguration({ name: 'someone-else', body: { metadata: { labels: { a: 'b' } } } }, mergePatch));
    await refused('controller deleting its webhook configuration', () => adm.deleteValidatingWebhookConfiguration({ name: 'ironlb-webhook' }));
    const core = kc.makeApiClient(CoreV1Api);
    await refused('controller changing the address-pool ConfigMap', () => core.patchNamespacedConfigMap({ name: 'config', namespace: NS, body: { data: { config: '' } } }, mergePatch));
    await refused('controller deleting the config in force', () => core.deleteNamespacedConfigMap({ name: 'ironlb-config-in-force', namespace: NS }));
    await refused('controller writing ConfigMaps elsewhere', () => core.createNamespacedConfigMap({ namespace: 'app', body: { metadata: { name: 'x' } } }));
    await refused('controller changing Namespaces', () => kc.makeApiClient(CoreV1Api).patchNamespace({ name: 'app', body: { metadata: { labels: { a: 'b' } } } }, mergePatch));
  });

  it('the speaker writes ServiceL2Status in any namespace and reads pools, nothing more', async () => {
    const kc = await as('speaker');
    const svc = await api.service('app', 'web');
    const w = new ServiceL2StatusWriter(kc, { log });
    try {
      w.announce({ namespace: 'app', name: 'web', uid: svc.metadata?.uid }, { node: 'n1', interfaces: null, ips: ['198.51.100.0'], since: new Date() });
      await w.idle();
      assert.equal((await getObject<{ status: { node: string } }>(admin, 'ServiceL2Status', 'app', 'web'))?.status.node, 'n1');
      w.withdraw({ namespace: 'app', name: 'web' }, 'n1');
      await w.idle();
      assert.equal(await getObject(admin, 'ServiceL2Status', 'app', 'web'), undefined);
      assert.equal(w.stats().failures, 0);
    } finally {
      w.stop();
    }
    const custom = kc.makeApiClient(CustomObjectsApi);
    await custom.listNamespacedCustomObject({ ...G, namespace: NS, plural: 'ipaddresspools' });
    await custom.listNamespacedCustomObject({ ...G, namespace: NS, plural: 'l2advertisements' });
    // The config in force the controller published: the speaker reads and watches it, never writes it.
    const core = kc.makeApiClient(CoreV1Api);
    const inForce = await eventually('config in force published', async () => core.readNamespacedConfigMap({ name: 'ironlb-config-in-force', namespace: NS }).catch(() => undefined));
    assert.match(inForce.data?.['config.json'] ?? '', /"name":"p"/);
    await core.listNamespacedConfigMap({ namespace: NS, fieldSelector: 'metadata.name=ironlb-config-in-force' });
    await refused('speaker writing the config in force', () => core.patchNamespacedConfigMap({ name: 'ironlb-config-in-force', namespace: NS, body: { data: { 'config.json': '{}' } } }, mergePatch));
    await refused('speaker creating ConfigMaps', () => core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'x' } } }));
    await refused('speaker changing a pool', () => custom.patchNamespacedCustomObject({ ...G, namespace: NS, plural: 'ipaddresspools', name: 'p', body: { spec: { autoAssign: false } } }, mergePatch));
    await refused('speaker writing pool status', () =>
      custom.patchNamespacedCustomObjectStatus({ ...G, namespace: NS, plural: 'ipaddresspools', name: 'p', body: { status: { assignedIPv4: 0 } } }, mergePatch),
    );
    await refused('speaker reading webhook configurations', () => kc.makeApiClient(AdmissionregistrationV1Api).readValidatingWebhookConfiguration({ name: 'ironlb-webhook' }));
  });
});
