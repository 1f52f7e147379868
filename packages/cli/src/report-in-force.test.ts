import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Service } from '@kubernetes/client-node';
import { IN_FORCE_KEY, encodeInForce } from '@ironlb/core';
import { configFromObjects, configFromSources } from '@ironlb/k8s';
import { type ClusterView, effectiveConfig, explain, statusReport } from './report.js';

const pool = (name: string, created: string, addresses: string[]): ClusterView['pools'][number] => ({ metadata: { name, creationTimestamp: new Date(created) }, spec: { addresses } });
const all = { metadata: { name: 'all' }, spec: {} };
const svc = (ns: string, name: string, ips: string[]): V1Service => ({
  metadata: { namespace: ns, name, creationTimestamp: new Date(0) },
  spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }], selector: { app: name } },
  status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } },
});

function view(o: Partial<ClusterView>): ClusterView {
  return {
    namespace: 'ironlb-system',
    configMapName: 'config',
    lbClass: undefined,
    configMap: undefined,
    pools: [],
    advertisements: [all],
    crds: true,
    services: [],
    nodes: [],
    namespaces: [],
    slices: [],
    l2statuses: [],
    speakers: undefined,
    now: 0,
    notes: [],
    ...o,
  };
}
const inForceCm = (text: string): ClusterView['inForce'] => ({ metadata: { name: 'ironlb-config-in-force', namespace: 'ironlb-system' }, data: { [IN_FORCE_KEY]: text } });
const names = (v: ClusterView): string[] => (effectiveConfig(v).config?.pools ?? []).map((p) => `${p.name}:${p.addresses.map((r) => r.text).join(',')}`);

void describe('kubectl ironlb status/explain seeded from the published config in force', { timeout: 10_000 }, () => {
  const a = pool('a', '2024-01-02T00:00:00Z', ['198.51.100.16/28']);
  const bOld = pool('b', '2024-01-01T00:00:00Z', ['198.51.100.0/28']);
  const bNew = pool('b', '2024-01-01T00:00:00Z', ['198.51.100.0/27']);
  const first = configFromObjects({ pools: [a, bOld], advertisements: [all] }).config;
  const controller = configFromObjects({ pools: [a, bNew], advertisements: [all], previous: first }).config;

  void it("tells the controller's story: the pool in force keeps its addresses, the edited one its previous version", () => {
    assert.deepEqual(names(view({ pools: [a, bNew] })), ['b:198.51.100.0/27'], 'without the document: a different story');
    const v = view({ pools: [a, bNew], inForce: inForceCm(encodeInForce(controller)), services: [svc('app', 'web', ['198.51.100.17'])] });
    assert.deepEqual(names(v), ['a:198.51.100.16/28', 'b:198.51.100.0/28']);
    const r = explain(v, 'app', 'web');
    assert.doesNotMatch(r.verdict, /no pool|not in any pool/i, r.verdict);
    assert.ok(statusReport(v).problems.some((p) => /previous version in force/.test(p)));
  });

  void it('shows the ConfigMap pools still in force after the ConfigMap was deleted, and how to remove them', () => {
    const text = 'address-pools:\n- name: legacy\n  protocol: layer2\n  addresses: [198.51.100.200-198.51.100.203]\n';
    const withCm = configFromSources({ configMapText: text, pools: [a], advertisements: [all] }).config;
    const v = view({ pools: [a], inForce: inForceCm(encodeInForce(withCm)) });
    assert.deepEqual(names(v), ['legacy:198.51.100.200/30', 'a:198.51.100.16/28']);
    const r = statusReport(v);
    assert.ok(
      r.problems.some((p) => /does not exist, but its pools stay in force.*address-pools: \[\]/.test(p)),
      r.problems.join('\n'),
    );
  });

  void it('says so when the document is corrupt, and decides without it', () => {
    const v = view({ pools: [a, bNew], inForce: inForceCm('{"format": "nope"}') });
    assert.deepEqual(names(v), ['b:198.51.100.0/27']);
    assert.ok(statusReport(v).problems.some((p) => /ironlb-config-in-force is invalid/.test(p)));
  });
});
