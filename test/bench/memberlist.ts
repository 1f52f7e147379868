/**
 * `npm run bench -- memberlist [--trials N] [--window S] [--busy N] [--only detect|false]`: failure detection of the `fast`
 * preset on real UDP/TCP sockets on loopback (127.0.1.x), one process per member
 * (test/interop/tsnode.ts).
 *
 * - detect_p50_ms / detect_p99_ms (3 members), detect10_p50_ms / detect10_p99_ms (10 members):
 *   time from SIGKILL of one member until *every* survivor reports it dead (each survivor's
 *   own timestamp of its leave event). The victim rotates; after each trial it is restarted
 *   (incarnation 1, same name and address), must be re-admitted by refutation, and the
 *   cluster settles before the next kill.
 * - false_suspicions_per_h: a healthy 5-member cluster runs for a bounded window (120 s by
 *   default) while a busy-loop child pegs one core (--busy N: N cores); every failed probe of a healthy member is a false suspicion
 *   (summed over members), scaled to one hour. false_deaths_per_h counts members wrongly
 *   declared dead in the same window.
 */
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { quantile, type BenchContext } from './figure.js';
import { killAll, spawnTs, type Line, type Peer } from '../interop/procs.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : NaN;
  return Number.isFinite(v) && v > 0 ? v : dflt;
}

interface Member {
  name: string;
  addr: string;
  port: number;
  peer: Peer;
}

const isLeaveDead = (name: string) => (l: Line): boolean =>
  l.ev === 'leave' && (l.node as { name?: string; state?: string } | undefined)?.name === name && (l.node as { state?: string }).state === 'dead';
const isJoin = (name: string) => (l: Line): boolean => l.ev === 'join' && (l.node as { name?: string } | undefined)?.name === name;

function start(name: string, addr: string, port: number, seed: string, key: string): Peer {
  const args = ['--bind', addr, '--port', String(port), '--preset', 'fast', '--key', key, '--members-every', '1000'];
  if (seed !== '') args.push('--join', seed);
  return spawnTs(name, args);
}

async function cluster(n: number, subnet: number, basePort: number, key: string): Promise<Member[]> {
  const ms: Member[] = [];
  for (let i = 0; i < n; i++) {
    const addr = `127.0.${subnet}.${i + 1}`;
    const port = basePort + i;
    const seed = i === 0 ? '' : `127.0.${subnet}.1:${basePort}`;
    const peer = start(`m${i}`, addr, port, seed, key);
    ms.push({ name: `m${i}`, addr, port, peer });
    await peer.waitFor('ready', (l) => l.ev === 'ready', 30_000);
  }
  // Converged when every member has seen a join for every other member.
  await Promise.all(ms.flatMap((a) => ms.filter((b) => b !== a).map((b) => a.peer.waitFor(`${a.name} sees ${b.name}`, isJoin(b.name), 30_000))));
  return ms;
}

async function detectionTrials(ctx: BenchContext, n: number, trials: number, subnet: number, basePort: number, key: string): Promise<number[]> {
  const ms = await cluster(n, subnet, basePort, key);
  await sleep(1000);
  const samples: number[] = [];
  for (let t = 0; t < trials; t++) {
    const victim = ms[(t % (n - 1)) + 1]; // keep m0 as the stable seed
    if (victim === undefined) break;
    const survivors = ms.filter((m) => m !== victim);
    const marks = survivors.map((m) => m.peer.lines.length);
    const killedAt = Date.now();
    victim.peer.proc.kill('SIGKILL');
    await victim.peer.exited;
    const seen = await Promise.all(survivors.map((m, i) => m.peer.waitFor(`${m.name} sees ${victim.name} dead`, isLeaveDead(victim.name), 20_000, marks[i])));
    samples.push(Math.max(...seen.map((l) => l.t)) - killedAt);
    // Restart the victim; it rejoins via refutation of its own death.
    const rejoinMarks = survivors.map((m) => m.peer.lines.length);
    victim.peer = start(victim.name, victim.addr, victim.port, `${ms[0]?.addr}:${ms[0]?.port}`, key);
    await Promise.all(survivors.map((m, i) => m.peer.waitFor(`${m.name} sees ${victim.name} back`, isJoin(victim.name), 20_000, rejoinMarks[i])));
    await sleep(700);
  }
  ctx.log(`${n} members: ${samples.length} trials, samples ms: ${samples.join(' ')}`);
  for (const m of ms) m.peer.proc.kill('SIGKILL');
  await Promise.all(ms.map((m) => m.peer.exited));
  return samples;
}

