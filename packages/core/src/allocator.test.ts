import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Allocator, type AllocationFailureReason, type ServiceRecord, type SharingConflict } from './allocator.js';
import { isConfigError, parseConfig, type Config } from './config.js';

// ---- helpers ---------------------------------------------------------------------------------

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/** Parses YAML into a deep-frozen config, so any mutation by the allocator throws. */
function config(yaml: string): Config {
  const c = parseConfig(yaml);
  if (isConfigError(c)) throw new Error(`test setup: ${c.message}`);
  return deepFreeze(c);
}

/** One pool per line: `name: addr, addr [manual] [avoid-buggy]`. */
function pools(...lines: string[]): Config {
  const yaml = lines
    .map((l) => {
      const colon = l.indexOf(':'); // the name ends at the first colon; IPv6 text has more
      const name = l.slice(0, colon);
      const rest = l.slice(colon + 1);
      const flags = rest.split(' ').filter((w) => w === 'manual' || w === 'avoid-buggy');
      const addrs = rest
        .split(',')
        .map((a) => a.replace(/\b(manual|avoid-buggy)\b/g, '').trim())
        .filter((a) => a !== '');
      return [
        `- name: ${name.trim()}`,
        '  protocol: layer2',
        `  addresses: [${addrs.map((a) => JSON.stringify(a)).join(', ')}]`,
        `  auto-assign: ${!flags.includes('manual')}`,
        `  avoid-buggy-ips: ${flags.includes('avoid-buggy')}`,
      ].join('\n');
    })
    .join('\n');
  return config(`address-pools:\n${yaml}\n`);
}

type Opts = Partial<Omit<ServiceRecord, 'key'>>;

/** A v4 single-stack Cluster service on TCP/80 unless told otherwise. */
function svc(name: string, o: Opts = {}): ServiceRecord {
  return {
    key: `ns/${name}`,
    families: ['ipv4'],
    familyPolicy: 'SingleStack',
    ports: [{ protocol: 'TCP', port: 80 }],
    requestedIPs: [],
    ...o,
  };
}

/** What a step expects: the IPs (and optionally pool), or a failure (reason + message pattern). */
type Want = { ips: string[]; pool?: string } | { reason: AllocationFailureReason; message?: RegExp; holder?: string; conflict?: SharingConflict };

type Step = { name: string } & (
  | { allocate: ServiceRecord; want: Want }
  | { assign: ServiceRecord; ips: string[]; want: Want }
  | { release: string; want: boolean }
  | { setConfig: Config; want: string[] }
  | { check: (a: Allocator) => void }
);

/**
 * Runs ordered steps against one allocator. A model of who-holds-what is updated from each
 * step's expectation and compared with the allocator after every step, together with a check
 * that no config object was mutated.
 */
function run(initial: Config, steps: Step[]): void {
  const a = new Allocator(initial);
  const configs: [Config, Config][] = [[initial, structuredClone(initial)]];
  const model = new Map<string, string[]>();
  for (const step of steps) {
    const label = `step "${step.name}"`;
    if ('allocate' in step || 'assign' in step) {
      const s = 'allocate' in step ? step.allocate : step.assign;
      const before = model.get(s.key);
      const r = 'allocate' in step ? a.allocate(s) : a.assign(s, step.ips);
      const want = step.want;
      if ('ips' in want) {
        assert.ok(r.ok, `${label}: expected success, got ${r.ok ? '' : `${r.failure.reason}: ${r.failure.message}`}`);
        assert.deepEqual(r.allocation.addresses, want.ips, label);
        if (want.pool !== undefined) assert.equal(r.allocation.pool, want.pool, label);
        model.set(s.key, want.ips);
      } else {
        assert.ok(!r.ok, `${label}: expected ${want.reason}, got ${r.ok ? r.allocation.addresses.join(',') : ''}`);
        assert.equal(r.failure.reason, want.reason, `${label}: ${r.failure.message}`);
        if (want.message !== undefined) assert.match(r.failure.message, want.message, label);
        if (want.holder !== undefined) assert.equal(r.failure.holder, want.holder, label);
        if (want.conflict !== undefined) assert.equal(r.failure.conflict, want.conflict, label);
        // allocate leaves a failed service with nothing; assign leaves it as it was.
        if ('allocate' in step) model.delete(s.key);
        else if (before !== undefined) model.set(s.key, before);
      }
    } else if ('release' in step) {
      assert.equal(a.release(step.release), step.want, label);
      model.delete(step.release);
    } else if ('setConfig' in step) {
      configs.push([step.setConfig, structuredClone(step.setConfig)]);
      assert.deepEqual(a.setConfig(step.setConfig), step.want, label);
      for (const k of step.want) model.delete(k);
    } else {
      step.check(a);
    }
    const actual = new Map(a.allocatedKeys().map((k) => [k, [...(a.allocationOf(k)?.addresses ?? [])]]));
    assert.deepEqual(new Map([...actual].sort()), new Map([...model].sort()), `${label}: allocator state`);
    for (const [c, clone] of configs) assert.deepEqual(c, clone, `${label}: config was mutated`);
  }
}

