/**
 * `npm run bench -- rss [--services N] [--rest-s S] [--preset P]` (root; network lab): the speakers at rest
 * with N LoadBalancer Services (default 1000, IPv6 so the lab's /112 holds them), each with an
 * endpoint on every node.
 *  - speaker_rss_mb_1000_services (named for N = 1000; the N used is logged): the largest VmRSS
 *    of the three speakers after S seconds at rest (default 60);
 *  - speaker_cpu_percent_at_rest: the busiest speaker's CPU over the rest window;
 *  - speaker_resync_ms: the last full decision's duration (ironlb_speaker_resync_duration_seconds);
 *  - services_create_s: how long creating the Services and their EndpointSlices took.
 */
import { readFileSync } from 'node:fs';
import { metricValue, speakerMetrics, startSystem, until, waitSpeakerMembers } from '../e2e/harness.js';
import { type BenchContext } from './figure.js';

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

const sleep = async (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return Number(f[11] ?? 0) + Number(f[12] ?? 0);
}

/** Runs fn over items with at most `k` in flight. */
async function pool<T>(items: T[], k: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: k }, async () => {
      while (i < items.length) await fn(items[i++] as T);
    }),
  );
}

export default async function bench(ctx: BenchContext): Promise<void> {
  const n = arg(ctx.args, '--services', 1000);
  const restS = arg(ctx.args, '--rest-s', 60);
  const pools = `address-pools:
- name: v6
  protocol: layer2
  addresses: [2001:db8::1:100-2001:db8::1:ffff]
`;
  const presetIdx = ctx.args.indexOf('--preset');
  const preset = presetIdx >= 0 ? ctx.args[presetIdx + 1] : undefined;
  const sys = await startSystem(3, { pools, ...(preset !== undefined ? { speakerArgs: ['--ml-preset', preset] } : {}) });
  try {
    const ns = 'rss';
    await sys.core.createNamespace({ body: { metadata: { name: ns } } });
    const t0 = performance.now();
    const names = Array.from({ length: n }, (_, i) => `s${i}`);
    await pool(names, 16, async (name) => {
      await sys.core.createNamespacedService({
        namespace: ns,
        body: { metadata: { name }, spec: { type: 'LoadBalancer', ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'], selector: { app: name }, ports: [{ port: 80 }] } },
      });
      await sys.discovery.createNamespacedEndpointSlice({
        namespace: ns,
        body: {
          metadata: { name: `${name}-lab`, labels: { 'kubernetes.io/service-name': name } },
          addressType: 'IPv6',
          ports: [{ port: 80 }],
          endpoints: sys.lab.nodes.map((node) => ({ addresses: [node.ipv6], nodeName: node.name, conditions: { ready: true } })),
        },
      });
    });
    await until(
      'every Service has its IP',
      async () => {
        const list = await sys.core.listNamespacedService({ namespace: ns });
        return list.items.filter((s) => (s.status?.loadBalancer?.ingress ?? []).length > 0).length === n;
      },
      600_000,
      1000,
    );
    const createS = (performance.now() - t0) / 1000;
    ctx.log(`${n} Services with endpoints in ${createS.toFixed(1)} s`);
    await until(
      'every IP announced by some speaker',
      () => {
        let total = 0;
        for (const node of sys.lab.nodes) {
          const m = speakerMetrics(sys.lab, node);
          total += m.split('\n').filter((l) => l.startsWith('ironlb_speaker_announced{')).length;
        }
        return total >= n;
      },
      300_000,
      2000,
    );
    for (const node of sys.lab.nodes) await waitSpeakerMembers(sys.lab, node, 3, 60_000);
    (globalThis as { gc?: () => void }).gc?.();
    const pids = sys.lab.nodes.map((node) => sys.speakers.get(node.name)?.pid ?? 0);
    const before = pids.map(cpuTicks);
    await sleep(restS * 1000);
    const after = pids.map(cpuTicks);
    const hz = 100;
    const cpu = after.map((a, i) => ((a - (before[i] ?? 0)) / hz / restS) * 100);
    const rss = pids.map(rssMb);
    const resync = sys.lab.nodes.map((node) => (metricValue(speakerMetrics(sys.lab, node), 'ironlb_speaker_resync_duration_seconds') ?? 0) * 1000);
    const heap = sys.lab.nodes.map((node) => {
      const m = speakerMetrics(sys.lab, node);
      const mb = (name: string, labels: Record<string, string> = {}): string => ((metricValue(m, name, labels) ?? 0) / 1e6).toFixed(1);
      return `heap ${mb('ironlb_speaker_nodejs_heap_size_used_bytes')}/${mb('ironlb_speaker_nodejs_heap_size_total_bytes')} old ${mb('ironlb_speaker_nodejs_heap_space_size_used_bytes', { space: 'old' })} lo ${mb('ironlb_speaker_nodejs_heap_space_size_used_bytes', { space: 'large_object' })} ext ${mb('ironlb_speaker_nodejs_external_memory_bytes')}`;
    });
    ctx.log(`memory: ${heap.join('; ')}`);
    ctx.log(`rss MB ${rss.map((x) => x.toFixed(1)).join(' ')}; cpu % ${cpu.map((x) => x.toFixed(2)).join(' ')}; resync ms ${resync.map((x) => x.toFixed(1)).join(' ')}`);
    ctx.emit({ metric: 'speaker_rss_mb_1000_services', value: Math.round(Math.max(...rss) * 10) / 10, unit: 'MB' });
    ctx.emit({ metric: 'speaker_cpu_percent_at_rest', value: Math.round(Math.max(...cpu) * 100) / 100, unit: '%' });
    ctx.emit({ metric: 'speaker_resync_ms', value: Math.round(Math.max(...resync) * 10) / 10, unit: 'ms' });
    ctx.emit({ metric: 'services_create_s', value: Math.round(createS * 10) / 10, unit: 's' });
  } finally {
    await sys.stop();
  }
}
