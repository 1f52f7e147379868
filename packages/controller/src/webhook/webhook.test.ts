/** The webhook's pure parts: admission decisions from cached objects, and the rotation plan. */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { type Config, buildConfig, isConfigError, parseConfig } from '@ironlb/core';
import type { IPAddressPoolObject, L2AdvertisementObject } from '@ironlb/k8s';
import type { Holder } from '../config-guard.js';
import { DEFAULT_CERT_TIMING, WebhookCertificates, rotationPlan } from './certs.js';
import { type AdmissionContext, type AdmissionRequest, admit } from './validate.js';

const NS = 'ironlb-system';
const pool = (name: string, addresses: string[], extra: Record<string, unknown> = {}): IPAddressPoolObject => ({
  apiVersion: 'ironlb.io/v1beta1',
  kind: 'IPAddressPool',
  metadata: { name, namespace: NS, creationTimestamp: new Date(1000) },
  spec: { addresses, ...extra },
});
const adv = (name: string, spec: Record<string, unknown> = {}): L2AdvertisementObject => ({ apiVersion: 'ironlb.io/v1beta1', kind: 'L2Advertisement', metadata: { name, namespace: NS }, spec });

function context(pools: IPAddressPoolObject[], ads: L2AdvertisementObject[], holders: Holder[] = [], legacy?: Config, extra: Partial<AdmissionContext> = {}): AdmissionContext {
  const config = buildConfig({
    legacy,
    pools: pools.map((p) => ({ name: p.metadata?.name ?? '', spec: p.spec, labels: {} })),
    advertisements: ads.map((a) => ({ name: a.metadata?.name ?? '', spec: a.spec })),
  }).config;
  return { namespace: NS, configMapName: 'config', strandPolicy: 'warn', synced: true, pools, advertisements: ads, legacy, config, holders, nodes: [{ name: 'n1', labels: { zone: 'a' } }], ...extra };
}

function req(kind: string, operation: AdmissionRequest['operation'], object: unknown, oldObject?: unknown): AdmissionRequest {
  const group = kind === 'ConfigMap' ? '' : 'ironlb.io';
  return { uid: 'u1', kind: { group, version: group === '' ? 'v1' : 'v1beta1', kind }, operation, ...(object !== undefined ? { object } : {}), ...(oldObject !== undefined ? { oldObject } : {}) };
}

const holder = (name: string, ip: string): Holder => ({
  record: { key: `app/${name}`, namespace: 'app', families: ['ipv4'], familyPolicy: 'SingleStack', ports: [{ protocol: 'TCP', port: 80 }], requestedIPs: [] },
  ips: [ip],
});

