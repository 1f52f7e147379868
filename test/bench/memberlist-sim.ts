/**
 * `npm run bench -- memberlist-sim [--sizes 100,500,1000] [--trials N] [--window S]
 *   [--preset NAME] [--timing JSON] [--seed N] [--tradeoff]`
 *
 * Simulates whole clusters in one process on virtual time (SimCluster: ManualClock, in-memory
 * network with 0.25 ms delivery), so 1000 members and simulated minutes take real seconds to
 * minutes, and the figures do not depend on this machine's load. Requires the built package
 * (`npx tsc -b`).
 *
 * Per size N (default preset `fast`):
 * - simN_detect_p50_ms / simN_detect_p99_ms: from the crash of one member (no leave) until
 *   *every* other member has declared it dead (each member's own leave event), over `--trials`
 *   crashes of random members.
 * - simN_bytes_per_s_per_member: everything memberlist sends (UDP gossip/probes + TCP
 *   push/pull), per member per second, in a healthy steady state (also _udp_ alone).
 * - simN_false_suspicions_per_h / simN_false_deaths_per_h: with 1 % packet loss and nobody
 *   crashing, failed probes of healthy members (summed over members) and members wrongly
 *   declared dead, scaled to one hour.
 *
 * --tradeoff instead compares timing candidates on 3 members: detection p50/p99 and false
 * suspicions/deaths per hour at 1 % and 5 % loss, one figure per candidate (tradeoff_NAME_...).
 */
import { PRESETS, SimCluster, type PresetName, type SimNode, type Timing } from '@ironlb/memberlist';
import { quantile, type BenchContext } from './figure.js';

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

function num(args: string[], name: string, dflt: number): number {
  const v = Number(arg(args, name));
  return Number.isFinite(v) && v > 0 ? v : dflt;
}

interface Setup {
  preset: PresetName;
  timing: Partial<Timing>;
  seed: number;
}

/** Builds and converges an N-member cluster; joins go in concurrent batches to random joined members. */
async function build(n: number, s: Setup, log: (m: string) => void): Promise<SimCluster> {
  const c = new SimCluster({ seed: s.seed, node: { preset: s.preset, timing: s.timing } });
  c.net.delayMs = 0.25;
  const t0 = Date.now();
  for (let i = 0; i < n; i++) await c.add(`m${i}`);
  const first = c.nodes[0] as SimNode;
  const batch = 25;
  for (let i = 1; i < n; i += batch) {
    const joins = c.nodes.slice(i, i + batch).map((node, k) => {
      // Join the first member and one random earlier member: state spreads by push/pull.
      const other = c.nodes[Math.floor(c.random() * (i + k))] as SimNode;
      return node.ml.join([`${first.addr}:7946`, `${other.addr}:7946`]);
    });
    await c.run(Promise.all(joins), 60_000);
  }
  const took = await converge(c, 300_000);
  for (const node of c.nodes) node.events.length = 0;
  log(`${n} members: built in ${((Date.now() - t0) / 1000).toFixed(1)} s real, converged ${took === undefined ? 'NOT' : `after ${took} ms`} of virtual time`);
  return c;
}

/** Advances until every live member counts every live member alive (checked each second). */
async function converge(c: SimCluster, maxMs: number): Promise<number | undefined> {
  const live = (): number => c.nodes.filter((n) => n.up).length;
  return c.clock.advanceUntil(() => c.nodes.every((n) => !n.up || n.ml.liveMembers().length === live()), maxMs, 1000);
}

/** Crashes random members one at a time; returns the time until every survivor declared each dead. */
async function detection(c: SimCluster, trials: number, log: (m: string) => void): Promise<number[]> {
  const samples: number[] = [];
  for (let t = 0; t < trials; t++) {
    const candidates = c.nodes.filter((n, i) => n.up && i > 0);
    const victim = candidates[Math.floor(c.random() * candidates.length)];
    if (victim === undefined) break;
    // Let the cluster settle, and start at a random phase of the probe cycle.
    await c.clock.advance(2000 + c.random() * 1000);
    const at = c.clock.now();
    await c.kill(victim);
    const survivors = c.nodes.filter((n) => n.up);
    const seenAt = new Map<SimNode, number>();
    const ok = await c.clock.advanceUntil(
      () => {
        for (const s of survivors) {
          if (seenAt.has(s)) continue;
          const e = s.events.find((ev) => ev.t >= at && ev.type === 'leave' && ev.member.name === victim.name);
          if (e !== undefined) seenAt.set(s, e.t);
        }
        return seenAt.size === survivors.length;
      },
      120_000,
      20,
    );
    if (ok === undefined) log(`trial ${t}: ${victim.name} not declared dead by all within 120 s`);
    samples.push(Math.max(...seenAt.values()) - at);
    // Forget the dead member's events to keep scans short.
    for (const s of survivors) s.events.length = 0;
  }
  return samples;
}

