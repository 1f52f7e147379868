/**
 * The controller against a real kube-apiserver + etcd: every assertion reads API state.
 * One control plane for the file; each scenario uses its own namespace for Services and sets
 * the address-pool ConfigMap it needs (the controller reloads it live).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Controller } from '@ironlb/controller';
import { createLogger } from '@ironlb/k8s';
import { type ControlPlane, startControlPlane } from '../controlplane/controlplane.js';
import { Api, eventually, sleep } from './helpers.js';

const NS = 'ironlb-system';
const log = createLogger('controller-test', process.env['TEST_LOG_LEVEL'] ?? 'silent');

const POOLS = `
address-pools:
- name: default
  protocol: layer2
  addresses: [198.51.100.200-198.51.100.203, 2001:db8::1:c8-2001:db8::1:cb]
- name: reserved
  protocol: layer2
  auto-assign: false
  addresses: [198.51.100.240/30]
`;

describe('controller on a real API server', { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let api: Api;
  let controller: Controller;
  const startController = async (): Promise<Controller> => {
    const c = new Controller({ kc: cp.kubeConfig(), log, namespace: NS });
    await c.start();
    return c;
  };

  before(async () => {
    cp = await startControlPlane();
    api = new Api(cp.kubeConfig());
    await api.namespace(NS);
    await api.setConfig(NS, POOLS);
    controller = await startController();
  });
  after(async () => {
    controller?.stop();
    await cp?.stop();
  });

  it('creates the memberlist Secret and allocates the first free IP, with pool annotation and event', async () => {
    const secret = await api.core.readNamespacedSecret({ name: 'memberlist', namespace: NS });
    assert.ok((secret.data?.['secretkey'] ?? '').length > 20, 'random memberlist key');
    await api.namespace('alloc');
    await api.createService('alloc', 'web');
    const [ip] = await api.waitIngress('alloc', 'web');
    assert.equal(ip, '198.51.100.200');
    const pool = await eventually('pool annotation', async () => (await api.service('alloc', 'web')).metadata?.annotations?.['ironlb.io/ip-allocated-from-pool']);
    assert.equal(pool, 'default');
    await api.waitEvent('alloc', 'web', /^Normal IPAllocated: Assigned IP \["198\.51\.100\.200"\]/);
  });

  it('honours requested IPs from spec and from each annotation prefix, refuses contradictions', async () => {
    await api.namespace('req');
    await api.createService('req', 'spec', { loadBalancerIP: '198.51.100.202' });
    await api.createService('req', 'ann', {}, { 'metallb.universe.tf/loadBalancerIPs': '198.51.100.241' });
    assert.deepEqual(await api.waitIngress('req', 'spec'), ['198.51.100.202']);
    assert.deepEqual(await api.waitIngress('req', 'ann'), ['198.51.100.241'], 'auto-assign:false pool serves explicit requests');
    await api.createService('req', 'both', { loadBalancerIP: '198.51.100.201' }, { 'ironlb.io/loadBalancerIPs': '198.51.100.203' });
    await api.waitEvent('req', 'both', /^Warning LoadBalancerFailed: spec\.loadBalancerIP and the loadBalancerIPs annotation are both set/);
    assert.deepEqual(await api.ingress('req', 'both'), [], 'stays pending');
    await api.createService('req', 'taken', { loadBalancerIP: '198.51.100.200' });
    await api.waitEvent('req', 'taken', /^Warning AllocationFailed: .*198\.51\.100\.200/);
    await api.createService('req', 'outside', { loadBalancerIP: '198.51.100.150' });
    await api.waitEvent('req', 'outside', /^Warning AllocationFailed: .*198\.51\.100\.150/);
    assert.deepEqual(await api.ingress('req', 'outside'), []);
  });

  it('takes the pool named by the address-pool annotation', async () => {
    await api.namespace('pool');
    await api.createService('pool', 'reserved', {}, { 'ironlb.io/address-pool': 'reserved' });
    const [ip] = await api.waitIngress('pool', 'reserved');
    assert.equal(ip, '198.51.100.240');
    await api.createService('pool', 'nosuch', {}, { 'metallb.io/address-pool': 'nosuch' });
    await api.waitEvent('pool', 'nosuch', /^Warning AllocationFailed: .*nosuch/);
  });

  it('shares an IP between services with the same key and disjoint ports, and refuses a port clash', async () => {
    await api.namespace('share');
    const key = { 'ironlb.io/allow-shared-ip': 'k1' };
    await api.createService('share', 'a', { loadBalancerIP: '198.51.100.242', ports: [{ port: 80, protocol: 'TCP' }] }, key);
    await api.createService('share', 'b', { loadBalancerIP: '198.51.100.242', ports: [{ port: 53, protocol: 'UDP' }] }, key);
    assert.deepEqual(await api.waitIngress('share', 'a'), ['198.51.100.242']);
    assert.deepEqual(await api.waitIngress('share', 'b'), ['198.51.100.242']);
    await api.createService('share', 'c', { loadBalancerIP: '198.51.100.242', ports: [{ port: 80, protocol: 'TCP' }] }, key);
    await api.waitEvent('share', 'c', /^Warning AllocationFailed: .*198\.51\.100\.242/);
    await api.createService('share', 'd', { loadBalancerIP: '198.51.100.242', ports: [{ port: 8080, protocol: 'TCP' }] }, { 'ironlb.io/allow-shared-ip': 'other' });
    await api.waitEvent('share', 'd', /^Warning AllocationFailed/);
    assert.deepEqual(await api.ingress('share', 'c'), []);
    assert.deepEqual(await api.ingress('share', 'd'), []);
  });

  it('gives a RequireDualStack service one IPv4 and one IPv6 address', async () => {
    await api.namespace('dual');
    await api.createService('dual', 'ds', { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'] });
    const ips = await api.waitIngress('dual', 'ds', 2);
    assert.equal(ips[0], '2001:db8::1:c8', 'primary family first');
    assert.match(ips[1] ?? '', /^198\.51\.100\.20[0-3]$/);
    await api.createService('dual', 'v6', { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'] });
    assert.deepEqual(await api.waitIngress('dual', 'v6'), ['2001:db8::1:c9']);
  });

  it('ignores services of another loadBalancerClass and non-LoadBalancer services', async () => {
    await api.namespace('cls');
    await api.createService('cls', 'other', { loadBalancerClass: 'example.com/other' });
    await api.createService('cls', 'plain', { type: 'ClusterIP' });
    await sleep(1000);
    assert.deepEqual(await api.ingress('cls', 'other'), []);
    assert.equal((await api.service('cls', 'other')).metadata?.annotations?.['ironlb.io/ip-allocated-from-pool'], undefined);
    assert.deepEqual(await api.events('cls', 'other'), [], 'no events on services of another class');
  });

  it('releases the IP when the type changes, and a freed IP goes to a pending service', async () => {
    await api.namespace('free');
    // Fill the default v4 range: .200 and .202 are taken, one of .201/.203 went to dual/ds.
    const free = ['198.51.100.201', '198.51.100.203'];
    const held = new Set<string>();
    for (const ns of ['alloc', 'req', 'dual']) {
      for (const s of (await api.core.listNamespacedService({ namespace: ns })).items) for (const i of s.status?.loadBalancer?.ingress ?? []) held.add(i.ip ?? '');
    }
    const left = free.filter((ip) => !held.has(ip));
    assert.equal(left.length, 1);
    await api.createService('free', 'last');
    assert.deepEqual(await api.waitIngress('free', 'last'), left);
    await api.createService('free', 'pending');
    await api.waitEvent('free', 'pending', /^Warning AllocationFailed: .*no available IPs/);
    // Type change away from LoadBalancer releases .. and pending takes it.
    const svc = await api.service('free', 'last');
    svc.spec = { ...svc.spec, type: 'ClusterIP' };
    delete svc.spec.externalTrafficPolicy;
    for (const p of svc.spec.ports ?? []) delete p.nodePort;
    delete svc.spec.allocateLoadBalancerNodePorts;
    await api.core.replaceNamespacedService({ name: 'last', namespace: 'free', body: svc });
    assert.deepEqual(await api.waitIngress('free', 'pending'), left, 'the freed IP went to the pending service');
    const last = await api.service('free', 'last');
    assert.equal(last.status?.loadBalancer?.ingress, undefined);
    assert.equal(last.metadata?.annotations?.['ironlb.io/ip-allocated-from-pool'], undefined, 'pool annotation removed');
    // Deletion frees too.
    await api.createService('free', 'pending2');
    await api.waitEvent('free', 'pending2', /^Warning AllocationFailed/);
    await api.core.deleteNamespacedService({ name: 'pending', namespace: 'free' });
    assert.deepEqual(await api.waitIngress('free', 'pending2'), left);
  });

  it('keeps the last good config on a bad ConfigMap, says why, and recovers when fixed', async () => {
    await api.setConfig(NS, 'address-pools:\n- name: bad\n  protocol: bgp\n  addresses: [198.51.100.9-198.51.100.1]\n');
    const ev = await api.waitEvent(NS, 'config', /^Warning InvalidConfig: invalid config, keeping the last good config: .*BGP mode is not supported; use layer2/);
    assert.match(ev, /reversed/);
    const stale = await controller.metrics.registry.getSingleMetricAsString('ironlb_k8s_client_config_stale_bool');
    assert.match(stale, /ironlb_k8s_client_config_stale_bool 1/);
    // The old pools still work.
    await api.namespace('stale');
    await api.createService('stale', 'r', {}, { 'ironlb.io/address-pool': 'reserved' });
    assert.deepEqual(await api.waitIngress('stale', 'r'), ['198.51.100.243']);
    // Fix it: add a pool; it takes effect without restart.
    await api.setConfig(NS, POOLS + '- name: extra\n  protocol: layer2\n  addresses: [198.51.100.220/32]\n');
    await api.waitEvent(NS, 'config', /^Normal ConfigLoaded: loaded 3 address pool/);
    await api.createService('stale', 'x', {}, { 'ironlb.io/address-pool': 'extra' });
    assert.deepEqual(await api.waitIngress('stale', 'x'), ['198.51.100.220']);
    assert.match(await controller.metrics.registry.getSingleMetricAsString('ironlb_k8s_client_config_stale_bool'), /stale_bool 0/);
  });

  it('reassigns, with a Warning, a service whose IP left every pool', async () => {
    // Drop the "extra" pool: stale/x's 198.51.100.220 is no longer in any pool.
    await api.setConfig(NS, POOLS.replace('[198.51.100.240/30]', '[198.51.100.240/29]'));
    await api.waitEvent('stale', 'x', /^Warning ClearAssignment: current IP 198\.51\.100\.220 cannot be kept/);
    // It asked for pool "extra", which is gone: it stays pending with a reason.
    await api.waitEvent('stale', 'x', /^Warning AllocationFailed: .*extra/);
    assert.deepEqual(await api.ingress('stale', 'x'), []);
    // Its request removed → it gets a new IP from an auto-assign pool... none left in default v4,
    // so move it to "reserved" explicitly and check the new IP.
    const svc = await api.service('stale', 'x');
    svc.metadata!.annotations!['ironlb.io/address-pool'] = 'reserved';
    await api.core.replaceNamespacedService({ name: 'x', namespace: 'stale', body: svc });
    assert.deepEqual(await api.waitIngress('stale', 'x'), ['198.51.100.244']);
  });

  it('changes no assigned IP across a controller restart with pending services', async () => {
    const snapshot = async (): Promise<Map<string, string>> => {
      const m = new Map<string, string>();
      for (const s of (await api.core.listServiceForAllNamespaces()).items) {
        const ips = (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).join(',');
        if (ips) m.set(`${s.metadata?.namespace}/${s.metadata?.name}`, ips);
      }
      return m;
    };
    controller.stop();
    const before = await snapshot();
    // Pending services created while the controller is down, listed before the assigned ones
    // alphabetically and by namespace, so a naive pass would hand them in-use IPs first.
    await api.namespace('aaa');
    for (const n of ['p1', 'p2', 'p3']) await api.createService('aaa', n, {}, { 'ironlb.io/address-pool': 'reserved' });
    controller = await startController();
    await eventually('pending services to be processed', async () => (await api.events('aaa', 'p3')).length > 0);
    await controller.idle();
    const afterRestart = await snapshot();
    for (const [k, ips] of before) assert.equal(afterRestart.get(k), ips, `${k} kept its IP`);
    const newIPs = ['p1', 'p2', 'p3'].map((n) => afterRestart.get(`aaa/${n}`));
    assert.deepEqual(newIPs, ['198.51.100.245', '198.51.100.246', '198.51.100.247'], 'pending services got free IPs only');
  });

  it('loses no update across a kube-apiserver restart', async () => {
    await api.namespace('restart');
    await api.createService('restart', 'before');
    await api.waitEvent('restart', 'before', /AllocationFailed|IPAllocated/);
    await cp.restartApiServer();
    // Changes made right after the restart must reach the controller's (re-established) watches.
    await api.setConfig(NS, POOLS.replace('198.51.100.200-198.51.100.203', '198.51.100.200-198.51.100.204'));
    await api.createService('restart', 'after');
    const got = await eventually(
      'a service to get the new .204',
      async () => {
        const a = await api.ingress('restart', 'before');
        const b = await api.ingress('restart', 'after');
        return [...a, ...b].includes('198.51.100.204') ? [...a, ...b] : undefined;
      },
      30_000,
    );
    assert.ok(got.includes('198.51.100.204'));
    assert.ok(controller.healthy(), 'informers healthy after the restart');
  });
});