const stats = (a: Allocator, pool: string): { inUse: number; services: number } => {
  const s = a.poolStats(pool);
  assert.ok(s !== undefined, `no stats for pool ${pool}`);
  return { inUse: s.inUse, services: s.servicesAllocated };
};

// ---- scenarios -------------------------------------------------------------------------------

void describe('allocator scenarios', { timeout: 60_000 }, () => {
  void it('first free address, pools in order, auto-assign, avoid-buggy, requests', () => {
    run(pools('a: 10.0.0.0/30', 'b: 10.0.1.0/31 manual', 'c: 10.0.2.254-10.0.3.1 avoid-buggy'), [
      // MetalLB hands out the network address of a CIDR unless avoid-buggy-ips is set.
      { name: 'allocate s1 gets the first address', allocate: svc('s1'), want: { ips: ['10.0.0.0'], pool: 'a' } },
      { name: 'allocate s2 gets the next', allocate: svc('s2'), want: { ips: ['10.0.0.1'] } },
      { name: 'allocate s1 again is idempotent', allocate: svc('s1'), want: { ips: ['10.0.0.0'] } },
      {
        name: 's3 cannot take s2 IP',
        assign: svc('s3'),
        ips: ['10.0.0.1'],
        want: { reason: 'ipInUse', holder: 'ns/s2', conflict: 'notShared', message: /^IP 10\.0\.0\.1 is in use by ns\/s2 \(not shared/ },
      },
      { name: 's1 frees its IP', release: 'ns/s1', want: true },
      { name: 'releasing twice is a no-op', release: 'ns/s1', want: false },
      { name: 's3 gets the freed lowest address', allocate: svc('s3'), want: { ips: ['10.0.0.0'] } },
      { name: 's4', allocate: svc('s4'), want: { ips: ['10.0.0.2'] } },
      { name: 's5 fills pool a', allocate: svc('s5'), want: { ips: ['10.0.0.3'] } },
      { name: 's6 skips manual pool b', allocate: svc('s6'), want: { ips: ['10.0.2.254'], pool: 'c' } },
      { name: 's7 skips .255 and .0', allocate: svc('s7'), want: { ips: ['10.0.3.1'], pool: 'c' } },
      { name: 's8: everything auto is full', allocate: svc('s8'), want: { reason: 'poolExhausted', message: /^no available IPs$/ } },
      { name: 'pool b by name', allocate: svc('s9', { requestedPool: 'b' }), want: { ips: ['10.0.1.0'], pool: 'b' } },
      { name: 'pool b by IP', allocate: svc('s10', { requestedIPs: ['10.0.1.1'] }), want: { ips: ['10.0.1.1'], pool: 'b' } },
      { name: 'pool b exhausted', allocate: svc('s11', { requestedPool: 'b' }), want: { reason: 'poolExhausted', message: /^no available IPs in pool "b"$/ } },
      { name: 'unknown pool', allocate: svc('s11', { requestedPool: 'nope' }), want: { reason: 'unknownPool', message: /unknown pool "nope"/ } },
      { name: 'IP in no pool', allocate: svc('s11', { requestedIPs: ['192.0.2.1'] }), want: { reason: 'ipNotInPool', message: /^IP 192\.0\.2\.1 is not in any pool$/ } },
      { name: 'buggy IP refused', allocate: svc('s11', { requestedIPs: ['10.0.3.0'] }), want: { reason: 'buggyIP', message: /10\.0\.3\.0 .*avoid-buggy-ips/ } },
      { name: 'bad IP text', allocate: svc('s11', { requestedIPs: ['10.0.0.300'] }), want: { reason: 'invalidIP', message: /"10\.0\.0\.300" is not a valid IP/ } },
      {
        name: 'IPv4-mapped IPv6 requested',
        allocate: svc('s11', { requestedIPs: ['::ffff:10.0.0.2'] }),
        want: { reason: 'invalidIP', message: /IPv4-mapped IPv6 address: request the IPv4 form 10\.0\.0\.2/ },
      },
      {
        name: 'requested IP outside requested pool',
        allocate: svc('s11', { requestedIPs: ['10.0.0.2'], requestedPool: 'b' }),
        want: { reason: 'requestedIPPoolConflict', message: /requested IP 10\.0\.0\.2 is in pool "a", not in the requested pool "b"/ },
      },
      { name: 'requested IP taken', allocate: svc('s11', { requestedIPs: ['10.0.0.2'] }), want: { reason: 'ipInUse', holder: 'ns/s4' } },
      { name: 'v6 IP for a v4 service', allocate: svc('s11', { requestedIPs: ['2001:db8::1'] }), want: { reason: 'familyMismatch', message: /IPv6 but the service is IPv4 only/ } },
      { name: 's4 frees .2', release: 'ns/s4', want: true },
      { name: 's3 frees .0', release: 'ns/s3', want: true },
      { name: 'lowest freed first: .0', allocate: svc('s12'), want: { ips: ['10.0.0.0'] } },
      { name: 'then .2', allocate: svc('s13'), want: { ips: ['10.0.0.2'] } },
      {
        name: 'stats',
        check: (a) => {
          assert.deepEqual(stats(a, 'a'), { inUse: 4, services: 4 });
          assert.deepEqual(stats(a, 'b'), { inUse: 2, services: 2 });
          assert.deepEqual(stats(a, 'c'), { inUse: 2, services: 2 });
          const c = a.poolStats('c');
          assert.equal(c?.total, 2n, 'avoid-buggy pool counts only usable addresses');
          assert.equal(a.poolStats('a')?.totalV4, 4n);
          assert.equal(a.poolStats('zzz'), undefined);
          assert.deepEqual(
            a.allPoolStats().map((s) => s.pool),
            ['a', 'b', 'c'],
          );
          assert.equal(a.poolOf('10.0.1.1'), 'b');
          assert.deepEqual(a.usersOf('10.0.0.1'), ['ns/s2']);
          assert.deepEqual(a.usersOf('10.0.0.9'), []);
        },
      },
    ]);
  });

  void it('sharing: same key, disjoint ports, same backend key', () => {
    const local = { backendKey: 'app=web' };
    run(pools('p: 10.0.0.0/31', 'q: 10.0.1.0/30 manual'), [
      { name: 'http takes .0', allocate: svc('http', { sharingKey: 'web' }), want: { ips: ['10.0.0.0'] } },
      { name: 'https shares .0', allocate: svc('https', { sharingKey: 'web', ports: [{ protocol: 'TCP', port: 443 }] }), want: { ips: ['10.0.0.0'] } },
      { name: 'UDP/80 shares .0 too', allocate: svc('quic', { sharingKey: 'web', ports: [{ protocol: 'UDP', port: 80 }] }), want: { ips: ['10.0.0.0'] } },
      { name: 'another TCP/80 moves on to .1', allocate: svc('http2', { sharingKey: 'web' }), want: { ips: ['10.0.0.1'] } },
      {
        name: 'different key refused',
        assign: svc('x', { sharingKey: 'other', ports: [{ protocol: 'TCP', port: 8080 }] }),
        ips: ['10.0.0.0'],
        want: { reason: 'ipInUse', conflict: 'differentSharingKey', message: /in use by ns\/(http|https|quic) \(different sharing key\)/ },
      },
      {
        name: 'port conflict refused',
        assign: svc('y', { sharingKey: 'web', ports: [{ protocol: 'TCP', port: 443 }] }),
        ips: ['10.0.0.0'],
        want: { reason: 'ipInUse', conflict: 'portConflict', holder: 'ns/https', message: /^IP 10\.0\.0\.0 is in use by ns\/https \(port conflict on TCP\/443\)$/ },
      },
      {
        name: 'Local never shares with Cluster',
        assign: svc('z', { sharingKey: 'web', ports: [{ protocol: 'TCP', port: 9 }], ...local }),
        ips: ['10.0.0.0'],
        want: { reason: 'ipInUse', conflict: 'backendKeysDiffer', message: /backend keys differ/ },
      },
      { name: 'no key: not shared', assign: svc('u', { ports: [{ protocol: 'TCP', port: 9 }] }), ips: ['10.0.0.0'], want: { reason: 'ipInUse', conflict: 'notShared' } },
      {
        name: 'counts',
        check: (a) => {
          assert.deepEqual(stats(a, 'p'), { inUse: 2, services: 4 });
          assert.deepEqual(a.usersOf('10.0.0.0'), ['ns/http', 'ns/https', 'ns/quic']);
        },
      },
      { name: 'http leaves; .0 stays in use', release: 'ns/http', want: true },
      { name: 'quic leaves', release: 'ns/quic', want: true },
      { name: 'https is alone on .0', check: (a) => assert.deepEqual(a.usersOf('10.0.0.0'), ['ns/https']) },
      { name: 'a lone user may change its key', assign: svc('https', { sharingKey: 'new', ports: [{ protocol: 'TCP', port: 443 }] }), ips: ['10.0.0.0'], want: { ips: ['10.0.0.0'] } },
      { name: 'new-key service shares .0', allocate: svc('dns', { sharingKey: 'new', ports: [{ protocol: 'UDP', port: 53 }] }), want: { ips: ['10.0.0.0'] } },
      {
        name: 'a co-user may not change its key',
        assign: svc('https', { sharingKey: 'newer', ports: [{ protocol: 'TCP', port: 443 }] }),
        ips: ['10.0.0.0'],
        want: { reason: 'ipInUse', holder: 'ns/dns', conflict: 'differentSharingKey' },
      },
      { name: 'Local svc in pool q', allocate: svc('l1', { sharingKey: 'loc', requestedPool: 'q', ...local }), want: { ips: ['10.0.1.0'] } },
      { name: 'identical selector shares', allocate: svc('l2', { sharingKey: 'loc', requestedPool: 'q', ports: [{ protocol: 'TCP', port: 81 }], ...local }), want: { ips: ['10.0.1.0'] } },
      {
        name: 'different selector does not share',
        allocate: svc('l3', { sharingKey: 'loc', requestedPool: 'q', ports: [{ protocol: 'TCP', port: 82 }], backendKey: 'app=other' }),
        want: { ips: ['10.0.1.1'] },
      },
      {
        name: 'different selector refused on explicit request',
        allocate: svc('l4', { sharingKey: 'loc', requestedIPs: ['10.0.1.0'], ports: [{ protocol: 'TCP', port: 83 }], backendKey: 'app=other' }),
        want: { reason: 'ipInUse', conflict: 'backendKeysDiffer' },
      },
      {
        name: 'sharing picks the lowest shareable IP, even below a free one',
        allocate: svc('l5', { sharingKey: 'loc', requestedPool: 'q', ports: [{ protocol: 'TCP', port: 84 }], backendKey: 'app=other' }),
        want: { ips: ['10.0.1.1'] },
      },
    ]);
  });

  void it('dual-stack policies', () => {
    const dual = (name: string, policy: ServiceRecord['familyPolicy'], fams: ServiceRecord['families'], o: Opts = {}): ServiceRecord => svc(name, { familyPolicy: policy, families: fams, ...o });
    run(pools('v4: 10.0.0.0/31', 'ds: 10.0.1.0/31, 2001:db8::/126', 'v6: 2001:db8:1::/127', 'dsm: 10.0.2.0/31, 2001:db8:2::/127 manual'), [
      { name: 'single-stack v6 skips the v4-only pool', allocate: dual('a', 'SingleStack', ['ipv6']), want: { ips: ['2001:db8::'], pool: 'ds' } },
      { name: 'require dual: one pool, v4 first', allocate: dual('b', 'RequireDualStack', ['ipv4', 'ipv6']), want: { ips: ['10.0.1.0', '2001:db8::1'], pool: 'ds' } },
      { name: 'require dual: v6 primary first', allocate: dual('c', 'RequireDualStack', ['ipv6', 'ipv4']), want: { ips: ['2001:db8::2', '10.0.1.1'], pool: 'ds' } },
      { name: 'require dual: ds v4 exhausted', allocate: dual('d', 'RequireDualStack', ['ipv4', 'ipv6']), want: { reason: 'poolExhausted', message: /^no available IPs$/ } },
      { name: 'prefer dual: no pool has both free, v4 only', allocate: dual('e', 'PreferDualStack', ['ipv4', 'ipv6']), want: { ips: ['10.0.0.0'], pool: 'v4' } },
      { name: 'prefer dual from a named dual pool', allocate: dual('f', 'PreferDualStack', ['ipv6', 'ipv4'], { requestedPool: 'dsm' }), want: { ips: ['2001:db8:2::', '10.0.2.0'], pool: 'dsm' } },
      {
        name: 'require dual from a v4-only pool',
        allocate: dual('g', 'RequireDualStack', ['ipv4', 'ipv6'], { requestedPool: 'v4' }),
        want: { reason: 'poolLacksFamily', message: /pool "v4" has no IPv6 addresses, needed for RequireDualStack/ },
      },
      { name: 'single v6 from a v4-only pool', allocate: dual('g', 'SingleStack', ['ipv6'], { requestedPool: 'v4' }), want: { reason: 'poolLacksFamily', message: /pool "v4" has no IPv6 addresses/ } },
      { name: 'requested pair', allocate: dual('h', 'RequireDualStack', ['ipv4', 'ipv6'], { requestedIPs: ['2001:db8:2::1', '10.0.2.1'] }), want: { ips: ['10.0.2.1', '2001:db8:2::1'], pool: 'dsm' } },
      {
        name: 'require dual with one requested IP',
        allocate: dual('i', 'RequireDualStack', ['ipv4', 'ipv6'], { requestedIPs: ['10.0.0.1'] }),
        want: { reason: 'familyMismatch', message: /needs an IPv4 and an IPv6 address/ },
      },
      {
        name: 'requested pair across pools',
        allocate: dual('i', 'RequireDualStack', ['ipv4', 'ipv6'], { requestedIPs: ['10.0.0.1', '2001:db8:1::'] }),
        want: { reason: 'requestedIPsInDifferentPools', message: /different pools \("v4", "v6"\)/ },
      },
      {
        name: 'two v4 requested',
        allocate: dual('i', 'PreferDualStack', ['ipv4', 'ipv6'], { requestedIPs: ['10.0.0.1', '10.0.1.1'] }),
        want: { reason: 'familyMismatch', message: /more than one IPv4/ },
      },
      { name: 'prefer dual with one requested IP is fine', allocate: dual('i', 'PreferDualStack', ['ipv4', 'ipv6'], { requestedIPs: ['10.0.0.1'] }), want: { ips: ['10.0.0.1'] } },
      { name: 'require dual listing one family', allocate: dual('j', 'RequireDualStack', ['ipv4']), want: { reason: 'familyMismatch', message: /RequireDualStack service lists only IPv4/ } },
      { name: 'no families', allocate: dual('j', 'SingleStack', []), want: { reason: 'familyMismatch', message: /no IP families/ } },
      { name: 'prefer dual v6-primary, only v6 left', allocate: dual('k', 'PreferDualStack', ['ipv6', 'ipv4']), want: { ips: ['2001:db8::3'], pool: 'ds' } },
      { name: 'prefer dual v4-primary, only v6 left: secondary', allocate: dual('l', 'PreferDualStack', ['ipv4', 'ipv6']), want: { ips: ['2001:db8:1::'], pool: 'v6' } },
      {
        name: 'stats per family',
        check: (a) => {
          const s = a.poolStats('ds');
          assert.equal(s?.inUseV4, 2);
          assert.equal(s?.inUseV6, 4);
          assert.equal(s?.totalV6, 4n);
          assert.equal(s?.total, 6n);
        },
      },
      { name: 'switch to a config without dual pools', setConfig: pools('v4: 10.0.0.0/30', 'v6: 2001:db8:1::/127'), want: ['ns/a', 'ns/b', 'ns/c', 'ns/f', 'ns/h', 'ns/k'] },
      {
        name: 'require dual: no auto pool has both',
        allocate: dual('b', 'RequireDualStack', ['ipv4', 'ipv6']),
        want: { reason: 'poolLacksFamily', message: /no auto-assign pool has both IPv4 and IPv6/ },
      },
    ]);
  });

  void it('config changes: re-home, release what fell out, keep lowest-first', () => {
    run(pools('a: 10.0.0.0/29', 'b: 10.0.1.0/29'), [
      { name: 's1', allocate: svc('s1'), want: { ips: ['10.0.0.0'], pool: 'a' } },
      { name: 's2 in b', allocate: svc('s2', { requestedPool: 'b' }), want: { ips: ['10.0.1.0'], pool: 'b' } },
      { name: 's3 asks .5', allocate: svc('s3', { requestedIPs: ['10.0.0.5'] }), want: { ips: ['10.0.0.5'] } },
      {
        name: 'shrink a, drop b, new c holds s2',
        setConfig: pools('a: 10.0.0.0/30', 'c: 10.0.1.0/28 manual'),
        want: ['ns/s3'],
      },
      {
        name: 's2 re-homed to c',
        check: (a) => {
          assert.equal(a.allocationOf('ns/s2')?.pool, 'c');
          assert.deepEqual(stats(a, 'c'), { inUse: 1, services: 1 });
          assert.deepEqual(stats(a, 'a'), { inUse: 1, services: 1 });
          assert.equal(a.poolStats('b'), undefined);
        },
      },
      { name: 's3 asks again: not in any pool', allocate: svc('s3', { requestedIPs: ['10.0.0.5'] }), want: { reason: 'ipNotInPool' } },
      { name: 's3 gets .1', allocate: svc('s3'), want: { ips: ['10.0.0.1'] } },
      { name: 's1 frees .0', release: 'ns/s1', want: true },
      { name: 's4 gets .0 back', allocate: svc('s4'), want: { ips: ['10.0.0.0'] } },
      {
        name: 's2 still asks for pool b: moved to the first free in... nowhere',
        allocate: svc('s2', { requestedPool: 'b' }),
        want: { reason: 'unknownPool' },
      },
      { name: 'everything removed', setConfig: pools('z: 192.0.2.0/30'), want: ['ns/s3', 'ns/s4'] },
      { name: 'empty config', setConfig: config('address-pools: []'), want: [] },
      { name: 'nothing to allocate from', allocate: svc('s5'), want: { reason: 'poolExhausted', message: /no auto-assign pool has IPv4 addresses/ } },
    ]);
  });

  void it('restart: re-admit existing IPs first, then allocate around them', () => {
    run(pools('a: 10.0.0.0/29'), [
      { name: 're-admit s1 on .3', assign: svc('s1'), ips: ['10.0.0.3'], want: { ips: ['10.0.0.3'], pool: 'a' } },
      { name: 'again: idempotent', assign: svc('s1'), ips: ['10.0.0.3'], want: { ips: ['10.0.0.3'] } },
      { name: 'counted once', check: (a) => assert.deepEqual(stats(a, 'a'), { inUse: 1, services: 1 }) },
      { name: 'pending s2 gets .0', allocate: svc('s2'), want: { ips: ['10.0.0.0'] } },
      { name: 's3 .1', allocate: svc('s3'), want: { ips: ['10.0.0.1'] } },
      { name: 's4 .2', allocate: svc('s4'), want: { ips: ['10.0.0.2'] } },
      { name: 's5 skips s1 IP', allocate: svc('s5'), want: { ips: ['10.0.0.4'] } },
      { name: 're-admit outside every pool', assign: svc('s6'), ips: ['10.9.9.9'], want: { reason: 'ipNotInPool' } },
      { name: 're-admit garbage', assign: svc('s6'), ips: ['nope'], want: { reason: 'invalidIP' } },
      { name: 're-admit nothing', assign: svc('s6'), ips: [], want: { reason: 'invalidIP', message: /no IPs given/ } },
      { name: 'failed move keeps the old IP', assign: svc('s1'), ips: ['10.0.0.0'], want: { reason: 'ipInUse', holder: 'ns/s2' } },
      { name: 'move s1 to .7', assign: svc('s1'), ips: ['10.0.0.7'], want: { ips: ['10.0.0.7'] } },
      { name: '.3 is free again and lowest', allocate: svc('s7'), want: { ips: ['10.0.0.3'] } },
      {
        name: 'status disagrees with the requested IP',
        assign: svc('s7', { requestedIPs: ['10.0.0.6'] }),
        ips: ['10.0.0.3'],
        want: { reason: 'requestMismatch', message: /requests 10\.0\.0\.6 but holds 10\.0\.0\.3/ },
      },
      { name: 'allocate then moves s7 to its requested IP', allocate: svc('s7', { requestedIPs: ['10.0.0.6'] }), want: { ips: ['10.0.0.6'] } },
      { name: 'status disagrees with the pool annotation', assign: svc('s7', { requestedPool: 'other' }), ips: ['10.0.0.6'], want: { reason: 'requestMismatch', message: /requests pool "other"/ } },
      { name: 'allocate keeps a still-valid IP', allocate: svc('s7'), want: { ips: ['10.0.0.6'] } },
      { name: 'changed family: reallocated', allocate: svc('s7', { families: ['ipv6'] }), want: { reason: 'poolExhausted' } },
    ]);
  });
});

void describe('allocator at scale', { timeout: 60_000 }, () => {
  void it('a /64 pool counts without enumerating and hands out addresses in order', () => {
    const a = new Allocator(pools('big: 2001:db8::/64'));
    assert.equal(a.poolStats('big')?.total, 1n << 64n);
    const v6 = (i: number): ServiceRecord => svc(`s${i}`, { families: ['ipv6'] });
    for (let i = 0; i < 1000; i++) {
      const r = a.allocate(v6(i));
      assert.ok(r.ok);
      assert.equal(r.allocation.ips[0]?.value, (0x20010db8n << 96n) + BigInt(i));
    }
    for (let i = 999; i >= 0; i -= 3) a.release(`ns/s${i}`);
    // Released addresses come back lowest first, then the cursor continues at 1000.
    const expected = [...Array.from({ length: 334 }, (_, k) => 3 * k), 1000, 1001];
    for (const [n, off] of expected.entries()) {
      const r = a.allocate(v6(5000 + n));
      assert.ok(r.ok);
      assert.equal(r.allocation.ips[0]?.value, (0x20010db8n << 96n) + BigInt(off), `allocation ${n}`);
    }
  });

  void it('an explicit IP past 2^53 in a huge range is tracked', () => {
    const a = new Allocator(pools('huge: 2001:db8::/32'));
    const far = '2001:db8:ffff:ffff:ffff:ffff:ffff:fffe';
    assert.ok(a.allocate(svc('far', { families: ['ipv6'], requestedIPs: [far] })).ok);
    assert.deepEqual(a.usersOf(far), ['ns/far']);
    const r = a.allocate(svc('far2', { families: ['ipv6'], requestedIPs: [far] }));
    assert.equal(r.ok ? '' : r.failure.reason, 'ipInUse');
    assert.ok(a.release('ns/far'));
    assert.deepEqual(a.usersOf(far), []);
  });

  void it('matches a brute-force model under random operations (lowest free first)', () => {
    // Small ranges, avoid-buggy on, several ranges and explicit requests: the cursor/heap
    // bookkeeping must always agree with "the lowest usable free address in config order".
    const cfg = pools('p: 10.0.0.250-10.0.1.5, 10.0.3.0/29, 10.0.2.253-10.0.2.255 avoid-buggy');
    const order: bigint[] = [];
    for (const r of cfg.pools[0]?.addresses ?? []) for (let v = r.first; v <= r.last; v++) if ((v & 0xffn) !== 0n && (v & 0xffn) !== 255n) order.push(v);
    const a = new Allocator(cfg);
    const held = new Map<string, bigint>();
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let step = 0; step < 3000; step++) {
      const op = rand(10);
      const key = `ns/s${rand(30)}`;
      const name = key.slice(3);
      if (op < 4) {
        a.release(key);
        held.delete(key);
      } else if (op < 6) {
        const v = order[rand(order.length)] as bigint;
        const text = `10.0.${Number((v >> 8n) & 0xffn)}.${Number(v & 0xffn)}`;
        const r = a.allocate(svc(name, { requestedIPs: [text] }));
        const taken = [...held].some(([k, x]) => x === v && k !== key);
        assert.equal(r.ok, !taken, `step ${step}: request ${text}`);
        if (r.ok) held.set(key, v);
        else held.delete(key);
      } else {
        const r = a.allocate(svc(name));
        if (held.has(key)) {
          assert.ok(r.ok && r.allocation.ips[0]?.value === held.get(key), `step ${step}: keeps its IP`);
          continue;
        }
        const used = new Set(held.values());
        const want = order.find((v) => !used.has(v));
        if (want === undefined) assert.equal(r.ok, false, `step ${step}: should be full`);
        else {
          assert.ok(r.ok, `step ${step}: should get an IP`);
          assert.equal(r.allocation.ips[0]?.value, want, `step ${step}: lowest free`);
          held.set(key, want);
        }
      }
      assert.equal(a.poolStats('p')?.inUse, held.size, `step ${step}: in-use count`);
    }
  });
});

