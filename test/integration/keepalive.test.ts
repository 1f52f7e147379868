/**
 * Connection reuse against the real API server: every client built through @ironlb/k8s
 * (apiClients, ServiceWriter, EventRecorder, informer lists) shares one keep-alive pool, so N
 * calls cost a handful of TCP+TLS handshakes, not N. A TCP proxy in front of kube-apiserver
 * counts the connections. Fails if sockets stop being reused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { EventRecorder, ServiceWriter, agentsBuilt, apiClients, createLogger, withKeepAlive } from '@ironlb/k8s';
import { type ControlPlane, startControlPlane } from '../controlplane/controlplane.js';
import { Api } from './helpers.js';
import { type TcpProxy, startTcpProxy } from './tcpproxy.js';

const N = 60;

describe('API connection reuse', { timeout: 120_000 }, () => {
  let cp: ControlPlane;
  let proxy: TcpProxy;
  const viaProxy = (): KubeConfig => {
    const kc = new KubeConfig();
    kc.loadFromString(cp.kubeconfigYaml().replace(`:${cp.port}`, `:${proxy.port}`));
    return kc;
  };
  before(async () => {
    cp = await startControlPlane();
    proxy = await startTcpProxy(cp.port);
    const api = new Api(cp.kubeConfig());
    await api.namespace('ka');
    await api.createService('ka', 'web');
  });
  after(async () => {
    await proxy?.close();
    await cp?.stop();
  });

  it(`${N} calls of every kind through @ironlb/k8s use a few connections`, async (t) => {
    const kc = viaProxy();
    const before = proxy.connections();
    const { core } = apiClients(kc);
    const writer = new ServiceWriter(kc);
    const events = new EventRecorder(kc, 'ironlb-test', createLogger('ka', 'silent'));
    for (let i = 0; i < N / 3; i++) {
      await core.readNamespace({ name: 'ka' });
      await writer.setStatus('ka', 'web', [`198.51.100.${200 + (i % 10)}`], { 'ironlb.io/ip-allocated-from-pool': 'p' });
      await events.record({ kind: 'Service', apiVersion: 'v1', namespace: 'ka', name: 'web' }, 'Normal', 'Test', `call ${i % 3}`);
    }
    // A burst in parallel grows the pool a little, then reuses it.
    await Promise.all(Array.from({ length: 8 }, async () => core.listNamespacedService({ namespace: 'ka' })));
    for (let i = 0; i < 10; i++) await core.listNamespacedService({ namespace: 'ka' });
    const used = proxy.connections() - before;
    t.diagnostic(`${N + 18} calls, ${used} TCP connections`);
    assert.ok(used <= 10, `${N + 18} calls opened ${used} connections (want a handful: the pool is reused)`);
    assert.equal(agentsBuilt(kc), 1, 'one pool for the kubeconfig');
    assert.equal(events.stats().failed, 0);
  });

  it('without it (client-node 1.4.0 alone) every call opens a connection: the control', async () => {
    const kc = viaProxy();
    const core = kc.makeApiClient(CoreV1Api);
    const before = proxy.connections();
    for (let i = 0; i < 10; i++) await core.readNamespace({ name: 'ka' });
    assert.ok(proxy.connections() - before >= 8, 'client-node now reuses connections by itself: the middleware in packages/k8s/src/clients.ts may be unnecessary');
  });

  it('no longer patches the KubeConfig (withKeepAlive is an identity)', () => {
    const kc = viaProxy();
    const own = Object.getOwnPropertyNames(kc);
    assert.equal(withKeepAlive(kc), kc);
    assert.deepEqual(Object.getOwnPropertyNames(kc), own, 'no own property (like a replaced createAgent) was added');
  });
});
