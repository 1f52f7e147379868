/**
 * `npm run bench -- l2flood [--step-ms MS] [--rates R1,R2,...] [--ndp-rates R1,...] [--latency-rate R]`
 * (root; needs the addon and `npx tsc -b`).
 *
 * Issue 12: how many ARP requests / Neighbor Solicitations the layer2 responder answers. Two
 * namespaces on one veth pair: a node running the responder CLI (compiled, as in production;
 * 4 IPv4 and 4 IPv6 VIPs announced) and a flooder (test/lab/layer2-flood.c, compiled here)
 * sending requests for those VIPs at increasing rates, each step bounded in time (default
 * 3 s), each request from its own sender address so every reply is matched to its request and
 * timed with kernel receive timestamps.
 *
 * Figures (one JSON line each):
 *   arp_answered_per_s / ndp_answered_per_s  highest answered rate over all steps
 *   arp_lossless_per_s / ndp_lossless_per_s  highest offered rate answered in full with 0 socket drops
 *   arp_socket_drops / ndp_socket_drops      kernel drops (full socket buffer) over the steps up to 50k/s
 *   arp_reply_p50_us / arp_reply_p99_us      reply latency at --latency-rate (default 10k/s), as the
 *                                            flooder sees it (its send call to the reply's arrival);
 *                                            ndp_* likewise
 *   arp_node_p50_us / arp_node_p99_us        the same requests timed on the node's own interface
 *                                            (kernel timestamps of request arrival and reply
 *                                            departure, layer2-flood --sniff): the responder's share,
 *                                            without the flooder's and the lab's scheduling
 *   *_answered_per_s_at_R, *_socket_drops_at_R, *_cpu_percent_at_R   per step
 *   arp_cpu_us_per_request / ndp_*           responder CPU time (user + system, which includes
 *                                            the kernel work of its sends) per request it received,
 *                                            at the highest step without socket drops: what a
 *                                            request costs, independent of how busy the machine is
 *   responder_rss_max_bytes                  peak RSS of the responder process (VmHWM)
 *   loadavg_1m                               machine load when the bench started (the figures
 *                                            are wall-clock; a busy machine lowers them)
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { type FloodResult, L2Lab, RESPOND_JS, ResponderChild, buildFlooder, flood, sleep, startSniffer } from '../lab/layer2-lab.js';
import type { BenchContext } from './figure.js';

const VIPS4 = ['198.51.100.70', '198.51.100.71', '198.51.100.72', '198.51.100.73'];
const VIPS6 = ['2001:db8::1:70', '2001:db8::1:71', '2001:db8::1:72', '2001:db8::1:73'];
/** The issue-12 goal rate: drops up to this rate are what arp_socket_drops reports. */
const GOAL_RATE = 50_000;

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

function rates(text: string | undefined, dflt: number[]): number[] {
  if (text === undefined) return dflt;
  const out = text
    .split(',')
    .map(Number)
    .filter((n) => Number.isFinite(n) && n > 0 && n <= 2_000_000);
  if (out.length === 0) throw new Error(`bad rate list "${text}"`);
  return out;
}

