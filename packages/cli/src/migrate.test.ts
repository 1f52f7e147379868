import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { migrate } from './migrate.js';

const legacyCm = `
apiVersion: v1
kind: ConfigMap
metadata:
  name: config
  namespace: metallb-system
data:
  config: |
    address-pools:
    - name: default
      protocol: layer2
      addresses:
      - 198.51.100.10-198.51.100.20
      - 2001:db8::/120
    - name: manual
      protocol: layer2
      auto-assign: false
      avoid-buggy-ips: true
      addresses: [203.0.113.0/24]
`;

void describe('kubectl ironlb migrate', { timeout: 10_000 }, () => {
  void it('a legacy ConfigMap becomes IPAddressPools plus one L2Advertisement for all of them', () => {
    const r = migrate(legacyCm);
    assert.ok(r.ok, r.ok ? '' : r.errors.join('; '));
    assert.deepEqual(r.objects, [
      { apiVersion: 'ironlb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'default', namespace: 'ironlb-system' }, spec: { addresses: ['198.51.100.10-198.51.100.20', '2001:db8::/120'] } },
      {
        apiVersion: 'ironlb.io/v1beta1',
        kind: 'IPAddressPool',
        metadata: { name: 'manual', namespace: 'ironlb-system' },
        spec: { addresses: ['203.0.113.0/24'], autoAssign: false, avoidBuggyIPs: true },
      },
      { apiVersion: 'ironlb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'legacy-config', namespace: 'ironlb-system' }, spec: { ipAddressPools: ['default', 'manual'] } },
    ]);
    const docs = parseAllDocuments(r.yaml);
    assert.equal(Array.isArray(docs) ? docs.length : 1, 3, 'the YAML holds the same three documents');
  });

  void it('bare legacy config text works too', () => {
    const r = migrate('address-pools:\n- {name: p, protocol: layer2, addresses: [198.51.100.0/28]}\n', { namespace: 'lb' });
    assert.ok(r.ok);
    assert.equal((r.objects[0]?.['metadata'] as Record<string, unknown>)['namespace'], 'lb');
  });

  void it('metallb.io objects keep names, labels and specs; server fields and other kinds go', () => {
    const text = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: prod
  namespace: metallb-system
  labels: { tier: prod }
  uid: 1234
  resourceVersion: "99"
  annotations: { kubectl.kubernetes.io/last-applied-configuration: "{}" }
spec:
  addresses: [198.51.100.0/26]
  serviceAllocation: { priority: 1, namespaces: [shop] }
status: { assignedIPv4: 3 }
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: { name: edge, namespace: metallb-system }
spec:
  ipAddressPoolSelectors: [{ matchLabels: { tier: prod } }]
  nodeSelectors: [{ matchLabels: { edge: "true" } }]
  interfaces: [eth1]
---
apiVersion: v1
kind: Secret
metadata: { name: memberlist }
`;
    const r = migrate(text);
    assert.ok(r.ok, r.ok ? '' : r.errors.join('; '));
    assert.deepEqual(r.objects[0], {
      apiVersion: 'ironlb.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: 'prod', namespace: 'ironlb-system', labels: { tier: 'prod' } },
      spec: { addresses: ['198.51.100.0/26'], serviceAllocation: { priority: 1, namespaces: ['shop'] } },
    });
    assert.deepEqual((r.objects[1]?.['spec'] as Record<string, unknown>)['interfaces'], ['eth1']);
    assert.match(r.notes.join(), /Secret "memberlist" .* is not MetalLB configuration; skipped/);
  });

  void it('refuses BGP with every offending item named, and prints nothing', () => {
    const cm = `
address-pools:
- {name: a, protocol: bgp, addresses: [198.51.100.0/28]}
- {name: b, protocol: layer2, addresses: [198.51.100.16/28]}
peers:
- {peer-address: 198.51.100.254, peer-asn: 64501, my-asn: 64500}
`;
    const r = migrate(cm);
    assert.equal(r.ok, false);
    const errors = r.ok ? [] : r.errors;
    assert.ok(
      errors.some((e) => /"peers": BGP has no layer2 equivalent/.test(e)),
      errors.join('\n'),
    );
    assert.ok(
      errors.some((e) => /pool "a" has protocol bgp/.test(e)),
      errors.join('\n'),
    );
    const objs = migrate('apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: tor}\nspec: {myASN: 1, peerASN: 2, peerAddress: 198.51.100.1}\n');
    assert.equal(objs.ok, false);
    assert.match(objs.ok ? '' : (objs.errors[0] ?? ''), /BGPPeer "tor": BGP has no layer2 equivalent/);
  });

  void it('refuses what would not apply: names that are not object names, overlaps, bad specs', () => {
    const name = migrate('address-pools:\n- {name: Prod_Pool, protocol: layer2, addresses: [198.51.100.0/28]}\n');
    assert.match(name.ok ? '' : name.errors.join(), /pool "Prod_Pool" is not a valid object name/);
    const overlap = migrate(
      'apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: a}\nspec: {addresses: [198.51.100.0/28]}\n---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: b}\nspec: {addresses: [198.51.100.8/29]}\n',
    );
    assert.match(overlap.ok ? '' : overlap.errors.join(), /overlaps 198\.51\.100\.0\/28 in pool "a"/);
    const spec = migrate('apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: a}\nspec: {serviceSelectors: [{}]}\n');
    assert.match(spec.ok ? '' : spec.errors.join(), /serviceSelectors is not supported/);
    const junk = migrate('a: [');
    assert.match(junk.ok ? '' : junk.errors.join(), /^YAML:/);
    assert.equal(migrate('').ok, false);
  });
});
