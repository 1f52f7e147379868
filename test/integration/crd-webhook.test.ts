/**
 * The admission webhook on a real kube-apiserver, with deploy/ironlb.yaml's webhook configuration (the
 * API server calls the controller on this host: clientConfig.url instead of the in-cluster
 * Service). The controller makes its CA and injects it; bad objects are refused at apply time
 * with a message naming the field and the value; good ones pass with useful warnings; and when
 * ironlb is down or hangs, writes of ironlb's objects still go through (failurePolicy Ignore)
 * while no other write ever reaches the webhook at all.
 */
import assert from 'node:assert/strict';
import { type Server, type Socket, createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { AdmissionregistrationV1Api, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { Controller } from '@ironlb/controller';
import { createLogger } from '@ironlb/k8s';
import { type ControlPlane, startControlPlane } from '../controlplane/controlplane.js';
import { ApiError, advertisement, apply, installCrds, manifest, pool, raw, refusal, remove } from './crd-helpers.js';
import { Api, eventually } from './helpers.js';

const NS = 'ironlb-system';
const log = createLogger('crd-webhook-test', process.env['TEST_LOG_LEVEL'] ?? 'silent');

/** deploy/ironlb.yaml's ValidatingWebhookConfiguration, calling `url` instead of the Service. */
function webhookConfig(url: string): KubernetesObject {
  const vwc = manifest('deploy/ironlb.yaml').find((o) => o.kind === 'ValidatingWebhookConfiguration') as KubernetesObject & { webhooks: { clientConfig: Record<string, unknown> }[] };
  return { ...vwc, webhooks: vwc.webhooks.map((w) => ({ ...w, clientConfig: { url } })) } as KubernetesObject;
}

function configMap(name: string, namespace: string, config: string): KubernetesObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data: { config } } as KubernetesObject;
}