/** utime + stime of a process in seconds (/proc/PID/stat, clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Peak resident set size of a process in bytes (VmHWM). */
function rssPeak(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

interface Step {
  readonly rate: number;
  readonly res: FloodResult;
  readonly socketDrops: number;
  readonly cpuPercent: number;
  /** Responder CPU seconds per request it received, in µs. */
  readonly cpuUsPerRequest: number;
}

export default async function bench(ctx: BenchContext): Promise<void> {
  const stepMs = Number(arg(ctx.args, 'step-ms') ?? 3000);
  if (!(stepMs > 0 && stepMs <= 20_000)) throw new Error('--step-ms must be in 1..20000');
  const arpRates = rates(arg(ctx.args, 'rates'), [10_000, 25_000, 50_000, 75_000, 100_000]);
  const ndpRates = rates(arg(ctx.args, 'ndp-rates'), [10_000, 25_000, 50_000, 75_000]);
  const latencyRate = Number(arg(ctx.args, 'latency-rate') ?? 10_000);
  if (process.getuid?.() !== 0) throw new Error('l2flood needs root (network namespaces, AF_PACKET)');
  if (!existsSync(RESPOND_JS)) throw new Error(`${RESPOND_JS} missing: run npx tsc -b (and the addon build)`);
  ctx.emit({ metric: 'loadavg_1m', value: Math.round((loadavg()[0] ?? 0) * 100) / 100, unit: 'load' });
  buildFlooder();
  const lab = L2Lab.create({ members: ['node', 'flooder'], nodes: ['node'], pair: true });
  try {
    await lab.waitLinkLocal('node');
    const responder = new ResponderChild(lab, 'node', [], { compiled: true });
    const ready = await responder.ready();
    ctx.log(`responders ${ready.join(', ')}`);
    const pid = responder.pid ?? 0;
    for (const v of [...VIPS4, ...VIPS6]) await responder.command(`announce ${v}`);

    const run = async (mode: 'arp' | 'ndp', rate: number, durationMs = stepMs): Promise<Step> => {
      const s0 = await responder.stats();
      const c0 = cpuSeconds(pid);
      const t0 = performance.now();
      const res = await flood(lab, 'flooder', { mode, targets: mode === 'arp' ? VIPS4 : VIPS6, rate, durationMs });
      const wall = (performance.now() - t0) / 1000;
      const cpu = cpuSeconds(pid) - c0;
      const s1 = await responder.stats();
      const received = (s1.requestsReceived as number) - (s0.requestsReceived as number);
      const step: Step = {
        rate,
        res,
        socketDrops: (s1.drops.socket ?? 0) - (s0.drops.socket ?? 0),
        cpuPercent: Math.round((100 * cpu) / wall),
        cpuUsPerRequest: received > 0 ? Math.round((cpu * 1e7) / received) / 10 : 0,
      };
      ctx.log(
        `${mode} ${rate}/s: sent ${res.sent}, answered ${res.answered} (${res.answeredPerS}/s), ` +
          `socket drops ${step.socketDrops}, p50 ${res.p50Us} µs, p99 ${res.p99Us} µs, cpu ${step.cpuPercent} % ` +
          `(${step.cpuUsPerRequest} µs/request)`,
      );
      return step;
    };

    for (const mode of ['arp', 'ndp'] as const) {
      // Warm-up: the JIT and the kernel's neighbour and route caches, not measured.
      await run(mode, 5000, 1000);
      await sleep(300);
      const sniffer = await startSniffer(lab, 'node', { mode, durationMs: stepMs + 1000 });
      const lat = await run(mode, latencyRate);
      const node = await sniffer.result;
      ctx.log(`${mode} ${latencyRate}/s on the node: ${node.matched} of ${node.requests} requests matched, ` + `p50 ${node.p50Us} µs, p99 ${node.p99Us} µs, p99.9 ${node.p999Us} µs`);
      ctx.emit({ metric: `${mode}_reply_p50_us`, value: lat.res.p50Us, unit: 'us' });
      ctx.emit({ metric: `${mode}_reply_p99_us`, value: lat.res.p99Us, unit: 'us' });
      ctx.emit({ metric: `${mode}_node_p50_us`, value: node.p50Us, unit: 'us' });
      ctx.emit({ metric: `${mode}_node_p99_us`, value: node.p99Us, unit: 'us' });
      const steps: Step[] = [];
      for (const rate of mode === 'arp' ? arpRates : ndpRates) {
        await sleep(500);
        const s = await run(mode, rate);
        steps.push(s);
        ctx.emit({ metric: `${mode}_answered_per_s_at_${rate}`, value: s.res.answeredPerS, unit: 'req/s' });
        ctx.emit({ metric: `${mode}_socket_drops_at_${rate}`, value: s.socketDrops, unit: 'count' });
        ctx.emit({ metric: `${mode}_cpu_percent_at_${rate}`, value: s.cpuPercent, unit: '%' });
      }
      const lossless = steps.filter((s) => s.socketDrops === 0 && s.res.answered === s.res.sent);
      ctx.emit({ metric: `${mode}_answered_per_s`, value: Math.max(...steps.map((s) => s.res.answeredPerS)), unit: 'req/s' });
      ctx.emit({ metric: `${mode}_lossless_per_s`, value: lossless.length ? Math.max(...lossless.map((s) => s.res.offeredPerS)) : 0, unit: 'req/s' });
      const undropped = steps.filter((s) => s.socketDrops === 0).at(-1);
      if (undropped !== undefined) ctx.emit({ metric: `${mode}_cpu_us_per_request`, value: undropped.cpuUsPerRequest, unit: 'us' });
      ctx.emit({
        metric: `${mode}_socket_drops`,
        value: steps.filter((s) => s.rate <= GOAL_RATE).reduce((n, s) => n + s.socketDrops, 0),
        unit: 'count',
      });
    }
    ctx.emit({ metric: 'responder_rss_max_bytes', value: rssPeak(pid), unit: 'bytes' });
    const st = await responder.stats();
    const drops = Object.values(st.drops).reduce((a, b) => a + b, 0);
    ctx.log(`responder totals: received ${String(st.requestsReceived)}, replies ${String(st.repliesSent)}, drops ${drops}`);
    await responder.stop();
  } finally {
    await lab.stop();
  }
}
