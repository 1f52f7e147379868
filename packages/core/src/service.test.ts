import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backendKeyFor, requestedIPsFrom, type RequestedIPs } from './service.js';

void describe('requestedIPsFrom', { timeout: 30_000 }, () => {
  const cases: [spec: string | undefined, annotation: string | undefined, want: RequestedIPs][] = [
    [undefined, undefined, { ok: true, ips: [] }],
    ['', '', { ok: true, ips: [] }],
    ['10.0.0.5', undefined, { ok: true, ips: ['10.0.0.5'] }],
    [undefined, '10.0.0.5, 2001:DB8::0:1', { ok: true, ips: ['10.0.0.5', '2001:db8::1'] }],
    ['10.0.0.5', '10.0.0.5', { ok: false, message: 'spec.loadBalancerIP and the loadBalancerIPs annotation are both set; use only the annotation' }],
    [undefined, '10.0.0.5,banana', { ok: false, message: 'invalid requested IP "banana"' }],
  ];
  for (const [spec, ann, want] of cases) {
    void it(`${String(spec)} + ${String(ann)}`, () => assert.deepEqual(requestedIPsFrom(spec, ann), want));
  }
});

void describe('backendKeyFor', { timeout: 30_000 }, () => {
  void it('is empty for Cluster', () => assert.equal(backendKeyFor('Cluster', { app: 'x' }), ''));
  void it('sorts selector keys for Local', () => assert.equal(backendKeyFor('Local', { tier: 'web', app: 'x' }), 'app=x,tier=web'));
  void it('never equals the Cluster key for Local', () => assert.notEqual(backendKeyFor('Local', {}), ''));
});