/** Steady-state bytes per member per second over `windowS` simulated seconds. */
async function traffic(c: SimCluster, windowS: number): Promise<{ total: number; udp: number }> {
  const live = c.nodes.filter((n) => n.up).length;
  const p0 = c.net.counters.packetBytes;
  const s0 = c.net.counters.streamBytes;
  await c.clock.advance(windowS * 1000);
  const udp = (c.net.counters.packetBytes - p0) / windowS / live;
  const tcp = (c.net.counters.streamBytes - s0) / windowS / live;
  return { total: udp + tcp, udp };
}

/** Failed probes of healthy members and wrong deaths per hour under `loss`. */
async function falsePositives(c: SimCluster, loss: number, windowS: number): Promise<{ suspicions: number; deaths: number }> {
  const live = c.nodes.filter((n) => n.up);
  for (const n of live) n.events.length = 0;
  const before = live.map((n) => n.ml.stats().probeFailures);
  c.net.loss = loss;
  c.net.streamLoss = loss;
  await c.clock.advance(windowS * 1000);
  c.net.loss = 0;
  c.net.streamLoss = 0;
  const suspicions = live.reduce((a, n, i) => a + n.ml.stats().probeFailures - (before[i] ?? 0), 0);
  const deaths = live.reduce((a, n) => a + n.events.filter((e) => e.type === 'leave').length, 0);
  return { suspicions: (suspicions * 3600) / windowS, deaths: (deaths * 3600) / windowS };
}

async function sizes(ctx: BenchContext, s: Setup): Promise<void> {
  const list = (arg(ctx.args, 'sizes') ?? '100,500,1000')
    .split(',')
    .map(Number)
    .filter((n) => n >= 3);
  const trials = num(ctx.args, 'trials', 10);
  const windowS = num(ctx.args, 'window', 30);
  for (const n of list) {
    const t0 = Date.now();
    const c = await build(n, s, ctx.log);
    await c.clock.advance(5000);
    const tr = await traffic(c, Math.min(windowS, 20));
    ctx.emit({ metric: `sim${n}_bytes_per_s_per_member`, value: Math.round(tr.total), unit: 'B/s' });
    ctx.emit({ metric: `sim${n}_udp_bytes_per_s_per_member`, value: Math.round(tr.udp), unit: 'B/s' });
    const fp = await falsePositives(c, 0.01, windowS);
    ctx.emit({ metric: `sim${n}_false_suspicions_per_h`, value: Math.round(fp.suspicions), unit: '1/h' });
    ctx.emit({ metric: `sim${n}_false_deaths_per_h`, value: Math.round(fp.deaths), unit: '1/h' });
    const d = await detection(c, trials, ctx.log);
    ctx.log(`${n} members, preset ${s.preset}: detection samples (virtual ms): ${d.map((x) => Math.round(x)).join(' ')}; ${((Date.now() - t0) / 1000).toFixed(0)} s real`);
    ctx.emit({ metric: `sim${n}_detect_p50_ms`, value: Math.round(quantile(d, 0.5)), unit: 'ms' });
    ctx.emit({ metric: `sim${n}_detect_p99_ms`, value: Math.round(quantile(d, 0.99)), unit: 'ms' });
    await c.shutdown();
  }
}

