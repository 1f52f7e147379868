/**
 * The controller with IPAddressPools and L2Advertisements on a real API server: CRDs installed
 * after it started (picked up without a restart), MetalLB's serviceAllocation semantics, both
 * configuration styles merged, status on the objects, the Service condition and Warning Event
 * for IPs nobody announces (metallb#1154), invalid objects that change nothing, and the
 * mass-release guard for object changes. Every assertion reads API state.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type KubeConfig, PatchStrategy, type V1Service, setHeaderOptions } from '@kubernetes/client-node';
import { Controller } from '@ironlb/controller';
import { createLogger } from '@ironlb/k8s';
import { type ControlPlane, startControlPlane } from '../controlplane/controlplane.js';
import { advertisement, apply, getObject, installCrds, pool, remove } from './crd-helpers.js';
import { Api, eventually, sleep } from './helpers.js';

const NS = 'ironlb-system';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const log = createLogger('crd-controller-test', process.env['TEST_LOG_LEVEL'] ?? 'silent');

interface PoolStatus {
  assignedIPv4?: number;
  availableIPv4?: number;
  assignedIPv6?: number;
  availableIPv6?: number;
  conditions?: { type: string; status: string; reason: string; message: string }[];
}

describe('controller with ironlb.io objects', { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let api: Api;
  let controller: Controller;
  const status = async (name: string): Promise<PoolStatus | undefined> => (await getObject<{ status?: PoolStatus }>(kc, 'IPAddressPool', NS, name))?.status;
  const cond = (s: PoolStatus | undefined, type: string): string => {
    const c = s?.conditions?.find((x) => x.type === type);
    return c === undefined ? '-' : `${c.status}/${c.reason}`;
  };
  const advertisedCondition = async (ns: string, name: string): Promise<string> => {
    const s: V1Service = await api.service(ns, name);
    const c = (s.status?.conditions ?? []).find((x) => x.type === 'ironlb.io/Advertised');
    return c === undefined ? 'none' : `${c.status}/${c.reason}`;
  };

  before(async () => {
    cp = await startControlPlane();
    kc = cp.kubeConfig();
    api = new Api(kc);
    await api.namespace(NS);
    for (const [name, labels] of [
      ['n1', { zone: 'a' }],
      ['n2', { zone: 'b' }],
    ] as const) {
      await api.core.createNode({ body: { metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } } } });
    }
    controller = new Controller({ kc, log, namespace: NS, crdRecheckMs: 300, statusIntervalMs: 100, backoff: { initialMs: 50, maxMs: 500 } });
    await controller.start();
  });
  after(async () => {
    controller?.stop();
    await cp?.stop();
  });

  it('works with the ConfigMap alone, then picks the CRDs up when they are installed, without a restart', async () => {
    await api.setConfig(NS, 'address-pools:\n- name: legacy\n  protocol: layer2\n  addresses: [198.51.100.200-198.51.100.203]\n');
    await api.namespace('old');
    await api.createService('old', 'a');
    assert.deepEqual(await api.waitIngress('old', 'a'), ['198.51.100.200']);
    await installCrds(kc);
    await apply(kc, [pool('crd', { addresses: ['198.51.100.16/29'] }), advertisement('everywhere')]);
    await api.namespace('new');
    await api.createService('new', 'b', {}, { 'metallb.io/address-pool': 'crd' });
    assert.deepEqual(await api.waitIngress('new', 'b', 1, 20_000), ['198.51.100.16'], 'an IPAddressPool serves once the CRDs appear');
    assert.deepEqual(await api.ingress('old', 'a'), ['198.51.100.200'], 'the ConfigMap pool still stands (both styles merged)');
    const s = await eventually('pool status', async () => {
      const st = await status('crd');
      return st?.assignedIPv4 === 1 ? st : undefined;
    });
    assert.deepEqual([s.assignedIPv4, s.availableIPv4, s.assignedIPv6, s.availableIPv6], [1, 7, 0, 0]);
    assert.equal(cond(s, 'Valid'), 'True/InForce');
    assert.equal(cond(s, 'Advertised'), 'True/Advertised');
    const adv = await eventually('advertisement status', async () => {
      const a = await getObject<{ status?: { selectedNodes?: string[]; selectedNodeCount?: number } }>(kc, 'L2Advertisement', NS, 'everywhere');
      return a?.status?.selectedNodeCount === 2 ? a.status : undefined;
    });
    assert.deepEqual(adv.selectedNodes, ['n1', 'n2']);
  });

  it('serviceAllocation: namespaces, namespace and service selectors, priority; autoAssign false; avoidBuggyIPs', async () => {
    await api.namespace('team');
    await api.core.patchNamespace({ name: 'team', body: { metadata: { labels: { team: 'data' } } } }, mergePatch);
    await apply(kc, [
      pool('for-shop', { addresses: ['198.51.100.32/30'], serviceAllocation: { priority: 2, namespaces: ['shop'] } }),
      pool('for-gold', { addresses: ['198.51.100.36/30'], serviceAllocation: { priority: 1, serviceSelectors: [{ matchLabels: { tier: 'gold' } }] } }),
      pool('for-data', { addresses: ['198.51.100.40/30'], serviceAllocation: { namespaceSelectors: [{ matchLabels: { team: 'data' } }] } }),
      pool('manual', { addresses: ['198.51.100.255', '198.51.100.252'], autoAssign: false, avoidBuggyIPs: true }),
    ]);
    await sleep(300);
    await api.namespace('shop');
    await api.createService('shop', 'plain');
    assert.deepEqual(await api.waitIngress('shop', 'plain'), ['198.51.100.32'], 'namespace-pinned pool');
    await api.core.createNamespacedService({ namespace: 'shop', body: { metadata: { name: 'gold', labels: { tier: 'gold' } }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] } } });
    assert.deepEqual(await api.waitIngress('shop', 'gold'), ['198.51.100.36'], 'priority 1 beats priority 2');
    await api.createService('team', 'db');
    assert.deepEqual(await api.waitIngress('team', 'db'), ['198.51.100.40'], 'namespaceSelectors read Namespace labels');
    await api.createService('old', 'c');
    const [ip] = await api.waitIngress('old', 'c');
    assert.ok(ip === '198.51.100.201' || ip === '198.51.100.17', `a Service matching no pinned pool gets a general pool, got ${ip}`);
    await api.createService('old', 'manual', {}, { 'ironlb.io/address-pool': 'manual' });
    assert.deepEqual(await api.waitIngress('old', 'manual'), ['198.51.100.252'], 'autoAssign false serves by request; .255 is skipped (avoidBuggyIPs)');
    await api.namespace('other');
    await api.createService('other', 'asks-shop', { loadBalancerIP: '198.51.100.33' });
    await api.waitEvent('other', 'asks-shop', /^Warning AllocationFailed: .*pool "for-shop" does not serve namespace "other"/);
  });

  it('an IP nobody can announce: Warning Event and ironlb.io/Advertised=False, cleared when an advertisement covers it', async () => {
    await remove(kc, advertisement('everywhere'));
    await apply(kc, [pool('dark', { addresses: ['198.51.100.48/30'] }), advertisement('only-crd', { ipAddressPools: ['crd', 'for-shop', 'for-gold', 'for-data', 'manual'] })]);
    await api.namespace('lost');
    await api.createService('lost', 'x', {}, { 'ironlb.io/address-pool': 'dark' });
    assert.deepEqual(await api.waitIngress('lost', 'x'), ['198.51.100.48'], 'allocated anyway (MetalLB semantics)');
    await api.waitEvent('lost', 'x', /^Warning NotAdvertised: IP 198\.51\.100\.48 is allocated but no node announces it: no L2Advertisement covers pool "dark"/);
    assert.equal(await eventually('condition', async () => ((await advertisedCondition('lost', 'x')) === 'False/NoL2Advertisement' ? 'ok' : undefined)), 'ok');
    assert.equal(cond(await eventually('dark status', async () => ((await status('dark'))?.conditions?.length === 2 ? status('dark') : undefined)), 'Advertised'), 'False/NoAdvertisement');
    // An advertisement whose node selector matches nothing still leaves it unannounced.
    await apply(kc, [advertisement('zone-c', { ipAddressPools: ['dark'], nodeSelectors: [{ matchLabels: { zone: 'c' } }] })]);
    await eventually('NoSelectedNodes', async () => ((await advertisedCondition('lost', 'x')) === 'False/NoSelectedNodes' ? true : undefined));
    // A node joins zone c: announceable again, the condition goes away.
    await api.core.patchNode({ name: 'n2', body: { metadata: { labels: { zone: 'c' } } } }, mergePatch);
    await eventually('condition cleared', async () => ((await advertisedCondition('lost', 'x')) === 'none' ? true : undefined), 15_000);
    await eventually('pool says Advertised', async () => (cond(await status('dark'), 'Advertised') === 'True/Advertised' ? true : undefined));
  });

  it('an invalid change (the webhook is off) changes nothing and says why on the object', async () => {
    // Grows into "crd"'s addresses: refused; the version in force stays.
    await apply(kc, [pool('dark', { addresses: ['198.51.100.48/30', '198.51.100.16/28'] })]);
    const s = await eventually('Valid=False', async () => {
      const st = await status('dark');
      return cond(st, 'Valid') === 'False/Invalid' ? st : undefined;
    });
    assert.match(s.conditions?.find((c) => c.type === 'Valid')?.message ?? '', /IPv4 range 198\.51\.100\.16\/28 overlaps 198\.51\.100\.16\/29 in pool "crd".*The previous version stays in force\./);
    await api.waitEvent(NS, 'dark', /^Warning InvalidConfig: .*overlaps 198\.51\.100\.16\/29 in pool "crd"/);
    assert.deepEqual(await api.ingress('lost', 'x'), ['198.51.100.48'], 'nothing was taken away');
    await apply(kc, [pool('dark', { addresses: ['198.51.100.48/30'] })]);
    await eventually('Valid again', async () => (cond(await status('dark'), 'Valid') === 'True/InForce' ? true : undefined));
  });

  it('a pool name in both the ConfigMap and an IPAddressPool: the object wins; migration keeps announcing', async () => {
    await apply(kc, [pool('legacy', { addresses: ['198.51.100.200-198.51.100.203'] })]);
    await sleep(500);
    assert.deepEqual(await api.ingress('old', 'a'), ['198.51.100.200'], 'same addresses: nothing moves');
    const conf = controller.config();
    assert.equal(conf?.pools.find((p) => p.name === 'legacy')?.source, 'crd');
    assert.ok(
      conf?.l2Advertisements?.some((a) => a.name === '(ConfigMap)' && a.ipAddressPools.includes('legacy')),
      'the ConfigMap still announces its pool names',
    );
  });

  it('the mass-release guard: with the operator limit at 0, a change that strands a Service is refused and moves nothing', async () => {
    await apply(kc, [{ ...pool('dark', { addresses: ['198.51.100.48/30'] }), metadata: { name: 'dark', namespace: NS, annotations: { 'ironlb.io/max-ip-release': '0' } } }]);
    await sleep(300);
    const before = await api.ingress('new', 'b');
    assert.deepEqual(before, ['198.51.100.16']);
    await apply(kc, [pool('crd', { addresses: ['198.51.100.24/29'] })]);
    const s = await eventually('refused', async () => {
      const st = await status('crd');
      return cond(st, 'Valid') === 'False/ReleaseRefused' ? st : undefined;
    });
    assert.match(
      s.conditions?.find((c) => c.type === 'Valid')?.message ?? '',
      /refused: this config would take the IPs away from .*new\/b.*annotate ipaddresspool crd --overwrite ironlb\.io\/max-ip-release=1/,
    );
    await api.waitEvent(NS, 'crd', /^Warning ConfigRefused: refused: /);
    assert.deepEqual(await api.ingress('new', 'b'), before, 'the refused change took nothing away');
    await apply(kc, [pool('crd', { addresses: ['198.51.100.16/29'] })]);
    await eventually('valid again', async () => (cond(await status('crd'), 'Valid') === 'True/InForce' ? true : undefined));
    assert.deepEqual(await api.ingress('new', 'b'), before);
  });
});
