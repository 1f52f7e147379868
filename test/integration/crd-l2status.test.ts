/**
 * ServiceL2Status on a real API server, written by the adapter the speaker calls: created with
 * node, interfaces, IPs and since when; taken over by another node; withdrawn only by the node it
 * names; and removed with its Service by the garbage collector (kube-controller-manager's, started
 * here with only that controller) through the owner reference.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { ServiceL2StatusWriter, createLogger } from '@ironlb/k8s';
import { type ControlPlane, controlPlaneBinDir, startControlPlane } from '../controlplane/controlplane.js';
import { getObject, installCrds } from './crd-helpers.js';
import { Api, eventually, sleep } from './helpers.js';

const log = createLogger('crd-l2status-test', process.env['TEST_LOG_LEVEL'] ?? 'silent');

interface L2 {
  metadata: { labels?: Record<string, string>; ownerReferences?: { kind: string; name: string; uid: string }[]; resourceVersion?: string };
  status: { node: string; interfaces: { name: string }[]; ips: string[]; since: string; serviceName: string; serviceNamespace: string };
}

describe('ServiceL2Status on a real API server', { timeout: 240_000 }, () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let api: Api;
  let gc: ChildProcess | undefined;
  const bin = controlPlaneBinDir();
  const kcm = join(bin, 'kube-controller-manager');

  before(async () => {
    cp = await startControlPlane();
    kc = cp.kubeConfig();
    api = new Api(kc);
    await installCrds(kc);
    await api.namespace('shop');
  });
  after(async () => {
    gc?.kill('SIGKILL');
    await cp?.stop();
  });

  it('records who announces, with the Service as owner; a takeover overwrites; only the named node withdraws', async () => {
    const svc = await api.createService('shop', 'front');
    const ref = { namespace: 'shop', name: 'front', uid: svc.metadata?.uid };
    const n1 = new ServiceL2StatusWriter(kc, { log, backoff: { initialMs: 50, maxMs: 500 } });
    const n2 = new ServiceL2StatusWriter(kc, { log, backoff: { initialMs: 50, maxMs: 500 } });
    try {
      const t1 = new Date('2026-01-01T00:00:00Z');
      n1.announce(ref, { node: 'n1', interfaces: ['eth0'], ips: ['198.51.100.7'], since: t1 });
      await n1.idle();
      const first = await getObject<L2>(kc, 'ServiceL2Status', 'shop', 'front');
      assert.deepEqual(first?.status, { node: 'n1', serviceName: 'front', serviceNamespace: 'shop', interfaces: [{ name: 'eth0' }], ips: ['198.51.100.7'], since: '2026-01-01T00:00:00.000Z' });
      assert.equal(first?.metadata.labels?.['ironlb.io/node'], 'n1');
      assert.deepEqual(
        first?.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid]),
        [['Service', 'front', svc.metadata?.uid]],
      );
      // n1 fails over to n2 (interfaces: all).
      n2.announce(ref, { node: 'n2', interfaces: null, ips: ['198.51.100.7'], since: new Date('2026-01-01T00:01:00Z') });
      await n2.idle();
      // n1 notices late and withdraws: the record is n2's now and stays.
      n1.withdraw(ref, 'n1');
      await n1.idle();
      const taken = await getObject<L2>(kc, 'ServiceL2Status', 'shop', 'front');
      assert.deepEqual([taken?.status.node, taken?.status.interfaces, taken?.metadata.labels?.['ironlb.io/node']], ['n2', [], 'n2']);
      n2.withdraw(ref, 'n2');
      await n2.idle();
      assert.equal(await getObject<L2>(kc, 'ServiceL2Status', 'shop', 'front'), undefined, 'the announcer removes its own record');
      assert.ok(n1.stats().writes >= 1 && n2.stats().failures === 0);
    } finally {
      n1.stop();
      n2.stop();
    }
  });

  it('is deleted with its Service (garbage collector, owner reference)', { skip: !existsSync(kcm) ? `no ${kcm}: run test/controlplane/build.sh cluster` : false }, async () => {
    const kubeconfig = join(cp.dir, 'gc.kubeconfig');
    writeFileSync(kubeconfig, cp.kubeconfigYaml(), { mode: 0o600 });
    gc = spawn(kcm, ['--kubeconfig', kubeconfig, '--controllers=garbagecollector', '--leader-elect=false', '--secure-port=0', '--use-service-account-credentials=false', '-v=1'], { stdio: 'ignore' });
    const svc = await api.createService('shop', 'temp');
    const w = new ServiceL2StatusWriter(kc, { log });
    try {
      w.announce({ namespace: 'shop', name: 'temp', uid: svc.metadata?.uid }, { node: 'n1', interfaces: null, ips: ['198.51.100.8'], since: new Date() });
      await w.idle();
      assert.ok(await getObject<L2>(kc, 'ServiceL2Status', 'shop', 'temp'));
      // Give the garbage collector time to build its graph, then delete the owner.
      await sleep(2000);
      await api.core.deleteNamespacedService({ name: 'temp', namespace: 'shop' });
      await eventually('ServiceL2Status garbage-collected', async () => ((await getObject<L2>(kc, 'ServiceL2Status', 'shop', 'temp')) === undefined ? true : undefined), 90_000, 500);
    } finally {
      w.stop();
    }
  });
});
