/**
 * IPAddressPool serviceAllocation on a real API server: a label change that makes a Service stop
 * matching the pool that holds its IP never moves the IP (one `kubectl label ns` must not move
 * hundreds of IPs past the mass-release guard). The Service keeps it, gets one Warning Event
 * (AllocationRuleMismatch) naming the rule and the command that moves it, and that command works.
 * New Services follow the rules; a restarted controller keeps the mismatched IP too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Controller } from '@ironlb/controller';
import { createLogger } from '@ironlb/k8s';
import { type ControlPlane, startControlPlane } from '../controlplane/controlplane.js';
import { advertisement, apply, installCrds, pool } from './crd-helpers.js';
import { Api, eventually, sleep } from './helpers.js';

const NS = 'ironlb-system';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const log = createLogger('allocation-rules-test', process.env['TEST_LOG_LEVEL'] ?? 'silent');

describe('serviceAllocation rules never move an IP a Service holds', { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let api: Api;
  let controller: Controller | undefined;
  const start = async (): Promise<Controller> => {
    const c = new Controller({ kc, log, namespace: NS, crdRecheckMs: 300, statusIntervalMs: 100, backoff: { initialMs: 50, maxMs: 500 } });
    await c.start();
    return c;
  };

  before(async () => {
    cp = await startControlPlane();
    kc = cp.kubeConfig();
    api = new Api(kc);
    await api.namespace(NS);
    await installCrds(kc);
    await apply(kc, [
      pool('gold', { addresses: ['198.51.100.60/30'], serviceAllocation: { priority: 1, namespaceSelectors: [{ matchLabels: { team: 'gold' } }] } }),
      pool('general', { addresses: ['198.51.100.64/30'] }),
      advertisement('all'),
    ]);
    await api.core.createNamespace({ body: { metadata: { name: 'shop', labels: { team: 'gold' } } } });
    controller = await start();
  });
  after(async () => {
    controller?.stop();
    await cp?.stop();
  });

  it('labelling the namespace away keeps the IPs, with one Warning that says how to move', async () => {
    await api.createService('shop', 'web');
    await api.createService('shop', 'kept');
    const web = (await api.waitIngress('shop', 'web'))[0];
    const kept = (await api.waitIngress('shop', 'kept'))[0];
    assert.deepEqual([web, kept].sort(), ['198.51.100.60', '198.51.100.61'], 'both from the pinned pool');

    await api.core.patchNamespace({ name: 'shop', body: { metadata: { labels: { team: 'bronze' } } } }, mergePatch);
    const ev = await api.waitEvent('shop', 'web', /^Warning AllocationRuleMismatch: /, 30_000);
    assert.match(
      ev,
      new RegExp(
        `^Warning AllocationRuleMismatch: Kept IP ${web?.replace(/\./g, '\\.')} of pool "gold" although pool "gold" does not serve namespace "shop": its serviceAllocation allows only namespaceSelectors \\["team=gold"\\]; ` +
          '.*Rules apply to new allocations only; to move it to pool "general" .*: kubectl -n shop annotate service web --overwrite ironlb\\.io/address-pool=general ',
      ),
    );
    await api.waitEvent('shop', 'kept', /^Warning AllocationRuleMismatch: /, 30_000);
    await sleep(1000);
    assert.deepEqual(await api.ingress('shop', 'web'), [web], 'the IP did not move');
    assert.deepEqual(await api.ingress('shop', 'kept'), [kept]);
    assert.ok(!(await api.events('shop', 'web')).some((e) => /ClearAssignment|IPAllocated.*general/.test(e)), 'no reassignment');

    await api.createService('shop', 'new');
    assert.deepEqual(await api.waitIngress('shop', 'new'), ['198.51.100.64'], 'a new Service follows the rules');
  });

  it('the documented command moves it; the annotation may be removed afterwards', async () => {
    const svc = await api.service('shop', 'web');
    await api.core.patchNamespacedService({ name: 'web', namespace: 'shop', body: { metadata: { annotations: { ...svc.metadata?.annotations, 'ironlb.io/address-pool': 'general' } } } }, mergePatch);
    const moved = await eventually(
      'web moved to pool general',
      async () => {
        const [ip] = await api.ingress('shop', 'web');
        return ip === '198.51.100.65' ? ip : undefined;
      },
      30_000,
    );
    assert.equal((await api.service('shop', 'web')).metadata?.annotations?.['ironlb.io/ip-allocated-from-pool'], 'general');
    await api.core.patchNamespacedService({ name: 'web', namespace: 'shop', body: { metadata: { annotations: { 'ironlb.io/address-pool': null } } } }, mergePatch);
    await sleep(1000);
    assert.deepEqual(await api.ingress('shop', 'web'), [moved], 'the new IP stays without the annotation');
  });

  it('a restarted controller keeps the mismatched IP (re-admission ignores the rules too)', async () => {
    const before = await api.ingress('shop', 'kept');
    controller?.stop();
    controller = await start();
    // Something the new controller must do, to know it has reconciled: a new Service gets an IP.
    await api.createService('shop', 'after-restart');
    assert.deepEqual(await api.waitIngress('shop', 'after-restart', 1, 30_000), ['198.51.100.66']);
    await sleep(500);
    assert.deepEqual(await api.ingress('shop', 'kept'), before);
    assert.ok(!(await api.events('shop', 'kept')).some((e) => /ClearAssignment/.test(e)));
  });

  it('a shrink that releases IPs says so on the pool that held them, and on no other', async () => {
    await apply(kc, [pool('general', { addresses: ['198.51.100.66/31'] })]);
    const ev = await api.waitEvent(NS, 'general', /^Warning IPsReleased: /, 30_000);
    // Listed oldest first: web, then new.
    assert.match(ev, /^Warning IPsReleased: this change took the IPs away from 2 Service\(s\) \(shop\/web, shop\/new\); each gets a new IP if it can \(see its Events\)$/);
    assert.ok(!(await api.events(NS, 'gold')).some((e) => /IPsReleased/.test(e)));
  });
});
