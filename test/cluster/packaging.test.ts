/**
 * The Helm chart and the kustomize base install exactly what deploy/ironlb.yaml does, and their
 * values/overlay knobs (image, pools, log level, node selectors, tolerations) change what they say.
 * (Installing the chart on a real cluster is in cluster.test.ts.)
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { type Obj, helmBin, helmObjects, kustomizeObjects, manifestObjects, objKey } from './packaging.js';

const root = join(import.meta.dirname, '..', '..');

/** Objects by identity, for a comparison that names the object that differs. */
function byKey(objs: readonly Obj[]): Map<string, Obj> {
  const m = new Map<string, Obj>();
  for (const o of objs) {
    assert.ok(!m.has(objKey(o)), `duplicate ${objKey(o)}`);
    m.set(objKey(o), o);
  }
  return m;
}

function assertSameObjects(actual: readonly Obj[], expected: readonly Obj[], what: string): void {
  const a = byKey(actual);
  const e = byKey(expected);
  assert.deepEqual([...a.keys()].sort(), [...e.keys()].sort(), `${what}: the same objects`);
  for (const [k, o] of e) assert.deepEqual(a.get(k), o, `${what}: ${k} differs from deploy/ironlb.yaml`);
}

type Pod = { nodeSelector?: Record<string, string>; tolerations?: unknown[]; containers: { image: string; args: string[] }[] };
const podSpec = (objs: readonly Obj[], kind: string): Pod => {
  const o = objs.find((x) => x.kind === kind);
  return (o as unknown as { spec: { template: { spec: Pod } } }).spec.template.spec;
};

describe('packaging: Helm chart and kustomize base', { timeout: 15 * 60_000 }, () => {
  test('helm lint passes and `helm template` with default values renders deploy/ironlb.yaml (RBAC: npx tsx test/cluster/sync-packaging.ts)', { timeout: 12 * 60_000 }, () => {
    execFileSync(helmBin(), ['lint', '--strict', join(root, 'deploy/helm/ironlb')], { stdio: ['ignore', 'pipe', 'pipe'] });
    assertSameObjects(helmObjects(), manifestObjects(), 'helm template');
  });

  test('the kustomize base renders deploy/ironlb.yaml (base/ironlb.yaml is its copy: npx tsx test/cluster/sync-packaging.ts)', { timeout: 5 * 60_000 }, () => {
    assertSameObjects(kustomizeObjects('deploy/kustomize/base'), manifestObjects(), 'kustomize base');
  });

  test('chart values set the image, pools, log level, node selectors and tolerations', { timeout: 60_000 }, () => {
    const objs = helmObjects([
      '--set',
      'image.repository=registry.example.com/ironlb',
      '--set',
      'image.tag=0.2.0',
      '--set',
      'logLevel=debug',
      '--set-json',
      'addressPools=[{"name":"lab","protocol":"layer2","addresses":["198.51.100.200-198.51.100.210"]}]',
      '--set-json',
      'speaker.nodeSelector={"ironlb.io/speaker":"true"}',
      '--set-json',
      'controller.tolerations=[{"key":"dedicated","operator":"Exists","effect":"NoSchedule"}]',
    ]);
    for (const kind of ['Deployment', 'DaemonSet']) {
      const c = podSpec(objs, kind).containers[0];
      assert.equal(c?.image, 'registry.example.com/ironlb:0.2.0');
      assert.deepEqual(c?.args, ['--log-level=debug']);
    }
    // Helm merges maps with the defaults: the new selector comes on top of kubernetes.io/os.
    assert.deepEqual(podSpec(objs, 'DaemonSet').nodeSelector, { 'ironlb.io/speaker': 'true', 'kubernetes.io/os': 'linux' });
    assert.deepEqual(podSpec(objs, 'Deployment').tolerations, [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }]);
    const cm = objs.find((o) => o.kind === 'ConfigMap') as unknown as { metadata: { name: string; namespace: string }; data: { config: string } };
    assert.equal(cm.metadata.name, 'config');
    assert.equal(cm.metadata.namespace, 'ironlb-system');
    assert.deepEqual(parse(cm.data.config), { 'address-pools': [{ name: 'lab', protocol: 'layer2', addresses: ['198.51.100.200-198.51.100.210'] }] });
    // namespace.create=false: for installing into a namespace that exists.
    assert.ok(!helmObjects(['--set', 'namespace.create=false']).some((o) => o.kind === 'Namespace'));
  });

  test('the kustomize example overlay sets the image, pools, log level, node selector and a toleration', { timeout: 60_000 }, () => {
    const objs = kustomizeObjects('deploy/kustomize/example');
    for (const kind of ['Deployment', 'DaemonSet']) {
      assert.equal(podSpec(objs, kind).containers[0]?.image, 'registry.example.com/ironlb:0.1.0');
      assert.deepEqual(podSpec(objs, kind).containers[0]?.args, ['--log-level=debug']);
    }
    assert.equal(podSpec(objs, 'DaemonSet').nodeSelector?.['ironlb.io/speaker'], 'true');
    assert.ok((podSpec(objs, 'DaemonSet').tolerations ?? []).some((t) => (t as { key?: string }).key === 'dedicated'));
    assert.ok(objs.some((o) => o.kind === 'ConfigMap' && o.metadata?.name === 'config' && o.metadata.namespace === 'ironlb-system'));
  });
});