void describe('admission decisions', { timeout: 20_000 }, () => {
  const ctx = context([pool('a', ['198.51.100.0/28'])], [adv('all')]);

  void it('allows a good pool; refuses overlaps, IPv6 ranges CEL cannot order, and other namespaces', () => {
    const good = admit(req('IPAddressPool', 'CREATE', pool('b', ['198.51.100.16/28'])), ctx);
    assert.deepEqual([good.allowed, good.warnings], [true, []]);
    const overlap = admit(req('IPAddressPool', 'CREATE', pool('b', ['198.51.100.8-198.51.100.20'])), ctx);
    assert.equal(overlap.allowed, false);
    assert.match(overlap.message ?? '', /^IPAddressPool "b": IPv4 range 198\.51\.100\.8-198\.51\.100\.20 overlaps 198\.51\.100\.0\/28 in pool "a"/);
    const reversed = admit(req('IPAddressPool', 'CREATE', pool('b', ['2001:db8::9-2001:db8::1'])), ctx);
    assert.match(reversed.message ?? '', /IPAddressPool "b": spec\.addresses\[0\]: range 2001:db8::9-2001:db8::1 is reversed/);
    const elsewhere = admit(req('IPAddressPool', 'CREATE', { ...pool('b', ['198.51.100.16/28']), metadata: { name: 'b', namespace: 'default' } }), ctx);
    assert.match(elsewhere.message ?? '', /read in namespace "ironlb-system" only/);
  });

  void it('an update of a pool may keep its own addresses (no self-overlap)', () => {
    const v = admit(req('IPAddressPool', 'UPDATE', pool('a', ['198.51.100.0/27']), pool('a', ['198.51.100.0/28'])), ctx);
    assert.equal(v.allowed, true, v.message);
  });

  void it('warns when no L2Advertisement will cover a new pool', () => {
    const bare = context([], []);
    const v = admit(req('IPAddressPool', 'CREATE', pool('b', ['198.51.100.16/28'])), bare);
    assert.equal(v.allowed, true);
    assert.match(v.warnings.join(), /no L2Advertisement covers IPAddressPool "b" yet/);
  });

  void it('a shrink that strands Services is a warning by policy, or a refusal; a mass release is always refused', () => {
    const holders = [holder('s1', '198.51.100.5'), holder('s2', '198.51.100.6'), holder('s3', '198.51.100.20')];
    const two = context([pool('a', ['198.51.100.0/28']), pool('b', ['198.51.100.16/28'])], [adv('all')], holders);
    const shrink = req('IPAddressPool', 'UPDATE', pool('a', ['198.51.100.0/30']), pool('a', ['198.51.100.0/28']));
    const warned = admit(shrink, two);
    assert.equal(warned.allowed, true);
    assert.match(warned.warnings.join(), /takes the IPs away from 2 Service\(s\) \(app\/s1, app\/s2\)/);
    const refused = admit(shrink, { ...two, strandPolicy: 'refuse' });
    assert.equal(refused.allowed, false);
    assert.match(refused.message ?? '', /refused \(webhook strand policy "refuse"/);
    const everything = context([pool('a', ['198.51.100.0/28'])], [adv('all')], [holder('s1', '198.51.100.5')]);
    const del = admit(req('IPAddressPool', 'DELETE', undefined, pool('a', ['198.51.100.0/28'])), everything);
    assert.equal(del.allowed, false, 'deleting the pool every Service uses is what the controller would refuse');
    assert.match(del.message ?? '', /refused: this config would take the IPs away from all 1 Services/);
  });

  void it('advertisements: refuses bad fields, warns about missing pools and unselected nodes and about orphaning a pool on delete', () => {
    const bad = admit(req('L2Advertisement', 'CREATE', adv('x', { interfaces: ['eth 0'] })), ctx);
    assert.equal(bad.allowed, false);
    assert.match(bad.message ?? '', /spec\.interfaces\[0\]: "eth 0" is not an interface name/);
    const warn = admit(req('L2Advertisement', 'CREATE', adv('x', { ipAddressPools: ['nope'], nodeSelectors: [{ matchLabels: { zone: 'b' } }] })), ctx);
    assert.equal(warn.allowed, true);
    assert.match(warn.warnings.join(' | '), /no pool named "nope" exists.*\| spec\.nodeSelectors select no node right now/);
    const del = admit(req('L2Advertisement', 'DELETE', undefined, adv('all')), ctx);
    assert.equal(del.allowed, true);
    assert.match(del.warnings.join(), /no L2Advertisement covers pool\(s\) "a"/);
  });

  void it("the legacy ConfigMap: parse errors and an empty config are refused with the controller's words", () => {
    const cm = (text: string | undefined): unknown => ({ metadata: { name: 'config', namespace: NS }, data: text === undefined ? {} : { config: text } });
    const broken = admit(req('ConfigMap', 'UPDATE', cm('address-pools:\n- name: p\n  protocol: bgp\n  addresses: [198.51.100.0/28]\n')), ctx);
    assert.equal(broken.allowed, false);
    assert.match(broken.message ?? '', /ConfigMap ironlb-system\/config: invalid config: pool "p": protocol "bgp": BGP mode is not supported; use layer2 \(line 3\)/);
    assert.match(admit(req('ConfigMap', 'UPDATE', cm('')), ctx).message ?? '', /the "config" key is empty/);
    assert.match(admit(req('ConfigMap', 'UPDATE', cm(undefined)), ctx).message ?? '', /data key "config" is missing/);
    const clash = admit(req('ConfigMap', 'UPDATE', cm('address-pools:\n- {name: q, protocol: layer2, addresses: [198.51.100.4/30]}\n')), ctx);
    assert.equal(clash.allowed, false, 'a ConfigMap pool overlapping an IPAddressPool in force would be refused');
    assert.match(clash.message ?? '', /overlaps 198\.51\.100\.0\/28 in pool "a"/);
    const other = admit(req('ConfigMap', 'UPDATE', { metadata: { name: 'unrelated', namespace: NS }, data: { config: 'junk: [' } }), ctx);
    assert.equal(other.allowed, true, 'any other ConfigMap is never blocked');
  });

  void it('before the caches sync only per-object checks run', () => {
    const starting = { ...ctx, synced: false };
    assert.equal(admit(req('IPAddressPool', 'CREATE', pool('b', ['198.51.100.8/29'])), starting).allowed, true);
    assert.equal(admit(req('IPAddressPool', 'CREATE', pool('b', ['banana'])), starting).allowed, false);
  });

  void it('re-pinning a pool strands nobody; the Services it no longer matches are named in a warning', () => {
    const holders = [holder('s1', '198.51.100.5'), holder('s2', '198.51.100.6')];
    const c = context([pool('a', ['198.51.100.0/28'])], [adv('all')], holders, undefined, { strandPolicy: 'refuse' });
    const repin = admit(req('IPAddressPool', 'UPDATE', pool('a', ['198.51.100.0/28'], { serviceAllocation: { namespaces: ['web'] } }), pool('a', ['198.51.100.0/28'])), c);
    assert.equal(repin.allowed, true, repin.message);
    assert.deepEqual(repin.warnings, ['2 Service(s) holding IPs of IPAddressPool "a" do not match its serviceAllocation (app/s1, app/s2): they keep their IPs; the rules decide new allocations only']);
    const matching = admit(req('IPAddressPool', 'UPDATE', pool('a', ['198.51.100.0/28'], { serviceAllocation: { namespaces: ['app'] } }), pool('a', ['198.51.100.0/28'])), c);
    assert.deepEqual([matching.allowed, matching.warnings], [true, []]);
  });

  // An object made while the webhook was down (or by an older ironlb) may be invalid: metadata
  // updates of it must pass, or labels cannot be fixed and finalizers never leave.
  void describe('an UPDATE that leaves the spec unchanged is allowed even when the object is invalid', () => {
    const badPool = pool('b', ['198.51.100.8/29']); // overlaps "a"
    const junkPool = pool('c', ['banana']);
    const badAdv = adv('x', { interfaces: ['eth 0'] });
    const cm = (text: string, extra: Record<string, unknown> = {}): unknown => ({ metadata: { name: 'config', namespace: NS, ...extra }, data: { config: text } });
    const brokenText = 'address-pools:\n- name: p\n  protocol: bgp\n  addresses: [198.51.100.0/28]\n';
    const meta = (o: unknown, m: Record<string, unknown>): unknown => ({ ...(o as object), metadata: { ...(o as { metadata: object }).metadata, ...m } });
    const cases: { name: string; kind: string; old: unknown; next: unknown; allowed: boolean; text: RegExp }[] = [
      {
        name: 'label on an overlapping pool',
        kind: 'IPAddressPool',
        old: badPool,
        next: meta(badPool, { labels: { fixed: 'yes' } }),
        allowed: true,
        text: /^only metadata changed, so this update is allowed; the spec is still not valid: IPAddressPool "b": .*overlaps/,
      },
      {
        name: 'finalizer removed from a terminating junk pool',
        kind: 'IPAddressPool',
        old: meta(junkPool, { finalizers: ['x/y'], deletionTimestamp: '2026-01-01T00:00:00Z' }),
        next: meta(junkPool, { finalizers: [], deletionTimestamp: '2026-01-01T00:00:00Z' }),
        allowed: true,
        text: /spec is still not valid: .*"banana" is not a CIDR/,
      },
      {
        name: 'annotation on a bad advertisement',
        kind: 'L2Advertisement',
        old: badAdv,
        next: meta(badAdv, { annotations: { note: 'x' } }),
        allowed: true,
        text: /spec is still not valid: L2Advertisement "x": spec\.interfaces\[0\]/,
      },
      {
        name: 'annotation on a broken ConfigMap',
        kind: 'ConfigMap',
        old: cm(brokenText),
        next: cm(brokenText, { annotations: { 'ironlb.io/max-ip-release': '3' } }),
        allowed: true,
        text: /data is still not valid: .*BGP mode is not supported/,
      },
      { name: 'a spec change that is still invalid is refused', kind: 'IPAddressPool', old: badPool, next: pool('b', ['198.51.100.4/30']), allowed: false, text: /overlaps/ },
      {
        name: 'an advertisement spec change that is invalid is refused',
        kind: 'L2Advertisement',
        old: badAdv,
        next: adv('x', { interfaces: ['eth/1'] }),
        allowed: false,
        text: /is not an interface name/,
      },
      { name: 'a ConfigMap data change that is invalid is refused', kind: 'ConfigMap', old: cm(brokenText), next: cm(brokenText + '# edit\n'), allowed: false, text: /BGP mode is not supported/ },
      { name: 'a CREATE of an invalid object is refused', kind: 'IPAddressPool', old: undefined, next: badPool, allowed: false, text: /overlaps/ },
    ];
    for (const c of cases) {
      void it(c.name, () => {
        const v = admit(req(c.kind, c.old === undefined ? 'CREATE' : 'UPDATE', c.next, c.old), ctx);
        assert.equal(v.allowed, c.allowed, v.message);
        assert.match(c.allowed ? (v.warnings[0] ?? '') : (v.message ?? ''), c.text);
        for (const w of v.warnings) assert.ok(w.length <= 240);
      });
    }
  });

  void it('never blocks a kind it does not know', () => {
    assert.equal(admit({ uid: 'u', kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, operation: 'CREATE', object: {} }, ctx).allowed, true);
  });
});

void describe('webhook certificates', { timeout: 60_000 }, () => {
  const DAY = 86_400_000;
  void it('rotationPlan: a CA first, a serving cert after two thirds of its life, a new CA 30 days before expiry', () => {
    const t = DEFAULT_CERT_TIMING;
    assert.deepEqual(rotationPlan(0, [], undefined, t), { newCa: true, newCert: true, dropCas: [] });
    const ca = { id: 'ca1', notAfter: 365 * DAY, publishedAt: 0 };
    const cert = { caId: 'ca1', notBefore: 0, notAfter: 30 * DAY };
    assert.deepEqual(rotationPlan(10 * DAY, [ca], cert, t), { newCa: false, newCert: false, dropCas: [] });
    assert.deepEqual(rotationPlan(20 * DAY, [ca], cert, t), { newCa: false, newCert: true, dropCas: [] });
    assert.equal(rotationPlan(336 * DAY, [ca], { caId: 'ca1', notBefore: 330 * DAY, notAfter: 360 * DAY }, t).newCa, true);
    // A new CA not yet published long enough: the serving cert stays on the old one.
    const ca2 = { id: 'ca2', notAfter: 700 * DAY, publishedAt: 336 * DAY };
    assert.equal(rotationPlan(336 * DAY + 1000, [ca, ca2], { caId: 'ca1', notBefore: 330 * DAY, notAfter: 360 * DAY }, t).newCert, false);
    assert.equal(rotationPlan(336 * DAY + 61_000, [ca, ca2], { caId: 'ca1', notBefore: 330 * DAY, notAfter: 360 * DAY }, t).newCert, true);
    assert.deepEqual(rotationPlan(366 * DAY, [ca, ca2], { caId: 'ca2', notBefore: 350 * DAY, notAfter: 380 * DAY }, t).dropCas, ['ca1']);
  });

  void it('issues a serving certificate for the hosts, signed by a CA in the bundle, and rotates on a fake clock', async () => {
    let now = Date.UTC(2026, 0, 1);
    const certs = new WebhookCertificates({ hosts: ['ironlb-webhook.ironlb-system.svc', '127.0.0.1'], now: () => now });
    assert.deepEqual(await certs.rotate(), { cert: true, bundle: true });
    const first = certs.current();
    assert.ok(first);
    const leaf = new X509Certificate(first.certPem);
    assert.equal(leaf.subjectAltName, 'DNS:ironlb-webhook.ironlb-system.svc, IP Address:127.0.0.1');
    assert.ok(leaf.verify(new X509Certificate(certs.caBundlePem()).publicKey));
    assert.equal(leaf.ca, false);
    certs.markPublished(certs.caBundlePem());
    assert.deepEqual(await certs.rotate(), { cert: false, bundle: false }, 'nothing due');
    now += 21 * DAY;
    assert.deepEqual(await certs.rotate(), { cert: true, bundle: false }, 'serving cert renewed after two thirds of 30 days');
    now += 320 * DAY;
    const r = await certs.rotate();
    assert.equal(r.bundle, true, 'a new CA 30 days before the old one expires');
    assert.equal((certs.caBundlePem().match(/BEGIN CERTIFICATE/g) ?? []).length, 2, 'both CAs are trusted meanwhile');
  });
});

void it('a ConfigMap config used as legacy input parses', () => {
  const c = parseConfig('address-pools: []\n');
  assert.ok(!isConfigError(c));
});
