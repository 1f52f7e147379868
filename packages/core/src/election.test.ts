import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { electAnnouncer, electionHash, type ElectionCandidate, type ElectionInput, type ElectionResult } from './election.js';

function node(name: string, o: Partial<Omit<ElectionCandidate, 'name'>> = {}): ElectionCandidate {
  return { name, alive: true, networkUnavailable: false, excludedByLabel: false, hasServingEndpoint: true, ...o };
}

const nodes = ['node-a', 'node-b', 'node-c', 'node-d'];

void describe('election hash', { timeout: 30_000 }, () => {
  // Fixtures computed once with `sha256sum` semantics (hex prefix of SHA-256("node#ip")), then
  // recomputed here with node:crypto directly, independent of the code under test.
  const fixtures: [name: string, ip: string, hexPrefix: string][] = [
    ['node-a', '192.0.2.10', 'd4b84135'],
    ['node-b', '192.0.2.10', '6e9fb809'],
    ['node-c', '192.0.2.10', '39f2d7a8'],
    ['node-d', '192.0.2.10', '1e377524'],
    ['node-b', '2001:db8::1', '1aee61dd'],
    ['node-d', '2001:db8::1', '1151f196'],
  ];
  for (const [name, ip, prefix] of fixtures) {
    void it(`${name}#${ip} starts ${prefix}`, () => {
      const independent = createHash('sha256').update(`${name}#${ip}`, 'utf8').digest('hex');
      assert.equal(independent.slice(0, 8), prefix);
      assert.equal(electionHash(name, ip).toString('hex'), independent);
    });
  }

  void it('canonicalises the IP text before hashing', () => {
    assert.deepEqual(electionHash('node-a', '2001:DB8:0::1'), electionHash('node-a', '2001:db8::1'));
  });
});

void describe('electAnnouncer', { timeout: 30_000 }, () => {
  const base: ElectionInput = {
    serviceIPs: ['192.0.2.10'],
    candidates: nodes.map((n) => node(n)),
    trafficPolicy: 'Cluster',
    anyServingEndpoint: true,
  };
  // By the fixtures above, for 192.0.2.10 the order is d < c < b < a; for 2001:db8::1 it is
  // d < b < a < c.
  const cases: { name: string; input: Partial<ElectionInput>; want: ElectionResult }[] = [
    { name: 'lowest hash wins', input: {}, want: { winner: 'node-d', ranking: ['node-d', 'node-c', 'node-b', 'node-a'] } },
    { name: 'candidate order does not matter', input: { candidates: [...nodes].reverse().map((n) => node(n)) }, want: { winner: 'node-d', ranking: ['node-d', 'node-c', 'node-b', 'node-a'] } },
    {
      name: 'only the first IP is hashed',
      input: { serviceIPs: ['2001:db8::1', '192.0.2.10'] },
      want: { winner: 'node-d', ranking: ['node-d', 'node-b', 'node-a', 'node-c'] },
    },
    {
      name: 'dead, network-unavailable and excluded nodes drop out',
      input: { candidates: [node('node-a'), node('node-b'), node('node-c', { alive: false }), node('node-d', { networkUnavailable: true })] },
      want: { winner: 'node-b', ranking: ['node-b', 'node-a'] },
    },
    {
      name: 'excluded by label',
      input: { candidates: [node('node-a'), node('node-d', { excludedByLabel: true })] },
      want: { winner: 'node-a', ranking: ['node-a'] },
    },
    {
      name: 'Cluster policy ignores where endpoints run',
      input: { candidates: nodes.map((n) => node(n, { hasServingEndpoint: n === 'node-a' })) },
      want: { winner: 'node-d', ranking: ['node-d', 'node-c', 'node-b', 'node-a'] },
    },
    {
      name: 'Local policy: only nodes with a serving endpoint',
      input: { trafficPolicy: 'Local', candidates: nodes.map((n) => node(n, { hasServingEndpoint: n === 'node-a' || n === 'node-b' })) },
      want: { winner: 'node-b', ranking: ['node-b', 'node-a'] },
    },
    {
      name: 'Local policy: endpoint only on a dead node',
      input: { trafficPolicy: 'Local', candidates: [node('node-a', { alive: false }), node('node-b', { hasServingEndpoint: false })] },
      want: { winner: null, reason: 'noLocalEndpointCandidates' },
    },
    { name: 'no serving endpoint anywhere', input: { anyServingEndpoint: false }, want: { winner: null, reason: 'noServingEndpoints' } },
    { name: 'no candidates', input: { candidates: [] }, want: { winner: null, reason: 'noCandidates' } },
    { name: 'all candidates ineligible', input: { candidates: [node('node-a', { alive: false })] }, want: { winner: null, reason: 'noCandidates' } },
    { name: 'no IP yet', input: { serviceIPs: [] }, want: { winner: null, reason: 'noServiceIPs' } },
    { name: 'duplicate candidate names count once', input: { candidates: [node('node-a'), node('node-a')] }, want: { winner: 'node-a', ranking: ['node-a'] } },
  ];
  for (const c of cases) void it(c.name, () => assert.deepEqual(electAnnouncer({ ...base, ...c.input }), c.want));

  void it('removing a node that does not own the IP never moves it', () => {
    const all = electAnnouncer(base);
    const without = electAnnouncer({ ...base, candidates: base.candidates.filter((c) => c.name !== 'node-b') });
    assert.equal(all.winner, without.winner);
  });
});
