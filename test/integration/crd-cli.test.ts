/**
 * `kubectl-ironlb` (the built bin, run as a user runs it, with --kubeconfig) against a real API
 * server with the controller running: status (table and JSON), explain svc/NAME, and migrate
 * from a file and from a cluster holding MetalLB's objects, whose output applies cleanly.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CustomObjectsApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { Controller } from '@ironlb/controller';
import { ServiceL2StatusWriter, createLogger } from '@ironlb/k8s';
import { type ControlPlane, startControlPlane } from '../controlplane/controlplane.js';
import { advertisement, apply, installCrds, parseObjects, pool } from './crd-helpers.js';
import { Api, eventually } from './helpers.js';

const run = promisify(execFile);
const NS = 'ironlb-system';
const bin = join(import.meta.dirname, '..', '..', 'packages', 'cli', 'bin', 'kubectl-ironlb.mjs');
const log = createLogger('crd-cli-test', process.env['TEST_LOG_LEVEL'] ?? 'silent');

/** A minimal CRD for a metallb.io kind (the test only needs the API to store the objects). */
function metallbCrd(kind: string, plural: string, version = 'v1beta1'): KubernetesObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.metallb.io` },
    spec: {
      group: 'metallb.io',
      scope: 'Namespaced',
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [{ name: version, served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
    },
  } as KubernetesObject;
}

describe('kubectl-ironlb against a real API server', { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let api: Api;
  let controller: Controller;
  let dir: string;
  let kubeconfig: string;
  const cli = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const r = await run(process.execPath, [bin, '--kubeconfig', kubeconfig, ...args], { timeout: 60_000 });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };

  before(async () => {
    cp = await startControlPlane();
    kc = cp.kubeConfig();
    api = new Api(kc);
    dir = mkdtempSync(join(tmpdir(), 'ironlb-cli-'));
    kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, cp.kubeconfigYaml(), { mode: 0o600 });
    await api.namespace(NS);
    await installCrds(kc);
    for (const [name, zone] of [
      ['n1', 'a'],
      ['n2', 'a'],
      ['n3', 'b'],
    ] as const) {
      await api.core.createNode({ body: { metadata: { name, labels: { 'kubernetes.io/hostname': name, zone } } } });
      await api.core.patchNodeStatus(
        { name, body: { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ready', lastHeartbeatTime: new Date(), lastTransitionTime: new Date() }] } } },
        (await import('@kubernetes/client-node')).setHeaderOptions('Content-Type', (await import('@kubernetes/client-node')).PatchStrategy.MergePatch),
      );
    }
    await apply(kc, [
      pool('web', { addresses: ['198.51.100.0/30', '2001:db8::/126'] }),
      pool('tiny', { addresses: ['198.51.100.8'], autoAssign: false }),
      advertisement('zone-a', { ipAddressPools: ['web'], nodeSelectors: [{ matchLabels: { zone: 'a' } }], interfaces: ['eth1'] }),
    ]);
    controller = new Controller({ kc, log, namespace: NS, statusIntervalMs: 100 });
    await controller.start();
    await api.namespace('shop');
    await api.createService('shop', 'front');
    await api.createService('shop', 'hold', {}, { 'ironlb.io/address-pool': 'tiny' });
    await api.createService('shop', 'wait', {}, { 'ironlb.io/address-pool': 'tiny' });
    await api.waitIngress('shop', 'front');
    await api.waitIngress('shop', 'hold');
    await kc.makeApiClient((await import('@kubernetes/client-node')).DiscoveryV1Api).createNamespacedEndpointSlice({
      namespace: 'shop',
      body: {
        metadata: { name: 'front-x', labels: { 'kubernetes.io/service-name': 'front' } },
        addressType: 'IPv4',
        endpoints: ['n1', 'n2', 'n3'].map((n, i) => ({ addresses: [`10.0.0.${i + 1}`], nodeName: n, conditions: { ready: true } })),
      },
    });
  });
  after(async () => {
    controller?.stop();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('status: pools with used/free per family, Services with pool and announcer, nodes (JSON and table)', async () => {
    const [ip] = await api.ingress('shop', 'front');
    const svc = await api.service('shop', 'front');
    const w = new ServiceL2StatusWriter(kc, { log });
    w.announce({ namespace: 'shop', name: 'front', uid: svc.metadata?.uid }, { node: 'n2', interfaces: ['eth1'], ips: [ip ?? ''], since: new Date(Date.now() - 90_000) });
    await w.idle();
    w.stop();
    const r = await cli('status', '-o', 'json');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as {
      config: string;
      pools: { name: string; usedV4: number; freeV4: string; usedV6: number; freeV6: string }[];
      services: { service: string; node?: string; pool?: string; ageSeconds?: number; state: string }[];
      nodes: { name: string }[];
    };
    assert.equal(report.config, 'crds');
    assert.deepEqual(
      report.pools.map((p) => [p.name, p.usedV4, p.freeV4, p.usedV6, p.freeV6]),
      [
        ['tiny', 1, '0', 0, '0'],
        ['web', 1, '3', 0, '4'],
      ],
    );
    const front = report.services.find((s) => s.service === 'shop/front');
    assert.deepEqual([front?.pool, front?.node, front?.state], ['web', 'n2', 'announced']);
    assert.ok((front?.ageSeconds ?? 0) >= 85, 'time since the last change of announcer');
    assert.equal(report.services.find((s) => s.service === 'shop/wait')?.state, 'pending (no IP)');
    assert.deepEqual(
      report.nodes.map((n) => n.name),
      ['n1', 'n2', 'n3'],
    );
    const t = await cli('status');
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /^configuration: ironlb\.io objects/);
    assert.match(t.stdout, /shop\/front\s+198\.51\.100\.\d+\s+web\s+n2\s+eth1\s+(\d+s|\dm)\s+announced/);
    assert.match(t.stdout, /tiny\s+IPAddressPool\s+1\s+0\s+0\s+0\s+1\s+NO: no L2Advertisement/);
  });

  it('explain svc/NAME: who announces and why each node is or is not the one (JSON and table)', async () => {
    const r = await cli('explain', 'svc/front', '-n', 'shop', '-o', 'json');
    assert.equal(r.code, 0, r.stderr);
    const e = JSON.parse(r.stdout) as { verdict: string; decision: { winner: string; interfaces: string[]; nodes: { name: string; verdict: string }[] }; reported: { node: string } };
    assert.match(e.verdict, /^announced by n2/);
    assert.deepEqual(e.decision.interfaces, ['eth1']);
    assert.equal(e.decision.nodes.find((n) => n.name === 'n3')?.verdict, 'notSelectedByAdvertisement');
    const t = await cli('explain', 'svc/wait', '-n', 'shop');
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /^Service shop\/wait: no IP: poolExhausted/);
    assert.match(t.stdout, /no available IPs in pool "tiny"/);
    const hold = await cli('explain', 'svc/hold', '-n', 'shop');
    assert.match(hold.stdout, /not announced: noAdvertisement/);
    assert.match(hold.stdout, /no L2Advertisement covers pool "tiny"/);
    const bad = await cli('explain', 'deploy/x');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /explain takes svc\/NAME/);
  });

  it('migrate -f: a legacy ConfigMap file becomes objects that apply cleanly', async () => {
    const file = join(dir, 'metallb-config.yaml');
    writeFileSync(
      file,
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, namespace: metallb-system}\ndata:\n  config: |\n    address-pools:\n    - name: migrated\n      protocol: layer2\n      addresses: [198.51.100.64/28]\n',
    );
    const r = await cli('migrate', '-f', file, '--to-namespace', NS);
    assert.equal(r.code, 0, r.stderr);
    const objs = parseObjects(r.stdout);
    assert.deepEqual(
      objs.map((o) => `${o.kind}/${o.metadata?.name}`),
      ['IPAddressPool/migrated', 'L2Advertisement/legacy-config'],
    );
    await apply(kc, objs);
  });

  it('migrate --from-cluster: metallb.io objects become ironlb.io objects; BGP is refused with a clear error', async () => {
    await api.namespace('metallb-system');
    await apply(kc, [metallbCrd('IPAddressPool', 'ipaddresspools'), metallbCrd('L2Advertisement', 'l2advertisements'), metallbCrd('BGPPeer', 'bgppeers', 'v1beta2')]);
    const custom = kc.makeApiClient(CustomObjectsApi);
    await eventually(
      'metallb.io served',
      async () => {
        const v1 = await custom.getAPIResources({ group: 'metallb.io', version: 'v1beta1' });
        const v2 = await custom.getAPIResources({ group: 'metallb.io', version: 'v1beta2' });
        return v1.resources.length === 2 && v2.resources.length === 1 ? true : undefined;
      },
      30_000,
      200,
    );
    // Plain creates (server-side apply of a brand-new CRD's kind waits for its OpenAPI schema).
    const base = { group: 'metallb.io', version: 'v1beta1', namespace: 'metallb-system' };
    await eventually(
      'metallb.io objects created',
      async () => {
        await custom.createNamespacedCustomObject({
          ...base,
          plural: 'ipaddresspools',
          body: { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'from-metallb', labels: { tier: 'x' } }, spec: { addresses: ['198.51.100.80/28'], autoAssign: false } },
        });
        return true;
      },
      30_000,
      300,
    );
    await custom.createNamespacedCustomObject({
      ...base,
      plural: 'l2advertisements',
      body: { apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'from-metallb' }, spec: { ipAddressPoolSelectors: [{ matchLabels: { tier: 'x' } }] } },
    });
    const ok = await eventually(
      'migrate output',
      async () => {
        const r = await cli('migrate', '--from-cluster');
        return r.code === 0 && r.stdout.includes('from-metallb') ? r : undefined;
      },
      30_000,
      500,
    );
    const objs = parseObjects(ok.stdout);
    assert.deepEqual(
      objs.map((o) => `${o.apiVersion} ${o.kind}/${o.metadata?.namespace}/${o.metadata?.name}`),
      ['ironlb.io/v1beta1 IPAddressPool/ironlb-system/from-metallb', 'ironlb.io/v1beta1 L2Advertisement/ironlb-system/from-metallb'],
    );
    await apply(kc, objs);
    await custom.createNamespacedCustomObject({
      group: 'metallb.io',
      version: 'v1beta2',
      namespace: 'metallb-system',
      plural: 'bgppeers',
      body: { apiVersion: 'metallb.io/v1beta2', kind: 'BGPPeer', metadata: { name: 'tor' }, spec: { myASN: 64500, peerASN: 64501, peerAddress: '198.51.100.254' } },
    });
    const refused = await cli('migrate', '--from-cluster');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /cannot migrate:\n\s+- BGPPeer "tor": BGP has no layer2 equivalent in ironlb/);
    assert.equal(refused.stdout, '', 'nothing printed to apply by mistake');
  });
});
