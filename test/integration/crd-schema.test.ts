/**
 * deploy/ironlb.yaml's CRDs on a real kube-apiserver, with no ironlb running: every field of
 * IPAddressPool and L2Advertisement is accepted when right, and the schema's CEL rules refuse
 * mistakes with a message naming the field and the value. This is what protects a cluster while
 * ironlb (and its webhook) is down.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { type ControlPlane, startControlPlane } from '../controlplane/controlplane.js';
import { advertisement, apply, getObject, installCrds, pool, raw, refusal, remove } from './crd-helpers.js';
import { Api } from './helpers.js';

const NS = 'ironlb-system';

describe('ironlb.io CRD schemas on a real API server', { timeout: 180_000 }, () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  before(async () => {
    cp = await startControlPlane();
    kc = cp.kubeConfig();
    await new Api(kc).namespace(NS);
    await installCrds(kc);
  });
  after(async () => {
    await cp?.stop();
  });

  it('accepts every IPAddressPool field and fills MetalLB defaults', async () => {
    await apply(kc, [
      pool('full', {
        addresses: ['198.51.100.0/28', '198.51.100.20-198.51.100.30', '198.51.100.40', '2001:db8::/120', '2001:db8:1::1-2001:db8:1::ff', '2001:DB8:2::5'],
        autoAssign: false,
        avoidBuggyIPs: true,
        serviceAllocation: {
          priority: 7,
          namespaces: ['shop', 'ops'],
          namespaceSelectors: [{ matchLabels: { team: 'web' } }, { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod', 'stage'] }] }],
          serviceSelectors: [
            {
              matchExpressions: [
                { key: 'example.com/tier', operator: 'Exists' },
                { key: 'legacy', operator: 'DoesNotExist' },
                { key: 'zone', operator: 'NotIn', values: ['x'] },
              ],
            },
          ],
        },
      }),
      pool('defaults', { addresses: ['203.0.113.0/24'] }),
    ]);
    const d = await getObject<{ spec: { autoAssign: boolean; avoidBuggyIPs: boolean } }>(kc, 'IPAddressPool', NS, 'defaults');
    assert.deepEqual([d?.spec.autoAssign, d?.spec.avoidBuggyIPs], [true, false], 'defaults as in MetalLB');
    const f = await getObject<{ spec: { serviceAllocation: { priority: number } } }>(kc, 'IPAddressPool', NS, 'full');
    assert.equal(f?.spec.serviceAllocation.priority, 7);
  });

  const badPools: { name: string; spec: Record<string, unknown>; message: RegExp }[] = [
    { name: 'not an address', spec: { addresses: ['banana'] }, message: /spec\.addresses\[0\]: Invalid value: "banana": "banana" is not a CIDR, a start-end range or an IP address/ },
    { name: 'host bits in a CIDR', spec: { addresses: ['198.51.100.1/24'] }, message: /spec\.addresses\[0\]: .*CIDR "198\.51\.100\.1\/24" has host bits set/ },
    { name: 'reversed IPv4 range', spec: { addresses: ['198.51.100.9-198.51.100.1'] }, message: /spec\.addresses\[0\]: .*range "198\.51\.100\.9-198\.51\.100\.1" is reversed/ },
    { name: 'mixed families', spec: { addresses: ['198.51.100.1-2001:db8::1'] }, message: /spec\.addresses\[0\]: .*mixes IPv4 and IPv6/ },
    { name: 'loopback', spec: { addresses: ['127.0.0.0/8'] }, message: /spec\.addresses\[0\]: .*"127\.0\.0\.0\/8" is a loopback, link-local, multicast/ },
    { name: 'multicast', spec: { addresses: ['224.0.0.5'] }, message: /spec\.addresses\[0\]: .*"224\.0\.0\.5" is a loopback, link-local, multicast/ },
    { name: 'IPv6 link-local', spec: { addresses: ['fe80::/64'] }, message: /spec\.addresses\[0\]: .*"fe80::\/64" is a loopback/ },
    { name: 'IPv4-mapped IPv6', spec: { addresses: ['::ffff:198.51.100.1'] }, message: /IPv4-mapped IPv6 is not allowed/ },
    {
      name: 'leading zeros (no mapped-address hint)',
      spec: { addresses: ['198.51.100.010'] },
      message: /"198\.51\.100\.010" is not a CIDR, a start-end range or an IP address \(no leading zeros, spaces or zones\)/,
    },
    { name: 'no addresses', spec: { autoAssign: true }, message: /spec\.addresses: Required value/ },
    { name: 'empty addresses', spec: { addresses: [] }, message: /spec\.addresses: Invalid value: .*should have at least 1 items/ },
    {
      name: 'unknown field (MetalLB ConfigMap spelling)',
      spec: { addresses: ['198.51.100.0/28'], 'auto-assign': false },
      message: /spec\.auto-assign(": unknown field|: field not declared in schema)|unknown field "spec\.auto-assign"/,
    },
    { name: 'negative priority', spec: { addresses: ['198.51.100.0/28'], serviceAllocation: { priority: -1 } }, message: /spec\.serviceAllocation\.priority: Invalid value: -1/ },
    {
      name: 'namespace listed twice',
      spec: { addresses: ['198.51.100.0/28'], serviceAllocation: { namespaces: ['a', 'a'] } },
      message: /spec\.serviceAllocation\.namespaces(\[1\]: Duplicate value: "a"|: duplicate entries for key \[="a"\])/,
    },
    { name: 'bad namespace name', spec: { addresses: ['198.51.100.0/28'], serviceAllocation: { namespaces: ['Shop'] } }, message: /spec\.serviceAllocation\.namespaces\[0\]: Invalid value: "Shop"/ },
    {
      name: 'In without values',
      spec: { addresses: ['198.51.100.0/28'], serviceAllocation: { serviceSelectors: [{ matchExpressions: [{ key: 'a', operator: 'In' }] }] } },
      message: /spec\.serviceAllocation\.serviceSelectors\[0\]\.matchExpressions\[0\]: Invalid value: .*operator In needs at least one value/,
    },
    {
      name: 'unknown operator',
      spec: { addresses: ['198.51.100.0/28'], serviceAllocation: { namespaceSelectors: [{ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['b'] }] }] } },
      message: /matchExpressions\[0\]\.operator: Unsupported value: "Equals"/,
    },
    {
      name: 'bad label key',
      spec: { addresses: ['198.51.100.0/28'], serviceAllocation: { serviceSelectors: [{ matchLabels: { 'bad key': 'x' } }] } },
      message: /serviceSelectors\[0\]\.matchLabels: Invalid value: .*matchLabels keys must be label keys/,
    },
  ];
  for (const c of badPools) {
    it(`refuses an IPAddressPool: ${c.name}`, async () => {
      assert.match(await refusal(kc, pool('bad', c.spec)), c.message);
    });
  }

  it('accepts every L2Advertisement field (and an empty spec)', async () => {
    await apply(kc, [
      advertisement('full', {
        ipAddressPools: ['full', 'defaults'],
        ipAddressPoolSelectors: [{ matchLabels: { tier: 'edge' } }],
        nodeSelectors: [{ matchLabels: { 'kubernetes.io/hostname': 'n1' } }, { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }],
        interfaces: ['eth0', 'bond0.100', 'enp3s0f1'],
      }),
      advertisement('everything'),
    ]);
    const a = await getObject<{ spec: { interfaces: string[] } }>(kc, 'L2Advertisement', NS, 'full');
    assert.deepEqual(a?.spec.interfaces, ['eth0', 'bond0.100', 'enp3s0f1']);
  });

  const badAds: { name: string; spec: Record<string, unknown>; message: RegExp }[] = [
    { name: 'interface with a space', spec: { interfaces: ['eth 0'] }, message: /spec\.interfaces\[0\]: Invalid value: "eth 0"/ },
    { name: 'interface name too long', spec: { interfaces: ['averyveryverylongname'] }, message: /spec\.interfaces\[0\]: Too long/ },
    { name: 'interface ".."', spec: { interfaces: ['..'] }, message: /spec\.interfaces\[0\]: Invalid value: "\.\.": "\.\." is not an interface name/ },
    { name: 'interface listed twice', spec: { interfaces: ['eth0', 'eth0'] }, message: /spec\.interfaces(\[1\]: Duplicate value: "eth0"|: duplicate entries for key \[="eth0"\])/ },
    { name: 'pool listed twice', spec: { ipAddressPools: ['a', 'a'] }, message: /spec\.ipAddressPools(\[1\]: Duplicate value: "a"|: duplicate entries for key \[="a"\])/ },
    { name: 'pool name that is no object name', spec: { ipAddressPools: ['Bad_Name'] }, message: /spec\.ipAddressPools\[0\]: Invalid value: "Bad_Name"/ },
    {
      name: 'node selector without values',
      spec: { nodeSelectors: [{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: [] }] }] },
      message: /spec\.nodeSelectors\[0\]\.matchExpressions\[0\]: Invalid value: .*operator NotIn needs at least one value/,
    },
    { name: 'Exists with values', spec: { nodeSelectors: [{ matchExpressions: [{ key: 'zone', operator: 'Exists', values: ['a'] }] }] }, message: /operator Exists takes no values/ },
    { name: 'MetalLB field ironlb lacks', spec: { serviceSelectors: [{}] }, message: /spec\.serviceSelectors: field not declared in schema|unknown field "spec\.serviceSelectors"/ },
  ];
  for (const c of badAds) {
    it(`refuses an L2Advertisement: ${c.name}`, async () => {
      assert.match(await refusal(kc, advertisement('bad', c.spec)), c.message);
    });
  }

  it('ServiceL2Status holds one record (no status subresource: one write creates it)', async () => {
    await new Api(kc).namespace('shop');
    const obj = {
      apiVersion: 'ironlb.io/v1beta1',
      kind: 'ServiceL2Status',
      metadata: { name: 'front', namespace: 'shop' },
      status: { node: 'n1', serviceName: 'front', serviceNamespace: 'shop', interfaces: [{ name: 'eth0' }], ips: ['198.51.100.1'], since: '2026-01-01T00:00:00Z' },
    };
    await apply(kc, [obj]);
    const got = await getObject<{ status: { node: string } }>(kc, 'ServiceL2Status', 'shop', 'front');
    assert.equal(got?.status.node, 'n1');
    await remove(kc, obj);
  });

  it('kubectl get columns show addresses, usage and validity (additionalPrinterColumns)', async () => {
    const r = await raw(kc, 'GET', `/apis/ironlb.io/v1beta1/namespaces/${NS}/ipaddresspools`, undefined, 'application/json', 'application/json;as=Table;v=v1;g=meta.k8s.io');
    assert.equal(r.code, 200);
    const names = (JSON.parse(r.body) as { columnDefinitions: { name: string }[] }).columnDefinitions.map((c) => c.name);
    for (const c of ['Addresses', 'Used v4', 'Free v4', 'Valid']) assert.ok(names.includes(c), `column ${c} in ${names.join(', ')}`);
  });
});
