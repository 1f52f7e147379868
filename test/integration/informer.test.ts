/**
 * ResilientInformer against the real API server: it rides out a dropped connection and an
 * expired resourceVersion (410 Gone after etcd compaction) without missing a change.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { ResilientInformer, createLogger } from '@ironlb/k8s';
import { type ControlPlane, startControlPlane } from '../controlplane/controlplane.js';
import { eventually } from './helpers.js';
import { type TcpProxy, startTcpProxy } from './tcpproxy.js';

/** Compacts etcd up to its current revision: every older resourceVersion is now 410 Gone. */
async function compactEtcd(etcdUrl: string): Promise<number> {
  const range = (await (await fetch(`${etcdUrl}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) })).json()) as { header: { revision: string } };
  const revision = Number(range.header.revision);
  const res = await fetch(`${etcdUrl}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision, physical: true }) });
  assert.ok(res.ok, `etcd compaction answered ${res.status}`);
  return revision;
}

describe('ResilientInformer on a real API server', () => {
  let cp: ControlPlane;
  let proxy: TcpProxy;
  let admin: CoreV1Api;
  before(async () => {
    // Without the watch cache, a watch resumes from etcd itself, so compaction really means 410.
    cp = await startControlPlane({ apiServerArgs: ['--watch-cache=false'] });
    proxy = await startTcpProxy(cp.port);
    admin = cp.kubeConfig().makeApiClient(CoreV1Api);
    await admin.createNamespace({ body: { metadata: { name: 'inf' } } });
  });
  after(async () => {
    await proxy?.close();
    await cp?.stop();
  });

  it('relists after a cut connection and a 410, firing the adds, updates and deletes it missed', async () => {
    const kc = new KubeConfig();
    // The informer talks through the proxy; the test writes directly.
    kc.loadFromString(cp.kubeconfigYaml().replace(`:${cp.port}`, `:${proxy.port}`));
    const core = kc.makeApiClient(CoreV1Api);
    const seen: string[] = [];
    const inf = new ResilientInformer<V1ConfigMap>({
      kc,
      path: '/api/v1/namespaces/inf/configmaps',
      list: async () => core.listNamespacedConfigMap({ namespace: 'inf' }),
      log: createLogger('informer-test', process.env['TEST_LOG_LEVEL'] ?? 'silent'),
    });
    inf.on((ev, cm) => seen.push(`${ev} ${cm.metadata?.name} ${cm.data?.['v'] ?? ''}`));
    const mk = async (name: string, v: string): Promise<void> => {
      await admin.createNamespacedConfigMap({ namespace: 'inf', body: { metadata: { name }, data: { v } } });
    };
    await mk('a', '1');
    await mk('b', '1');
    await inf.start();
    assert.deepEqual(seen.sort(), ['add a 1', 'add b 1']);
    await mk('c', '1');
    await eventually('watch event for c', () => seen.includes('add c 1'));
    const rvBefore = inf.resourceVersion();

    proxy.cut();
    // While the informer is cut off: add, update, delete; then compact so its RV is too old.
    await mk('d', '1');
    await admin.replaceNamespacedConfigMap({ name: 'b', namespace: 'inf', body: { metadata: { name: 'b' }, data: { v: '2' } } });
    await admin.deleteNamespacedConfigMap({ name: 'a', namespace: 'inf' });
    const compacted = await compactEtcd(cp.etcdUrl);
    assert.ok(Number(rvBefore) < compacted, 'the informer resourceVersion is now compacted away');
    proxy.restore();

    await eventually('the missed changes', () => ['add d 1', 'update b 2', 'delete a 1'].every((e) => seen.includes(e)), 20_000);
    assert.deepEqual(inf.list().map((c) => c.metadata?.name).sort(), ['b', 'c', 'd']);
    const st = inf.stats();
    assert.ok(st.expired >= 1, `the watch resumed into a 410 Gone (stats ${JSON.stringify(st)})`);
    assert.ok(st.relists >= 2, 'and relisted');
    // And it watches again afterwards.
    await mk('e', '1');
    await eventually('watch event for e after recovery', () => seen.includes('add e 1'));
    assert.ok(inf.healthy());
    inf.stop();
  });
});
