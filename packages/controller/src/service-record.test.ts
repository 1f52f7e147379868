import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Service } from '@kubernetes/client-node';
import { annotation, annotationConflict, ingressIPs, isHandled, serviceRecord } from './service-record.js';

function svc(spec: V1Service['spec'], annotations: Record<string, string> = {}, ingress: string[] = []): V1Service {
  return {
    metadata: { namespace: 'ns', name: 'web', annotations },
    spec: { type: 'LoadBalancer', ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', ports: [{ port: 80, protocol: 'TCP' }], ...spec },
    status: { loadBalancer: { ingress: ingress.map((ip) => ({ ip })) } },
  };
}

describe('isHandled', { timeout: 10_000 }, () => {
  const cases: [string, V1Service['spec'], string | undefined, boolean][] = [
    ['LoadBalancer without class, no --lb-class', {}, undefined, true],
    ['ClusterIP', { type: 'ClusterIP' }, undefined, false],
    ['NodePort', { type: 'NodePort' }, undefined, false],
    ['other class, no --lb-class', { loadBalancerClass: 'x/y' }, undefined, false],
    ['matching class', { loadBalancerClass: 'ironlb.io/lb' }, 'ironlb.io/lb', true],
    ['no class when --lb-class is set', {}, 'ironlb.io/lb', false],
  ];
  for (const [name, spec, cls, want] of cases) it(name, () => assert.equal(isHandled(svc(spec), cls), want));
});

describe('serviceRecord', { timeout: 10_000 }, () => {
  it('reads annotations under all three prefixes, ours first', () => {
    assert.equal(annotation(svc({}, { 'metallb.universe.tf/address-pool': 'old' }), 'address-pool'), 'old');
    assert.equal(annotation(svc({}, { 'metallb.io/address-pool': 'mid', 'ironlb.io/address-pool': 'ours' }), 'address-pool'), 'ours');
  });
  it('takes requested IPs from spec.loadBalancerIP or the comma list annotation', () => {
    const a = serviceRecord(svc({ loadBalancerIP: '198.51.100.201' }));
    assert.ok(a.ok);
    assert.deepEqual(a.record.requestedIPs, ['198.51.100.201']);
    const b = serviceRecord(svc({ ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] }, { 'metallb.io/loadBalancerIPs': ' 198.51.100.201 , 2001:db8::1:1' }));
    assert.ok(b.ok);
    assert.deepEqual(b.record.requestedIPs, ['198.51.100.201', '2001:db8::1:1']);
    assert.deepEqual(b.record.families, ['ipv4', 'ipv6']);
    assert.equal(b.record.familyPolicy, 'RequireDualStack');
  });
  it('refuses spec.loadBalancerIP together with the annotation', () => {
    const r = serviceRecord(svc({ loadBalancerIP: '198.51.100.201' }, { 'ironlb.io/loadBalancerIPs': '198.51.100.202' }));
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.message, /spec\.loadBalancerIP and the loadBalancerIPs annotation are both set/);
  });
  it('makes Local services share only with identical selectors, never with Cluster ones', () => {
    const local = serviceRecord(svc({ externalTrafficPolicy: 'Local', selector: { b: '2', a: '1' } }));
    const cluster = serviceRecord(svc({ externalTrafficPolicy: 'Cluster', selector: { a: '1', b: '2' } }));
    const emptyLocal = serviceRecord(svc({ externalTrafficPolicy: 'Local' }));
    assert.ok(local.ok && cluster.ok && emptyLocal.ok);
    assert.equal(local.record.backendKey, 'a=1,b=2', 'selector rendered in key order');
    assert.equal(cluster.record.backendKey, '');
    assert.notEqual(emptyLocal.record.backendKey, cluster.record.backendKey);
  });
  it('carries sharing key, pool and ports', () => {
    const r = serviceRecord(svc({ ports: [{ port: 53, protocol: 'UDP' }, { port: 53 }] }, { 'ironlb.io/allow-shared-ip': 'dns', 'ironlb.io/address-pool': 'p' }));
    assert.ok(r.ok);
    assert.equal(r.record.sharingKey, 'dns');
    assert.equal(r.record.requestedPool, 'p');
    assert.deepEqual(r.record.ports, [
      { protocol: 'UDP', port: 53 },
      { protocol: 'TCP', port: 53 },
    ]);
  });
  it('lists ingress IPs, ignoring hostnames', () => {
    const s = svc({}, {}, ['198.51.100.200']);
    s.status!.loadBalancer!.ingress!.push({ hostname: 'lb.example' });
    assert.deepEqual(ingressIPs(s), ['198.51.100.200']);
  });
});

describe('annotationConflict', { timeout: 10_000 }, () => {
  it('is quiet for one prefix, or several that agree (whitespace aside)', () => {
    assert.equal(annotationConflict(svc({}, { 'metallb.io/address-pool': 'a' }), 'address-pool'), undefined);
    assert.equal(annotationConflict(svc({}, { 'ironlb.io/address-pool': 'a', 'metallb.io/address-pool': ' a ' }), 'address-pool'), undefined);
  });
  it('names both annotations and values when they differ', () => {
    const s = svc({}, { 'metallb.io/allow-shared-ip': 'k1', 'metallb.universe.tf/allow-shared-ip': 'k2' });
    assert.equal(annotationConflict(s, 'allow-shared-ip'), 'annotations metallb.io/allow-shared-ip="k1" and metallb.universe.tf/allow-shared-ip="k2" disagree; keep only one of them');
    const r = serviceRecord(s);
    assert.equal(r.ok, false);
  });
  it('bounds what it repeats from a huge value', () => {
    const m = annotationConflict(svc({}, { 'ironlb.io/loadBalancerIPs': 'x'.repeat(100_000), 'metallb.io/loadBalancerIPs': '198.51.100.1' }), 'loadBalancerIPs');
    assert.ok((m ?? '').length < 300);
  });
});
