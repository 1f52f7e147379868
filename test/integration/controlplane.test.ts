/**
 * The test control plane is real: the API server itself allocates ClusterIPs and NodePorts for a
 * LoadBalancer Service, and serves the status subresource our controller writes.
 */
import assert from 'node:assert/strict';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { type ControlPlane, startControlPlane } from '../controlplane/controlplane.js';

describe('test control plane', { timeout: 240_000 }, () => {
  let cp: ControlPlane;
  let core: CoreV1Api;
  before(async () => {
    cp = await startControlPlane();
    core = cp.kubeConfig().makeApiClient(CoreV1Api);
  });
  after(async () => {
    await cp?.stop();
  });

  it('allocates ClusterIP and NodePort for a LoadBalancer Service and round-trips status.loadBalancer', async () => {
    await core.createNamespace({ body: { metadata: { name: 'cp-test' } } });
    const svc = await core.createNamespacedService({
      namespace: 'cp-test',
      body: {
        metadata: { name: 'web' },
        spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
      },
    });
    assert.match(svc.spec?.clusterIP ?? '', /^198\.18\.\d+\.\d+$/, 'ClusterIP allocated by the API server from its range');
    const nodePort = svc.spec?.ports?.[0]?.nodePort ?? 0;
    assert.ok(nodePort >= 20000 && nodePort <= 39999, `NodePort ${nodePort} allocated from the configured range`);
    assert.equal(svc.status?.loadBalancer?.ingress, undefined, 'a new Service starts with no ingress');

    await core.patchNamespacedServiceStatus(
      { name: 'web', namespace: 'cp-test', body: { status: { loadBalancer: { ingress: [{ ip: '198.51.100.200' }] } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const back = await core.readNamespacedService({ name: 'web', namespace: 'cp-test' });
    assert.equal(back.status?.loadBalancer?.ingress?.[0]?.ip, '198.51.100.200');
    assert.equal(back.spec?.clusterIP, svc.spec?.clusterIP, 'a status write keeps the spec');
  });

  it('keeps data across a kube-apiserver restart (same etcd)', async () => {
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'survives' }, data: { k: 'v' } } });
    const pidBefore = cp.apiserverPid();
    await cp.restartApiServer();
    assert.notEqual(cp.apiserverPid(), pidBefore, 'a new kube-apiserver process');
    const cm = await core.readNamespacedConfigMap({ name: 'survives', namespace: 'default' });
    assert.equal(cm.data?.['k'], 'v');
  });

  it('authenticates bearer tokens and authorizes with RBAC', async () => {
    const get = async (path: string, token: string): Promise<number> =>
      new Promise<number>((resolve, reject) => {
        https
          .get(`${cp.server}${path}`, { ca: cp.caPem, headers: { Authorization: `Bearer ${token}` } }, (r) => {
            r.resume();
            resolve(r.statusCode ?? 0);
          })
          .on('error', reject);
      });
    assert.equal(await get('/api/v1/namespaces', 'not-a-token'), 401, 'unknown token is unauthenticated');
    assert.equal(await get('/api/v1/namespaces', cp.token), 200, 'the admin token is system:masters');
    // A ServiceAccount token minted through TokenRequest authenticates but has no permissions.
    await core.createNamespacedServiceAccount({ namespace: 'default', body: { metadata: { name: 'nobody' } } });
    const tr = await core.createNamespacedServiceAccountToken({ name: 'nobody', namespace: 'default', body: { spec: { audiences: [], expirationSeconds: 600 } } });
    const saToken = tr.status?.token ?? '';
    assert.ok(saToken.length > 0);
    assert.equal(await get('/api/v1/secrets', saToken), 403, 'RBAC forbids what no role grants');
  });
});