/** Timing candidates for the 3-member trade-off (the presets plus tighter variants). */
function candidates(): Array<{ name: string; preset: PresetName; timing: Partial<Timing> }> {
  const out: Array<{ name: string; preset: PresetName; timing: Partial<Timing> }> = [
    { name: 'lan', preset: 'lan', timing: {} },
    { name: 'local', preset: 'local', timing: {} },
    { name: 'fast', preset: 'fast', timing: {} },
    { name: 'rapid', preset: 'rapid', timing: {} },
  ];
  // Tighter variants of fast: probe interval / probe timeout / suspicion mult / max mult.
  for (const [pi, pt, sm, mm] of [
    [50, 20, 3, 2],
    [40, 15, 3, 3],
    [30, 12, 3, 3],
    [40, 15, 2, 2],
  ] as const) {
    out.push({ name: `p${pi}t${pt}s${sm}m${mm}`, preset: 'fast', timing: { probeInterval: pi, probeTimeout: pt, suspicionMult: sm, suspicionMaxTimeoutMult: mm, gossipInterval: 10 } });
  }
  return out;
}

async function tradeoff(ctx: BenchContext, seed: number): Promise<void> {
  const trials = num(ctx.args, 'trials', 200);
  const windowS = num(ctx.args, 'window', 600);
  for (const cand of candidates()) {
    const c = await build(3, { preset: cand.preset, timing: cand.timing, seed }, () => undefined);
    await c.clock.advance(2000);
    const fp1 = await falsePositives(c, 0.01, windowS);
    const fp5 = await falsePositives(c, 0.05, windowS);
    // Detection on 3 members: crash one, measure, restart it (same name and address, back at
    // incarnation 1: it refutes its death) so the table keeps exactly 3 entries.
    const d: number[] = [];
    for (let t = 0; t < trials; t++) {
      const before = new Set(c.nodes.filter((n) => n.up));
      const [x] = await detection(c, 1, ctx.log);
      if (x !== undefined) d.push(x);
      const victim = [...before].find((n) => !n.up);
      const up = c.nodes.filter((n) => n.up);
      if (victim === undefined) continue;
      const fresh = await c.add(victim.name, {}, victim.addr);
      await c.run(fresh.ml.join([`${up[0]?.addr}:7946`]));
      await converge(c, 30_000);
    }
    ctx.log(
      `tradeoff ${cand.name}: p50 ${quantile(d, 0.5)} p99 ${quantile(d, 0.99)} max ${Math.max(...d)} ms; 1% loss ${fp1.suspicions.toFixed(0)} susp/h ${fp1.deaths.toFixed(1)} deaths/h; 5% loss ${fp5.suspicions.toFixed(0)} susp/h ${fp5.deaths.toFixed(1)} deaths/h`,
    );
    ctx.emit({ metric: `tradeoff_${cand.name}_detect3_p50_ms`, value: Math.round(quantile(d, 0.5)), unit: 'ms' });
    ctx.emit({ metric: `tradeoff_${cand.name}_detect3_p99_ms`, value: Math.round(quantile(d, 0.99)), unit: 'ms' });
    ctx.emit({ metric: `tradeoff_${cand.name}_false_suspicions_per_h_loss1`, value: Math.round(fp1.suspicions), unit: '1/h' });
    ctx.emit({ metric: `tradeoff_${cand.name}_false_deaths_per_h_loss1`, value: Math.round(fp1.deaths * 10) / 10, unit: '1/h' });
    ctx.emit({ metric: `tradeoff_${cand.name}_false_suspicions_per_h_loss5`, value: Math.round(fp5.suspicions), unit: '1/h' });
    ctx.emit({ metric: `tradeoff_${cand.name}_false_deaths_per_h_loss5`, value: Math.round(fp5.deaths * 10) / 10, unit: '1/h' });
    await c.shutdown();
  }
}

export default async function (ctx: BenchContext): Promise<void> {
  const seed = num(ctx.args, 'seed', 1);
  if (ctx.args.includes('--tradeoff')) {
    await tradeoff(ctx, seed);
    return;
  }
  const preset = (arg(ctx.args, 'preset') ?? 'fast') as PresetName;
  if (!(preset in PRESETS)) throw new Error(`unknown preset ${preset}`);
  const timingArg = arg(ctx.args, 'timing');
  const timing = timingArg !== undefined ? (JSON.parse(timingArg) as Partial<Timing>) : {};
  await sizes(ctx, { preset, timing, seed });
}
