/**
 * Allocator throughput and memory on a /64 IPv6 pool (issue 3: ≥ 1M allocations/s target,
 * small memory for 100k allocations). Service records are built before timing: in the
 * controller they come from the Service adapter, not from the allocator.
 *
 * Figures:
 *   allocations_per_s      fresh allocations of 100k single-stack v6 services into an empty
 *                          /64 pool, median of 5 runs (each on a new allocator)
 *   alloc_release_per_s    steady state with 100k allocated: release one service and allocate
 *                          it again (counted per allocation; each also pays one release)
 *   heap_mb_100k_v6        heap growth after 100k allocations, after GC when --expose-gc is on
 *   config_parse_max_ms    parseConfig of the largest config the limits accept (500 pools, 2,000
 *                          ranges, padded with comments to ~128 Ki characters), median of 5 warm runs:
 *                          how long one ConfigMap edit can block the controller's event loop
 *   config_reject_overlaps_ms  parseConfig of the 15 KB hostile config (one /8 listed 1,000 times),
 *                          median of 5: was 6.4 s with a per-pair overlap check
 */
import { Allocator, CONFIG_LIMITS, isConfigError, parseConfig, type ServiceRecord } from '@ironlb/core';
import { quantile, type BenchContext } from './figure.js';

const N = 100_000;
const RUNS = 5;
const CYCLES = 300_000;

function services(n: number, prefix: string): ServiceRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    key: `bench/${prefix}${i}`,
    families: ['ipv6'],
    familyPolicy: 'SingleStack',
    ports: [{ protocol: 'TCP', port: 443 }],
    requestedIPs: [],
  }));
}

function fill(a: Allocator, svcs: readonly ServiceRecord[]): void {
  for (const s of svcs) {
    const r = a.allocate(s);
    if (!r.ok) throw new Error(`allocation failed for ${s.key}: ${r.failure.message}`);
  }
}

export default async function (ctx: BenchContext): Promise<void> {
  const config = parseConfig('address-pools:\n- name: v6\n  protocol: layer2\n  addresses: ["2001:db8::/64"]\n');
  if (isConfigError(config)) throw new Error(config.message);
  const gc = (globalThis as { gc?: () => void }).gc;
  const collect = (): void => {
    gc?.();
    gc?.();
  };
  if (gc === undefined) {
    ctx.log('global.gc is not exposed (run with NODE_OPTIONS=--expose-gc): heap growth includes uncollected garbage');
  }

  // Warm-up so the timed runs measure optimised code.
  fill(new Allocator(config), services(20_000, 'warm'));

  const svcs = services(N, 's');
  collect();
  const before = process.memoryUsage().heapUsed;
  const kept = new Allocator(config);
  fill(kept, svcs);
  collect();
  const heapMB = (process.memoryUsage().heapUsed - before) / 1e6;

  const rates: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const a = new Allocator(config);
    const t0 = performance.now();
    fill(a, svcs);
    rates.push(N / ((performance.now() - t0) / 1000));
    await Promise.resolve(); // let the runner breathe between runs
  }

  // Steady state: the 100k allocator releases and re-allocates services round-robin; the freed
  // address is the lowest free one, so each allocation exercises the free-list path.
  const t1 = performance.now();
  for (let i = 0; i < CYCLES; i++) {
    const s = svcs[(i * 7919) % N] as ServiceRecord;
    kept.release(s.key);
    const r = kept.allocate(s);
    if (!r.ok) throw new Error(`re-allocation failed for ${s.key}: ${r.failure.message}`);
  }
  const cycleRate = CYCLES / ((performance.now() - t1) / 1000);
  const last = kept.allocationOf((svcs[N - 1] as ServiceRecord).key);

  ctx.log(
    `allocations_per_s = fresh allocations of ${N} v6 SingleStack services into an empty /64 (median of ${RUNS}: ` +
      `${rates.map((r) => Math.round(r)).join(', ')}); alloc_release_per_s = ${CYCLES} release+allocate cycles with ${N} allocated; ` +
      `pool stats: ${JSON.stringify(kept.poolStats('v6'), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}; last IP ${last?.addresses[0] ?? '?'}`,
  );
  ctx.emit({ metric: 'allocations_per_s', value: Math.round(quantile(rates, 0.5)), unit: 'allocations/s' });
  ctx.emit({ metric: 'alloc_release_per_s', value: Math.round(cycleRate), unit: 'allocations/s' });
  ctx.emit({ metric: 'heap_mb_100k_v6', value: Math.round(heapMB * 10) / 10, unit: 'MB' });

  const median = (fn: () => void): number => {
    fn(); // warm-up
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      fn();
      runs.push(performance.now() - t);
    }
    return Math.round(quantile(runs, 0.5) * 10) / 10;
  };
  const pools = Array.from({ length: CONFIG_LIMITS.maxPools }, (_, i) => {
    const a = `10.${i >> 8}.${i & 255}`;
    return `- name: pool-${i}\n  protocol: layer2\n  auto-assign: true\n  addresses:\n  - ${a}.0/26\n  - ${a}.64-${a}.100\n  - ${a}.128/25\n  - "2001:db8:${i.toString(16)}::/64"\n`;
  }).join('');
  let biggest = `address-pools:\n${pools}`;
  while (biggest.length + 80 < CONFIG_LIMITS.maxChars) biggest += `# ${'padding comment '.repeat(4)}\n`;
  const check = parseConfig(biggest);
  if (isConfigError(check)) throw new Error(`the largest config was refused: ${check.message.slice(0, 300)}`);
  const hostile = 'address-pools:\n- name: p\n  protocol: layer2\n  addresses:\n' + '  - 10.0.0.0/8\n'.repeat(1000);
  ctx.log(`config_parse_max_ms: ${check.pools.length} pools, ${biggest.length} characters`);
  ctx.emit({ metric: 'config_parse_max_ms', value: median(() => parseConfig(biggest)), unit: 'ms' });
  ctx.emit({ metric: 'config_reject_overlaps_ms', value: median(() => parseConfig(hostile)), unit: 'ms' });
}