describe('admission webhook on a real API server', { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let api: Api;
  let controller: Controller | undefined;
  let url = '';
  const admission = (): AdmissionregistrationV1Api => kc.makeApiClient(AdmissionregistrationV1Api);
  const startController = async (port: number): Promise<Controller> => {
    const c = new Controller({
      kc,
      log,
      namespace: NS,
      statusIntervalMs: 100,
      webhook: { host: '127.0.0.1', port, hosts: ['127.0.0.1'], checkIntervalMs: 300 },
      backoff: { initialMs: 50, maxMs: 500 },
    });
    await c.start();
    return c;
  };

  before(async () => {
    cp = await startControlPlane();
    kc = cp.kubeConfig();
    api = new Api(kc);
    await api.namespace(NS);
    await installCrds(kc);
    await apply(kc, [pool('a', { addresses: ['198.51.100.0/28'] }), advertisement('all')]);
    controller = await startController(0);
    const addr = controller.webhookAddress();
    assert.ok(addr);
    url = `https://127.0.0.1:${addr.port}/validate`;
    await apply(kc, [webhookConfig(url)]);
    // The controller injects its CA into every webhook of the configuration.
    await eventually('caBundle injected', async () => {
      const vwc = await admission().readValidatingWebhookConfiguration({ name: 'ironlb-webhook' });
      return (vwc.webhooks ?? []).every((w) => (w.clientConfig.caBundle ?? '') !== '') ? true : undefined;
    });
    // The API server picks the configuration up asynchronously: wait until the webhook answers.
    await eventually('webhook in effect', async () => /overlaps/.test(await refusal(kc, pool('probe', { addresses: ['198.51.100.0/30'] })).catch(() => '')), 30_000, 200);
  });
  after(async () => {
    controller?.stop();
    await cp?.stop();
  });

  it('refuses an overlapping pool, naming the pools and ranges', async () => {
    const msg = await refusal(kc, pool('b', { addresses: ['198.51.100.8-198.51.100.20'] }));
    assert.match(msg, /admission webhook "ipaddresspools\.ironlb\.io" denied the request: IPAddressPool "b": IPv4 range 198\.51\.100\.8-198\.51\.100\.20 overlaps 198\.51\.100\.0\/28 in pool "a"/);
  });

  it('refuses what CEL cannot see (a reversed IPv6 range) and objects outside the ironlb namespace', async () => {
    assert.match(await refusal(kc, pool('v6', { addresses: ['2001:db8::9-2001:db8::1'] })), /IPAddressPool "v6": spec\.addresses\[0\]: range 2001:db8::9-2001:db8::1 is reversed/);
    await api.namespace('elsewhere');
    assert.match(await refusal(kc, pool('x', { addresses: ['198.51.100.64/28'] }, 'elsewhere')), /IPAddressPool objects are read in namespace "ironlb-system" only/);
    assert.match(await refusal(kc, advertisement('x', {}, 'elsewhere')), /L2Advertisement objects are read in namespace "ironlb-system" only/);
  });

  it('lets good objects through, with warnings kubectl prints', async () => {
    const w = await apply(kc, [pool('c', { addresses: ['198.51.100.16/28'] })]);
    assert.deepEqual(w, [], 'covered by "all": nothing to warn about');
    const lonely = await apply(kc, [advertisement('picky', { ipAddressPools: ['nope'], nodeSelectors: [{ matchLabels: { zone: 'mars' } }] })]);
    assert.ok(
      lonely.some((x) => /no pool named "nope" exists/.test(x)),
      lonely.join(' | '),
    );
  });

  it('warns when a shrink takes IPs away from Services (and refuses taking every assigned IP)', async () => {
    await api.namespace('app');
    await api.createService('app', 's1', {}, { 'ironlb.io/address-pool': 'c' });
    assert.deepEqual(await api.waitIngress('app', 's1'), ['198.51.100.16']);
    // s1 is the only Service with an IP: taking it is what the controller's guard would refuse.
    assert.match(
      await refusal(kc, pool('c', { addresses: ['198.51.100.24/29'] })),
      /refused: this config would take the IPs away from all 1 Services that have one \(app\/s1\).*annotate ipaddresspool c --overwrite ironlb\.io\/max-ip-release=1/,
    );
    await api.createService('app', 's0');
    await api.waitIngress('app', 's0');
    const w = await apply(kc, [pool('c', { addresses: ['198.51.100.24/29'] })]);
    assert.ok(
      w.some((x) => /takes the IPs away from 1 Service\(s\) \(app\/s1\)/.test(x)),
      w.join(' | '),
    );
  });

  it('checks the legacy ConfigMap by name and namespace only', async () => {
    const bad = configMap('config', NS, 'address-pools:\n- name: p\n  protocol: layer2\n  addresses: [198.51.100.9-198.51.100.1]\n');
    const msg = await refusal(kc, bad);
    assert.match(
      msg,
      /admission webhook "configmap\.ironlb\.io" denied the request: ConfigMap ironlb-system\/config: invalid config: pool "p": range 198\.51\.100\.9-198\.51\.100\.1 is reversed \(line 4\)/,
    );
    // The same junk under any other name, or in any other namespace, is none of ironlb's business.
    await apply(kc, [configMap('unrelated', NS, 'junk: [')]);
    await apply(kc, [configMap('config', 'default', 'junk: [')]);
    await apply(kc, [configMap('config', NS, 'address-pools:\n- {name: p, protocol: layer2, addresses: [198.51.100.128/28]}\n')]);
  });

  it('counts what it answered', async () => {
    const text = await controller?.metrics.registry.metrics();
    assert.match(text ?? '', /ironlb_webhook_requests_total\{kind="IPAddressPool",result="denied"\} [1-9]/);
    assert.match(text ?? '', /ironlb_webhook_requests_total\{kind="ConfigMap",result="denied"\} [1-9]/);
  });

  it('re-injects the CA bundle when a re-applied manifest wipes it', async () => {
    const keeper = controller?.webhookCertKeeper();
    const before = keeper?.injections() ?? 0;
    await admission().patchValidatingWebhookConfiguration({ name: 'ironlb-webhook', body: [{ op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: '' }] });
    await eventually('re-injected', () => ((keeper?.injections() ?? 0) > before ? true : undefined));
    const vwc = await admission().readValidatingWebhookConfiguration({ name: 'ironlb-webhook' });
    assert.notEqual(vwc.webhooks?.[0]?.clientConfig.caBundle ?? '', '');
  });

  it('with ironlb down (nothing listening), writes still go through; CEL still refuses', async () => {
    controller?.stop();
    controller = undefined;
    // Connection refused: failurePolicy Ignore lets the API server go on.
    await apply(kc, [pool('d', { addresses: ['198.51.100.64/28'] })]);
    await apply(kc, [pool('e', { addresses: ['198.51.100.66/31'] })]); // an overlap nobody checks now...
    assert.match(await refusal(kc, pool('f', { addresses: ['198.51.100.1/24'] })), /has host bits set/, '...but per-object rules hold');
    await apply(kc, [configMap('config', NS, 'address-pools:\n- {name: p, protocol: layer2, addresses: [198.51.100.128/28]}\n')]);
    await remove(kc, pool('e', {}));
  });

  it('with ironlb hanging (accepts, never answers), only its own objects wait; no other write ever reaches it', async () => {
    const sockets = new Set<Socket>();
    let connections = 0;
    const hang: Server = createServer((s) => {
      connections++;
      sockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', () => r()));
    const port = (hang.address() as { port: number }).port;
    try {
      await apply(kc, [webhookConfig(`https://127.0.0.1:${port}/validate`)]);
      // Wait until the API server uses the new URL (one of our writes reaches the hanging server).
      await eventually(
        'API server calls the hanging webhook',
        async () => {
          await apply(kc, [pool('d', { addresses: ['198.51.100.64/28'] })]);
          return connections > 0 ? true : undefined;
        },
        60_000,
        200,
      );
      const before = connections;
      for (let i = 0; i < 5; i++) {
        await apply(kc, [configMap(`other-${i}`, NS, 'anything')]);
        await apply(kc, [configMap('config', 'default', `x${i}`)]);
        await api.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: `plain-${i}` }, data: { a: 'b' } } });
      }
      assert.equal(connections, before, 'no ConfigMap write other than ironlb-system/config called the webhook');
      // ironlb's own objects are still written (after the timeout, failurePolicy Ignore).
      const w = await apply(kc, [pool('d', { addresses: ['198.51.100.64/29'] })]).catch((err: unknown) => {
        throw err instanceof ApiError ? new Error(err.status) : err;
      });
      assert.ok(Array.isArray(w));
      assert.ok(connections > before, 'the pool write did call it');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => hang.close(() => r()));
    }
  });

  it('a restarted controller makes a new CA and injects it; the webhook works again', async () => {
    const c = await startController(0);
    controller = c;
    const addr = c.webhookAddress();
    assert.ok(addr);
    await apply(kc, [webhookConfig(`https://127.0.0.1:${addr.port}/validate`)]);
    await eventually('webhook in effect again', async () => /overlaps/.test(await refusal(kc, pool('probe', { addresses: ['198.51.100.0/30'] })).catch(() => '')), 30_000, 200);
    const r = await raw(kc, 'GET', `/apis/ironlb.io/v1beta1/namespaces/${NS}/ipaddresspools/probe`);
    assert.equal(r.code, 404, 'the refused probe was never stored');
  });

  it('an invalid object made while the webhook was down still takes label and finalizer changes; spec changes stay checked', async () => {
    const addr = controller?.webhookAddress();
    assert.ok(addr);
    const path = `/apis/ironlb.io/v1beta1/namespaces/${NS}/ipaddresspools/g`;
    const merge = (body: unknown): Promise<{ code: number; body: string; warnings: string[] }> => raw(kc, 'PATCH', path, JSON.stringify(body), 'application/merge-patch+json');
    // The webhook is unreachable (port 1: connection refused; failurePolicy Ignore): an overlap gets in.
    await apply(kc, [webhookConfig('https://127.0.0.1:1/validate')]);
    const bad = { ...pool('g', { addresses: ['198.51.100.4/30'] }), metadata: { name: 'g', namespace: NS, finalizers: ['example.com/hold'] } };
    await eventually(
      'the overlapping pool is stored while the webhook is down',
      async () =>
        (await apply(kc, [bad])
          .then(() => true)
          .catch(() => false)) || undefined,
      60_000,
      200,
    );
    await apply(kc, [webhookConfig(`https://127.0.0.1:${addr.port}/validate`)]);
    await eventually('webhook in effect again', async () => /overlaps/.test(await refusal(kc, pool('probe', { addresses: ['198.51.100.0/30'] })).catch(() => '')), 30_000, 200);
    try {
      const label = await merge({ metadata: { labels: { fixed: 'yes' } } });
      assert.equal(label.code, 200, label.body);
      assert.ok(
        label.warnings.some((w) => /^only metadata changed, so this update is allowed; the spec is still not valid: IPAddressPool "g": .*overlaps/.test(w)),
        label.warnings.join(' | '),
      );
      const spec = await merge({ spec: { addresses: ['198.51.100.8/30'] } });
      assert.ok(spec.code >= 400, 'an invalid spec change is still refused');
      assert.match(spec.body, /overlaps 198\.51\.100\.0\/28 in pool \\"a\\"/);
      // kubectl delete: Terminating until the finalizer goes; removing it is a metadata-only update.
      await remove(kc, bad);
      const unhold = await merge({ metadata: { finalizers: null } });
      assert.equal(unhold.code, 200, unhold.body);
      await eventually('the pool is gone', async () => (await raw(kc, 'GET', path)).code === 404, 30_000, 100);
    } finally {
      await merge({ metadata: { finalizers: null } }).catch(() => undefined);
      await remove(kc, bad).catch(() => undefined);
    }
  });
});
