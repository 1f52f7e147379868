/**
 * The controller's config lifecycle on a real API server: idle (and saying so) without a
 * ConfigMap, working as soon as one appears, and keeping the last good config when it is deleted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Controller } from '@ironlb/controller';
import { pino } from 'pino';
import { type ControlPlane, startControlPlane } from '../controlplane/controlplane.js';
import { Api, sleep } from './helpers.js';

const NS = 'ironlb-system';

describe('controller config lifecycle', { timeout: 180_000 }, () => {
  let cp: ControlPlane;
  let api: Api;
  let controller: Controller;
  const lines: string[] = [];
  before(async () => {
    cp = await startControlPlane();
    api = new Api(cp.kubeConfig());
    await api.namespace(NS);
    // Capture the controller's JSON log lines to check it says why it is idle.
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    controller = new Controller({ kc: cp.kubeConfig(), log, namespace: NS });
    await controller.start();
  });
  after(async () => {
    controller?.stop();
    await cp?.stop();
  });

  it('stays idle without a ConfigMap, says so, and touches no Service', async () => {
    assert.ok(
      lines.some((l) => /"level":40.*no valid address-pool ConfigMap yet; idle until one exists/.test(l)),
      `log says idle: ${lines.join(' | ')}`,
    );
    await api.namespace('app');
    await api.createService('app', 'early');
    await sleep(1000);
    assert.deepEqual(await api.ingress('app', 'early'), []);
    assert.deepEqual(await api.events('app', 'early'), [], 'no Event while idle: there is nothing to say about the Service yet');
  });

  it('allocates as soon as the ConfigMap appears, without a restart', async () => {
    await api.setConfig(NS, 'address-pools:\n- name: p\n  protocol: layer2\n  addresses: [198.51.100.200-198.51.100.201]\n');
    assert.deepEqual(await api.waitIngress('app', 'early'), ['198.51.100.200']);
  });

  it('one verdict per change: a bad max-ip-release annotation is a ConfigWarning next to ConfigLoaded, never InvalidConfig', async () => {
    const config = 'address-pools:\n- name: p\n  protocol: layer2\n  addresses: [198.51.100.200-198.51.100.202]\n';
    await api.core.replaceNamespacedConfigMap({
      name: 'config',
      namespace: NS,
      body: { metadata: { name: 'config', namespace: NS, annotations: { 'ironlb.io/max-ip-release': 'lots' } }, data: { config } },
    });
    await api.waitEvent(NS, 'config', /^Normal ConfigLoaded: loaded 1 address pool\(s\): "p"$/);
    const warning = await api.waitEvent(NS, 'config', /^Warning ConfigWarning: annotation ironlb\.io\/max-ip-release must be a whole number, got "lots"; ignored$/);
    assert.ok(warning);
    assert.deepEqual(
      (await api.events(NS, 'config')).filter((e) => /InvalidConfig/.test(e)),
      [],
      'no InvalidConfig for a config that was loaded',
    );
  });

  it('keeps the last good config when the ConfigMap is deleted', async () => {
    await api.core.deleteNamespacedConfigMap({ name: 'config', namespace: NS });
    await sleep(500);
    await api.createService('app', 'late');
    assert.deepEqual(await api.waitIngress('app', 'late'), ['198.51.100.201'], 'the deleted config still allocates');
    assert.deepEqual(await api.ingress('app', 'early'), ['198.51.100.200'], 'and nothing was taken away');
  });
});
