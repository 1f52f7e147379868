/**
 * ResilientInformer against the real API server: it rides out a dropped connection and an
 * expired resourceVersion (410 Gone after etcd compaction) without missing a change.
 *
 * The first test asserts outcomes only (which recovery path runs depends on timing: a busy machine
 * may retry twice and relist before it ever sees the 410). The second forces the 410 path, because
 * there the path is the subject: no failure at all, only a server-side watch timeout resuming from
 * a resourceVersion that compaction removed. Every informer is stopped in `finally`.
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

const log = createLogger('informer-test', process.env['TEST_LOG_LEVEL'] ?? 'silent');

describe('ResilientInformer on a real API server', { timeout: 180_000 }, () => {
  let cp: ControlPlane;
  let proxy: TcpProxy;
  let admin: CoreV1Api;
  before(async () => {
    // Without the watch cache, a watch resumes from etcd itself, so compaction really means 410.
    cp = await startControlPlane({ apiServerArgs: ['--watch-cache=false'] });
    proxy = await startTcpProxy(cp.port);
    admin = cp.kubeConfig().makeApiClient(CoreV1Api);
    for (const ns of ['inf', 'inf410', 'other']) await admin.createNamespace({ body: { metadata: { name: ns } } });
  });
  after(async () => {
    await proxy?.close();
    await cp?.stop();
  });

  const informerFor = (kc: KubeConfig, namespace: string, watchTimeoutSeconds?: number): { inf: ResilientInformer<V1ConfigMap>; seen: string[] } => {
    const core = kc.makeApiClient(CoreV1Api);
    const seen: string[] = [];
    const inf = new ResilientInformer<V1ConfigMap>({
      kc,
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      list: async () => core.listNamespacedConfigMap({ namespace }),
      log,
      backoff: { initialMs: 100, maxMs: 1000 },
      ...(watchTimeoutSeconds !== undefined ? { watchTimeoutSeconds } : {}),
    });
    inf.on((ev, cm) => seen.push(`${ev} ${cm.metadata?.name} ${cm.data?.['v'] ?? ''}`));
    return { inf, seen };
  };
  const mk = async (namespace: string, name: string, v: string): Promise<void> => {
    await admin.createNamespacedConfigMap({ namespace, body: { metadata: { name }, data: { v } } });
  };

  it('after a cut connection and a compaction, delivers every add, update and delete it missed', async () => {
    const kc = new KubeConfig();
    // The informer talks through the proxy; the test writes directly.
    kc.loadFromString(cp.kubeconfigYaml().replace(`:${cp.port}`, `:${proxy.port}`));
    const { inf, seen } = informerFor(kc, 'inf');
    try {
      await mk('inf', 'a', '1');
      await mk('inf', 'b', '1');
      await inf.start();
      assert.deepEqual([...seen].sort(), ['add a 1', 'add b 1']);
      await mk('inf', 'c', '1');
      await eventually('watch event for c', () => seen.includes('add c 1'));
      const rvBefore = inf.resourceVersion();

      proxy.cut();
      await eventually('the informer noticed', () => !inf.state().connected, 20_000);
      // While the informer is cut off: add, update, delete; then compact so its RV is too old.
      await mk('inf', 'd', '1');
      await admin.replaceNamespacedConfigMap({ name: 'b', namespace: 'inf', body: { metadata: { name: 'b' }, data: { v: '2' } } });
      await admin.deleteNamespacedConfigMap({ name: 'a', namespace: 'inf' });
      const compacted = await compactEtcd(cp.etcdUrl);
      assert.ok(Number(rvBefore) < compacted, 'the informer resourceVersion is now compacted away');
      proxy.restore();

      await eventually('the missed changes', () => ['add d 1', 'update b 2', 'delete a 1'].every((e) => seen.includes(e)), 30_000);
      assert.deepEqual(
        inf
          .list()
          .map((c) => c.metadata?.name)
          .sort(),
        ['b', 'c', 'd'],
      );
      await eventually('connected again', () => inf.state().connected, 30_000);
      // And it watches again afterwards.
      await mk('inf', 'e', '1');
      await eventually('watch event for e after recovery', () => seen.includes('add e 1'), 20_000);
      assert.ok(inf.stats().relists >= 2, 'it had to relist: the resourceVersion was compacted');
    } finally {
      inf.stop();
    }
  });

  it('resumes a timed-out watch into 410 Gone and relists (the path forced)', async () => {
    // A 2 s server-side watch timeout: the watch ends cleanly (no failure, so nothing else makes
    // the informer relist) and resumes from its resourceVersion, which compaction has removed.
    const { inf, seen } = informerFor(cp.kubeConfig(), 'inf410', 2);
    try {
      await mk('inf410', 'x', '1');
      await inf.start();
      await mk('inf410', 'y', '1');
      await eventually('watch event for y', () => seen.includes('add y 1'), 20_000);
      await admin.deleteNamespacedConfigMap({ name: 'x', namespace: 'inf410' });
      await eventually('delete seen', () => seen.includes('delete x 1'), 20_000);
      // Two writes elsewhere move etcd's revision past rv+1 (where the watch resumes); compact up to it.
      const rv = Number(inf.resourceVersion());
      await mk('other', 'bump1', '1');
      await mk('other', 'bump2', '1');
      assert.ok((await compactEtcd(cp.etcdUrl)) > rv + 1);
      await eventually('a 410 Gone and a relist', () => inf.stats().expired >= 1, 30_000);
      await eventually('watching again', () => inf.state().connected && inf.stats().relists >= 2, 30_000);
      await mk('inf410', 'z', '1');
      await eventually('watch event for z', () => seen.includes('add z 1'), 20_000);
      assert.deepEqual(
        inf
          .list()
          .map((c) => c.metadata?.name)
          .sort(),
        ['y', 'z'],
      );
      assert.equal(inf.stats().watchErrors, 0, 'a 410 is not a failure');
    } finally {
      inf.stop();
    }
  });
});