void describe('allocator range lookup', { timeout: 60_000 }, () => {
  void it('finds the pool of every boundary address among many pools written in any order', () => {
    const n = 250;
    const order = Array.from({ length: n }, (_, i) => (i * 7919) % n);
    const c = config('address-pools:\n' + order.map((i) => `- {name: p${i}, protocol: layer2, addresses: [10.1.${i}.0/28, "2001:db8:${i.toString(16)}::/120"]}\n`).join(''));
    const a = new Allocator(c);
    for (let i = 0; i < n; i++) {
      assert.equal(a.poolOf(`10.1.${i}.0`), `p${i}`);
      assert.equal(a.poolOf(`10.1.${i}.15`), `p${i}`);
      assert.equal(a.poolOf(`10.1.${i}.16`), undefined);
      assert.equal(a.poolOf(`2001:db8:${i.toString(16)}::ff`), `p${i}`);
    }
    assert.equal(a.poolOf('10.0.255.255'), undefined);
    assert.equal(a.poolOf('10.2.0.0'), undefined);
    const r = a.allocate(svc('x', { requestedPool: 'p123' }));
    assert.ok(r.ok);
    assert.deepEqual(r.allocation.addresses, ['10.1.123.0']);
    assert.deepEqual(a.usersOf('10.1.123.0'), ['ns/x']);
  });

  void it('still answers for a hand-made config with overlapping ranges (first pool wins, as before)', () => {
    const a = pools('a: 10.0.0.0/30', 'b: 10.0.1.0/30');
    const ranges = a.pools.map((p) => p.addresses[0]);
    const overlapping: Config = { ...a, pools: [a.pools[0]!, { ...a.pools[1]!, addresses: [{ ...ranges[1]!, first: ranges[0]!.first }] }] };
    const alloc = new Allocator(overlapping);
    assert.equal(alloc.poolOf('10.0.0.1'), 'a');
    assert.equal(alloc.poolOf('10.0.0.200'), 'b');
  });
});
