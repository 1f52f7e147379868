/**
 * The config in force survives a controller restart (ConfigMap ironlb-config-in-force), on a real
 * API server: (a) of two overlapping IPAddressPools the one in force keeps its addresses, (b) a
 * pool edited into an invalid spec keeps its previous version, (c) ConfigMap pools stay in force
 * after the ConfigMap was deleted (with a Warning saying how to remove them); after the restart
 * no Service IP moved, and `kubectl ironlb status` (the built bin) tells the controller's story.
 * The last test shows what the document prevents: started without it, the outcome differs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { type Config, decodeInForce, formatRange } from '@ironlb/core';
import { Controller } from '@ironlb/controller';
import { createLogger } from '@ironlb/k8s';
import { type ControlPlane, startControlPlane } from '../controlplane/controlplane.js';
import { advertisement, apply, getObject, installCrds, pool } from './crd-helpers.js';
import { Api, eventually, sleep } from './helpers.js';

const run = promisify(execFile);
const NS = 'ironlb-system';
const IN_FORCE = 'ironlb-config-in-force';
const bin = join(import.meta.dirname, '..', '..', 'packages', 'cli', 'bin', 'kubectl-ironlb.mjs');
const log = createLogger('in-force-test', process.env['TEST_LOG_LEVEL'] ?? 'silent');
const SERVICES: [string, string][] = [
  ['s-older', 'older'],
  ['s-newer', 'newer'],
  ['s-base', 'base'],
  ['s-grow', 'grow'],
  ['s-legacy', 'legacy'],
];
const summary = (c: Config | undefined): string[] => (c?.pools ?? []).map((p) => `${p.name}(${p.source ?? 'configmap'}):${p.addresses.map(formatRange).join(',')}`);

describe('the config in force survives a controller restart', { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let api: Api;
  let dir: string;
  let kubeconfig: string;
  const controllers: Controller[] = [];
  const startController = async (): Promise<Controller> => {
    const c = new Controller({ kc, log, namespace: NS, crdRecheckMs: 300, statusIntervalMs: 100, backoff: { initialMs: 50, maxMs: 500 } });
    controllers.push(c);
    await c.start();
    await eventually('a config in force', () => c.config() !== undefined, 30_000);
    return c;
  };
  const ips = async (): Promise<Record<string, string[]>> => Object.fromEntries(await Promise.all(SERVICES.map(async ([s]) => [s, await api.ingress('app', s)] as const)));
  const published = async (): Promise<Config | undefined> => {
    const cm = await api.core.readNamespacedConfigMap({ name: IN_FORCE, namespace: NS }).catch(() => undefined);
    const r = decodeInForce(cm?.data?.['config.json']);
    return r.ok ? r.config : undefined;
  };
  const validCond = async (name: string): Promise<string | undefined> => {
    const s = await getObject<{ status?: { conditions?: { type: string; status: string }[] } }>(kc, 'IPAddressPool', NS, name);
    return s?.status?.conditions?.find((c) => c.type === 'Valid')?.status;
  };
  let before1: { config: string[]; ips: Record<string, string[]> };

  before(async () => {
    cp = await startControlPlane();
    kc = cp.kubeConfig();
    api = new Api(kc);
    dir = mkdtempSync(join(tmpdir(), 'ironlb-inforce-'));
    kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, cp.kubeconfigYaml(), { mode: 0o600 });
    await api.namespace(NS);
    await installCrds(kc);
    await api.core.createNode({ body: { metadata: { name: 'n1', labels: { 'kubernetes.io/hostname': 'n1' } } } });
    await api.setConfig(NS, 'address-pools:\n- name: legacy\n  protocol: layer2\n  addresses: [198.51.100.200/30]\n');
    await apply(kc, [advertisement('all'), pool('older', { addresses: ['198.51.100.0/28'] }), pool('base', { addresses: ['198.51.100.64/29'] })]);
    // creationTimestamp has one-second resolution: make "older" really older.
    await sleep(1100);
    await apply(kc, [pool('newer', { addresses: ['198.51.100.16/28'] }), pool('grow', { addresses: ['198.51.100.72/29'] })]);
  });
  after(async () => {
    for (const c of controllers) c.stop();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('publishes the config in force, and keeps it through invalid edits and a deleted ConfigMap', async () => {
    const c1 = await startController();
    await api.namespace('app');
    for (const [s, p] of SERVICES) await api.createService('app', s, {}, { 'ironlb.io/address-pool': p });
    for (const [s] of SERVICES) await api.waitIngress('app', s, 1, 30_000);
    assert.deepEqual(await ips(), { 's-older': ['198.51.100.0'], 's-newer': ['198.51.100.16'], 's-base': ['198.51.100.64'], 's-grow': ['198.51.100.72'], 's-legacy': ['198.51.100.200'] });
    const inForce = summary(c1.config());
    assert.deepEqual(inForce, ['legacy(configmap):198.51.100.200/30', 'base(crd):198.51.100.64/29', 'grow(crd):198.51.100.72/29', 'newer(crd):198.51.100.16/28', 'older(crd):198.51.100.0/28']);
    await eventually('published', async () => JSON.stringify(summary(await published())) === JSON.stringify(inForce), 30_000);

    // (a) the older pool grows into the newer one's addresses; (b) grow overlaps base: both invalid.
    await apply(kc, [pool('older', { addresses: ['198.51.100.0/27'] }), pool('grow', { addresses: ['198.51.100.72/29', '198.51.100.64/30'] })]);
    await eventually('older and grow reported invalid', async () => (await validCond('older')) === 'False' && (await validCond('grow')) === 'False', 30_000);
    // (c) the ConfigMap goes away: its pool stays, and a Warning says how to really remove it.
    await api.core.deleteNamespacedConfigMap({ name: 'config', namespace: NS });
    await api.waitEvent(NS, 'config', /^Warning ConfigMapPoolsKept: .*"legacy" stay in force.*address-pools: \[\]/, 30_000);
    await c1.idle();
    await c1.inForceIdle();
    assert.deepEqual(summary(c1.config()), inForce, 'nothing changed in force');
    assert.deepEqual(summary(await published()), inForce);
    before1 = { config: inForce, ips: await ips() };
  });

  it('a restarted controller decides as before: same pools in force, no Service IP moves', async () => {
    controllers.shift()?.stop();
    const c2 = await startController();
    await c2.idle();
    await sleep(1000); // let any (wrong) re-allocation happen before looking
    await c2.idle();
    assert.deepEqual(summary(c2.config()), before1.config);
    assert.deepEqual(await ips(), before1.ips);
    await eventually('older still reported invalid, its previous version in force', async () => (await validCond('older')) === 'False' && (await validCond('newer')) === 'True', 30_000);
    // The ConfigMap is still gone: said again at start.
    const events = await api.events(NS, 'config');
    assert.ok(events.filter((e) => /ConfigMapPoolsKept/.test(e)).length >= 1);
  });

  it('kubectl ironlb status, seeded from the published document, matches the controller', async () => {
    // A busy API server may answer 429 (priority and fairness) to one of the CLI's many reads: ask again.
    const r = await eventually(
      'kubectl ironlb status',
      async () => run(process.execPath, [bin, '--kubeconfig', kubeconfig, 'status', '-o', 'json'], { timeout: 60_000 }).catch(() => undefined),
      90_000,
      1000,
    );
    const report = JSON.parse(r.stdout) as { config: string; pools: { name: string; source: string; addresses: string[] }[]; problems: string[] };
    const want = (controllers[0]?.config()?.pools ?? []).map((p) => `${p.name}(${p.source ?? 'configmap'}):${p.addresses.map(formatRange).join(',')}`).sort();
    const got = report.pools.map((p) => `${p.name}(${p.source}):${p.addresses.join(',')}`).sort();
    assert.deepEqual(got, want);
    assert.equal(report.config, 'both');
    assert.ok(
      report.problems.some((p) => /does not exist, but its pools stay in force/.test(p)),
      report.problems.join('\n'),
    );
  });

  it('what it prevents: started without the document, a controller decides differently', async () => {
    controllers.shift()?.stop();
    await api.core.deleteNamespacedConfigMap({ name: IN_FORCE, namespace: NS });
    const c3 = await startController();
    await c3.idle();
    const names = (c3.config()?.pools ?? []).map((p) => p.name);
    assert.ok(!names.includes('legacy') && !names.includes('newer'), `without the document: ${names.join(', ')}`);
    // And it is published again for the next restart.
    await eventually('re-published', async () => (await published()) !== undefined, 30_000);
  });
});
