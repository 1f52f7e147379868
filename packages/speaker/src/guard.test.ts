/** The split-brain/conflict guard: claim verdicts and yield leases, without sockets or sleeps. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { electionHash } from '@ironlb/core';
import { type ClaimContext, YieldTable, decideClaim, outranks } from './guard.js';

const ip = '198.51.100.200';
const [first, second] = ['n1', 'n2', 'n3'].sort((a, b) => Buffer.compare(electionHash(a, ip), electionHash(b, ip))) as [string, string, string];

function ctx(self: string, over: Partial<ClaimContext> = {}): ClaimContext {
  const macs: Record<string, string> = { 'aa:00:00:00:00:01': 'n1', 'aa:00:00:00:00:02': 'n2', 'aa:00:00:00:00:03': 'n3' };
  const own = Object.entries(macs).find(([, n]) => n === self)?.[0] ?? '';
  return {
    self,
    selfMacs: new Set([own]),
    peerOfMac: (m) => macs[m],
    electionIpOf: (x) => (x === ip ? ip : undefined),
    ...over,
  };
}
const macOf = (n: string): string => `aa:00:00:00:00:0${n.slice(1)}`;

describe('decideClaim', () => {
  it('ignores our own frames and IPs we do not announce', () => {
    assert.deepEqual(decideClaim({ ip, mac: macOf(first) }, ctx(first)), { kind: 'ignore', reason: 'ownMac' });
    assert.deepEqual(decideClaim({ ip: '198.51.100.9', mac: macOf(second) }, ctx(first)), { kind: 'ignore', reason: 'notAnnounced' });
  });
  it('the higher-ranked of two answering speakers re-asserts, the other yields: both agree', () => {
    assert.deepEqual(decideClaim({ ip, mac: macOf(second) }, ctx(first)), { kind: 'reassert', peer: second });
    assert.deepEqual(decideClaim({ ip, mac: macOf(first) }, ctx(second)), { kind: 'yield', peer: first });
    assert.equal(outranks(first, second, ip), true);
    assert.equal(outranks(second, first, ip), false);
  });
  it('a MAC no speaker advertised is a foreign host: conflict', () => {
    assert.deepEqual(decideClaim({ ip, mac: '02:de:ad:be:ef:01' }, ctx(first)), { kind: 'conflict' });
  });
  it('MAC case does not matter', () => {
    assert.deepEqual(decideClaim({ ip, mac: macOf(second).toUpperCase() }, ctx(first)), { kind: 'reassert', peer: second });
  });
});

describe('YieldTable', () => {
  it('a lease lasts leaseMs from the last evidence, renewals only from the same peer', () => {
    let now = 1000;
    const t = new YieldTable(3000, () => now);
    assert.equal(t.yieldTo(ip, 'n1'), true);
    assert.equal(t.yieldTo(ip, 'n1'), false);
    assert.equal(t.isYielded(ip), true);
    now += 2000;
    t.renew(ip, 'n9');
    now += 999;
    assert.equal(t.peerOf(ip), 'n1');
    assert.equal(t.nextExpiry(), 4000);
    now += 1;
    assert.equal(t.isYielded(ip), false);
    assert.deepEqual(t.takeExpired(), [ip]);
    assert.deepEqual(t.takeExpired(), []);
  });
  it('renew extends, clear drops', () => {
    let now = 0;
    const t = new YieldTable(100, () => now);
    t.yieldTo(ip, 'n2');
    now = 90;
    t.renew(ip, 'n2');
    now = 150;
    assert.deepEqual([...t.live()], [[ip, 'n2']]);
    t.clear(ip);
    assert.equal(t.isYielded(ip), false);
    assert.equal(t.nextExpiry(), undefined);
  });
});
