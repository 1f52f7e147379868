/**
 * The controller's input tried as an attacker and as a careless operator would (issue 10), and
 * the memberlist Secret's lifecycle (issue 9, item 2), on a real API server. Each hostile config
 * must be refused with a clear, bounded Warning Event, count in the metrics, and change no
 * Service's IP; fixing it must make the metrics say so.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Controller } from '@ironlb/controller';
import { pino } from 'pino';
import { type ControlPlane, startControlPlane } from '../controlplane/controlplane.js';
import { Api, eventually, sleep } from './helpers.js';

const NS = 'ironlb-system';
const GOOD = `address-pools:
- name: main
  protocol: layer2
  addresses: [198.51.100.200-198.51.100.219]
- name: ten
  protocol: layer2
  auto-assign: false
  addresses: [203.0.113.10-203.0.113.19]
`;

describe('controller input, hostile and careless', { timeout: 600_000 }, () => {
  let cp: ControlPlane;
  let api: Api;
  let controller: Controller;
  const lines: string[] = [];
  const metric = async (name: string, labels = ''): Promise<number> => {
    const text = await controller.metrics.registry.getSingleMetricAsString(name);
    const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  };
  const ips = async (ns: string): Promise<Map<string, string>> => {
    const m = new Map<string, string>();
    for (const s of (await api.core.listNamespacedService({ namespace: ns })).items) m.set(s.metadata?.name ?? '', (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).join(','));
    return m;
  };
  const logged = (re: RegExp): string[] => lines.filter((l) => re.test(l));

  before(async () => {
    cp = await startControlPlane();
    api = new Api(cp.kubeConfig());
    await api.namespace(NS);
    await api.setConfig(NS, GOOD);
    const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });
    controller = new Controller({ kc: cp.kubeConfig(), log, namespace: NS, backoff: { initialMs: 50, maxMs: 1000 } });
    await controller.start();
  });
  after(async () => {
    controller?.stop();
    await cp?.stop();
  });

  describe('the memberlist Secret', () => {
    it('is created at start, re-created with a new key when deleted, and never overwritten', async () => {
      const first = await eventually('the Secret', async () => api.core.readNamespacedSecret({ name: 'memberlist', namespace: NS }));
      const key1 = first.data?.['secretkey'] ?? '';
      assert.ok(key1.length > 20);
      await api.core.deleteNamespacedSecret({ name: 'memberlist', namespace: NS });
      const second = await eventually('the Secret again', async () => {
        const s = await api.core.readNamespacedSecret({ name: 'memberlist', namespace: NS });
        return s.metadata?.uid !== first.metadata?.uid ? s : undefined;
      });
      assert.notEqual(second.data?.['secretkey'], key1, 'a new random key');
      await api.waitEvent(NS, 'memberlist', /^Normal MemberlistSecretRecreated: the memberlist Secret was deleted; created it again with a new random key$/);
      assert.equal(logged(/created it again with a new random key/).length, 1);
      // An operator rotates the key on purpose: the controller leaves it alone.
      const rotated = Buffer.from('operator-chosen-key').toString('base64');
      await api.core.replaceNamespacedSecret({ name: 'memberlist', namespace: NS, body: { ...second, data: { secretkey: rotated } } });
      await sleep(1500);
      const third = await api.core.readNamespacedSecret({ name: 'memberlist', namespace: NS });
      assert.equal(third.data?.['secretkey'], rotated);
      assert.equal(third.metadata?.uid, second.metadata?.uid);
    });
  });

  describe('address-pool configs', () => {
    let held: Map<string, string>;
    before(async () => {
      await api.namespace('keep');
      for (const n of ['k1', 'k2', 'k3', 'k4']) await api.createService('keep', n);
      for (const n of ['k1', 'k2', 'k3', 'k4']) await api.waitIngress('keep', n);
      held = await ips('keep');
    });

    const hostile: { name: string; text: string; reason: string; event: RegExp }[] = [
      {
        name: 'one CIDR 1000 times (15 KB: 499,500 overlap pairs)',
        text: 'address-pools:\n- name: p\n  protocol: layer2\n  addresses:\n' + '  - 10.0.0.0/8\n'.repeat(1000),
        reason: 'invalid',
        event: /^Warning InvalidConfig: invalid config, keeping the last good config: invalid config \(999 errors\): pool "p": IPv4 range 10\.0\.0\.0\/8 overlaps/,
      },
      {
        name: 'a YAML alias bomb',
        text: 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\naddress-pools:\n- {name: p, protocol: layer2, addresses: *d}\n',
        reason: 'invalid',
        event: /^Warning InvalidConfig: .*unknown key "a" \(allowed: address-pools\) \(line 1\)/,
      },
      {
        name: 'addresses never handed out',
        text: 'address-pools:\n- {name: bad, protocol: layer2, addresses: ["0.0.0.0/0", "::/0", 224.0.0.1, "fe80::1", 127.0.0.1]}\n',
        reason: 'invalid',
        event: /pool "bad": 0\.0\.0\.0\/0 includes 0\.0\.0\.0\/8.*pool "bad": 127\.0\.0\.1 is in 127\.0\.0\.0\/8 \(IPv4 loopback\)/,
      },
      {
        name: 'an IPv4-mapped pool next to its IPv4 twin',
        text: GOOD + '- {name: mapped, protocol: layer2, addresses: ["::ffff:198.51.100.0/120"]}\n',
        reason: 'invalid',
        event: /pool "mapped": ::ffff:198\.51\.100\.0\/120 is an IPv4-mapped IPv6 address; write the IPv4 form 198\.51\.100\.0\/24 instead/,
      },
      { name: 'a second YAML document', text: GOOD + '---\naddress-pools: []\n', reason: 'invalid', event: /a second document \("---"\) is not allowed.*\(line 9, column 1\)/ },
      { name: 'config: "" (a templating mistake)', text: '', reason: 'blank', event: /^Warning InvalidConfig: invalid config, keeping the last good config: the "config" key is empty/ },
      {
        name: 'address-pools: [] (every IP released at once)',
        text: 'address-pools: []\n',
        reason: 'unsafeRelease',
        event:
          /^Warning ConfigRefused: refused: this config would take the IPs away from all 4 Services that have one \(keep\/k1, keep\/k2, keep\/k3, keep\/k4\).*annotate configmap config --overwrite ironlb\.io\/max-ip-release=4$/,
      },
    ];
    for (const h of hostile) {
      it(`refuses ${h.name}: Warning, metrics, no IP changes; the good text restores it`, async () => {
        const rejected = await metric('ironlb_k8s_client_config_rejections_total', `{reason="${h.reason}"}`);
        const logBefore = lines.length;
        await api.setConfig(NS, h.text);
        const ev = await api.waitEvent(NS, 'config', h.event, 20_000);
        assert.ok(ev.length <= 1100, `Event message is ${ev.length} characters`);
        assert.equal(await metric('ironlb_k8s_client_config_stale_bool'), 1);
        assert.equal(await metric('ironlb_k8s_client_config_loaded_bool'), 1, 'the last good config is still in force');
        assert.equal(await metric('ironlb_k8s_client_config_rejections_total', `{reason="${h.reason}"}`), rejected + 1);
        const newLines = lines.slice(logBefore);
        assert.ok(
          newLines.every((l) => l.length < 16_000),
          `log lines bounded (longest ${Math.max(...newLines.map((l) => l.length))})`,
        );
        assert.deepEqual(await ips('keep'), held, 'no IP changed');
        await api.setConfig(NS, GOOD);
        await eventually('config fresh again', async () => (await metric('ironlb_k8s_client_config_stale_bool')) === 0, 20_000);
        assert.deepEqual(await ips('keep'), held, 'and none changed when the good text came back');
      });
    }

    it('keeps the last good config when the ConfigMap is deleted, and says it is stale', async () => {
      await api.core.deleteNamespacedConfigMap({ name: 'config', namespace: NS });
      await eventually('stale', async () => (await metric('ironlb_k8s_client_config_stale_bool')) === 1);
      assert.equal(await metric('ironlb_k8s_client_config_loaded_bool'), 1);
      await api.createService('keep', 'k5');
      assert.equal((await api.waitIngress('keep', 'k5'))[0], '198.51.100.204', 'the deleted config still allocates');
      await api.setConfig(NS, GOOD);
      await eventually('fresh', async () => (await metric('ironlb_k8s_client_config_stale_bool')) === 0);
      held = await ips('keep');
    });

    it('warns about a pool that avoid-buggy-ips leaves empty', async () => {
      await api.setConfig(NS, GOOD + '- {name: bare, protocol: layer2, avoid-buggy-ips: true, addresses: [192.0.2.0/32, 192.0.2.255]}\n');
      await api.waitEvent(NS, 'config', /^Warning ConfigWarning: pool "bare": avoid-buggy-ips leaves no usable address/);
      assert.equal(await metric('ironlb_k8s_client_config_stale_bool'), 0, 'a warning, not a rejection');
      assert.ok(logged(/address-pool config warning/).length >= 1);
    });
  });

  describe('Services', () => {
    it('refuses pool annotations that disagree across prefixes', async () => {
      await api.namespace('ann');
      await api.createService('ann', 'two', {}, { 'ironlb.io/address-pool': 'main', 'metallb.universe.tf/address-pool': 'ten' });
      await api.waitEvent('ann', 'two', /^Warning LoadBalancerFailed: annotations ironlb\.io\/address-pool="main" and metallb\.universe\.tf\/address-pool="ten" disagree; keep only one of them$/);
      assert.deepEqual(await api.ingress('ann', 'two'), []);
    });

    it('never hands a freed IP to a terminating Service; the oldest waiting ones get them, quietly', async (t) => {
      await api.namespace('ten');
      const pool = { 'ironlb.io/address-pool': 'ten' };
      for (let i = 0; i < 10; i++) await api.createService('ten', `h${i}`, {}, pool);
      for (let i = 0; i < 10; i++) await api.waitIngress('ten', `h${i}`, 1, 30_000);
      await controller.idle();
      const createdBefore = await metric('ironlb_k8s_client_events_total', '{result="created"}');
      // A Service held by a finalizer while it is deleted: created first, so it would be first in line.
      const dying = await api.createService('ten', 'a-dying', {}, pool);
      await api.core.patchNamespacedService({ name: 'a-dying', namespace: 'ten', body: [{ op: 'add', path: '/metadata/finalizers', value: ['example.com/hold'] }] });
      await api.core.deleteNamespacedService({ name: 'a-dying', namespace: 'ten' });
      assert.ok(dying.metadata?.uid);
      const n = 500;
      const names = Array.from({ length: n }, (_, i) => `p${String(i).padStart(3, '0')}`);
      for (const name of names) await api.createService('ten', name, {}, pool);
      await eventually('all pending', () => controller.pendingServices().filter((k) => k.startsWith('ten/p')).length === n, 120_000, 200);
      // One AllocationFailed Event per waiting Service (and one for a-dying), once.
      await eventually('their Events written', async () => (await metric('ironlb_k8s_client_events_total', '{result="created"}')) >= createdBefore + n + 1, 120_000, 200);
      await controller.idle();
      await sleep(500);
      const writesBefore = (await metric('ironlb_k8s_client_events_total', '{result="created"}')) + (await metric('ironlb_k8s_client_events_total', '{result="patched"}'));
      const logBefore = lines.length;

      for (let i = 0; i < 10; i++) await api.core.deleteNamespacedService({ name: `h${i}`, namespace: 'ten' });
      for (const name of names.slice(0, 10)) await api.waitIngress('ten', name, 1, 30_000);
      await controller.idle();
      await sleep(1000);
      assert.deepEqual(await api.ingress('ten', 'a-dying'), [], 'the terminating Service got nothing');
      const now = await ips('ten');
      assert.equal(names.slice(10).filter((x) => now.get(x) !== '').length, 0, 'the younger ones still wait');
      const writes = (await metric('ironlb_k8s_client_events_total', '{result="created"}')) + (await metric('ironlb_k8s_client_events_total', '{result="patched"}')) - writesBefore;
      const newLines = lines.slice(logBefore);
      const failedLines = newLines.filter((l) => /allocation failed/.test(l));
      t.diagnostic(`10 frees with ${n} waiting: ${writes} Event writes, ${newLines.length} log lines`);
      assert.ok(writes <= 20, `${writes} Event writes for 10 frees (10 IPAllocated expected)`);
      assert.equal(failedLines.length, 0, 'no "allocation failed" line repeated for the 490 still waiting');
      assert.equal(logged(/could not record event/).length, 0, 'the recorder never conflicted with itself');
      assert.equal(await metric('ironlb_k8s_client_events_total', '{result="failed"}'), 0);
      // Let the finalizer go so the namespace can be cleaned up.
      await api.core.patchNamespacedService({ name: 'a-dying', namespace: 'ten', body: [{ op: 'remove', path: '/metadata/finalizers' }] });
    });
  });

  describe('releasing every IP on purpose', () => {
    it('takes effect with the annotation, and the Services say why they lost their IPs', async () => {
      const holding = [...(await ips('keep')).values()].filter((v) => v !== '').length;
      await api.setConfig(NS, 'address-pools: []\n');
      await api.waitEvent(NS, 'config', /^Warning ConfigRefused: /);
      const cm = await api.core.readNamespacedConfigMap({ name: 'config', namespace: NS });
      cm.metadata = { ...cm.metadata, annotations: { ...cm.metadata?.annotations, 'ironlb.io/max-ip-release': '1000' } };
      await api.core.replaceNamespacedConfigMap({ name: 'config', namespace: NS, body: cm });
      await api.waitEvent(NS, 'config', /^Normal ConfigLoaded: loaded 0 address pool\(s\)/);
      assert.ok(holding >= 4);
      await eventually('keep/k1 cleared', async () => (await api.ingress('keep', 'k1')).length === 0, 30_000);
      await api.waitEvent('keep', 'k1', /^Warning ClearAssignment: current IP 198\.51\.100\.\d+ cannot be kept/);
      assert.equal(await metric('ironlb_k8s_client_config_stale_bool'), 0);
    });
  });
});