export default async function (ctx: BenchContext): Promise<void> {
  const trials = arg(ctx.args, 'trials', 20);
  const windowS = arg(ctx.args, 'window', 120);
  const key = '5a'.repeat(32);
  const basePort = 41000 + (process.pid % 500) * 40;
  const oi = ctx.args.indexOf('--only');
  const only = oi >= 0 ? ctx.args[oi + 1] : undefined;
  try {
    if (only !== 'false') await detection(ctx, trials, basePort, key);
    if (only !== 'detect') await falseSuspicions(ctx, windowS, arg(ctx.args, 'busy', 1), basePort, key);
  } finally {
    killAll();
  }
}

async function detection(ctx: BenchContext, trials: number, basePort: number, key: string): Promise<void> {
  const d3 = await detectionTrials(ctx, 3, trials, 1, basePort, key);
  ctx.emit({ metric: 'detect_p50_ms', value: quantile(d3, 0.5), unit: 'ms' });
  ctx.emit({ metric: 'detect_p99_ms', value: quantile(d3, 0.99), unit: 'ms' });
  const d10 = await detectionTrials(ctx, 10, trials, 2, basePort + 10, key);
  ctx.emit({ metric: 'detect10_p50_ms', value: quantile(d10, 0.5), unit: 'ms' });
  ctx.emit({ metric: 'detect10_p99_ms', value: quantile(d10, 0.99), unit: 'ms' });
}

async function falseSuspicions(ctx: BenchContext, windowS: number, busyLoops: number, basePort: number, key: string): Promise<void> {
  const ms = await cluster(5, 3, basePort + 25, key);
  await sleep(1000);
  const busy = spawn(process.execPath, ['-e', `const end = Date.now() + ${(windowS + 5) * 1000}; while (Date.now() < end) {}`], { stdio: 'ignore' });
  const marks = ms.map((m) => m.peer.lines.length);
  const statsAt = (m: Member, from: number): number => {
    const s = m.peer.lines.slice(from).filter((l) => l.ev === 'stats');
    const last = s[s.length - 1] as { probeFailures?: number } | undefined;
    return last?.probeFailures ?? 0;
  };
  const before = ms.map((m) => statsAt(m, 0));
  await sleep(windowS * 1000);
  await sleep(1100); // one more stats line
  const after = ms.map((m, i) => statsAt(m, marks[i] ?? 0));
  busy.kill('SIGKILL');
  const suspicions = after.reduce((a, v, i) => a + Math.max(0, v - (before[i] ?? 0)), 0);
  const deaths = ms.reduce((a, m, i) => a + m.peer.lines.slice(marks[i]).filter((l) => l.ev === 'leave').length, 0);
  const [load1] = loadavg();
  ctx.log(`false-suspicion window: ${windowS} s, 5 members (fast preset), ${busyLoops} core(s) pegged by busy loops; failed probes ${suspicions}, false deaths ${deaths}; 1-min load average at the end ${load1?.toFixed(2)} on ${cpus().length} cores`);
  ctx.emit({ metric: 'false_suspicions_per_h', value: (suspicions * 3600) / windowS, unit: '1/h' });
  ctx.emit({ metric: 'false_deaths_per_h', value: (deaths * 3600) / windowS, unit: '1/h' });
  for (const m of ms) m.peer.proc.kill('SIGKILL');
}
