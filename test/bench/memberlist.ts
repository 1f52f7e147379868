/**
 * `npm run bench -- memberlist [--trials N] [--window S] [--busy N] [--only detect|false|junk]
 *   [--preset NAME] [--timing JSON] [--sizes 3,10] [--false-members N]`: failure detection of
 * a timing preset (default `fast`) on real UDP/TCP sockets on loopback (127.0.x.y), one process
 * per member (test/interop/tsnode.ts). The metric names are the same for every preset; the
 * preset and overrides are logged.
 *
 * - detect_p50_ms / detect_p99_ms (3 members), detect10_p50_ms / detect10_p99_ms (10 members):
 *   time from SIGKILL of one member until *every* survivor reports it dead (each survivor's
 *   own timestamp of its leave event). The victim rotates; after each trial it is restarted
 *   (incarnation 1, same name and address), must be re-admitted by refutation, and the
 *   cluster settles before the next kill.
 * - false_suspicions_per_h: a healthy 5-member cluster runs for a bounded window (120 s by
 *   default) while a busy-loop child pegs one core (--busy N: N cores); every failed probe of a healthy member is a false suspicion
 *   (summed over members), scaled to one hour. false_deaths_per_h counts members wrongly
 *   declared dead in the same window. --false-members N sets the cluster size (default 5).
 * - junk (--only junk, not run by default): a 3-member keyed cluster; one member is flooded
 *   with random 1500-byte datagrams at rising rates (10 s each, from flooder processes) until
 *   its peers fail a probe of it. junk_absorbed_pkts_per_s is the highest rate with no failed
 *   probe and no kernel drop at the victim's socket; junk_drain_pkts_per_s the highest rate
 *   the victim handled (counted) at all; junk_kernel_drops the datagrams the kernel dropped
 *   at the victim's socket over the whole ramp.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

const isLeaveDead =
  (name: string) =>
  (l: Line): boolean =>
    l.ev === 'leave' && (l.node as { name?: string; state?: string } | undefined)?.name === name && (l.node as { state?: string }).state === 'dead';
const isJoin =
  (name: string) =>
  (l: Line): boolean =>
    l.ev === 'join' && (l.node as { name?: string } | undefined)?.name === name;

/** Preset and timing overrides of every member (--preset, --timing). */
let presetArgs: string[] = ['--preset', 'fast'];

function start(name: string, addr: string, port: number, seed: string, key: string, every = 1000): Peer {
  const args = ['--bind', addr, '--port', String(port), ...presetArgs, '--key', key, '--members-every', String(every)];
  if (seed !== '') args.push('--join', seed);
  return spawnTs(name, args);
}

async function cluster(n: number, subnet: number, basePort: number, key: string, every = 1000): Promise<Member[]> {
  const ms: Member[] = [];
  for (let i = 0; i < n; i++) {
    const addr = `127.0.${subnet}.${i + 1}`;
    const port = basePort + i;
    const seed = i === 0 ? '' : `127.0.${subnet}.1:${basePort}`;
    const peer = start(`m${i}`, addr, port, seed, key, every);
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

function strArg(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

export default async function (ctx: BenchContext): Promise<void> {
  const trials = arg(ctx.args, 'trials', 20);
  const windowS = arg(ctx.args, 'window', 120);
  const key = '5a'.repeat(32);
  const basePort = 41000 + (process.pid % 500) * 40;
  const only = strArg(ctx.args, 'only');
  const preset = strArg(ctx.args, 'preset') ?? 'fast';
  const timing = strArg(ctx.args, 'timing');
  presetArgs = ['--preset', preset, ...(timing !== undefined ? ['--timing', timing] : [])];
  ctx.log(`preset ${preset}${timing !== undefined ? ` with ${timing}` : ''}`);
  const sizes = (strArg(ctx.args, 'sizes') ?? '3,10').split(',').map(Number);
  try {
    if (only === 'junk') {
      await junk(ctx, basePort + 35, key);
      return;
    }
    if (only !== 'false') await detection(ctx, trials, basePort, key, sizes);
    if (only !== 'detect') await falseSuspicions(ctx, windowS, arg(ctx.args, 'busy', 1), basePort, key, arg(ctx.args, 'false-members', 5));
  } finally {
    killAll();
  }
}

async function detection(ctx: BenchContext, trials: number, basePort: number, key: string, sizes: number[]): Promise<void> {
  if (sizes.includes(3)) {
    const d3 = await detectionTrials(ctx, 3, trials, 1, basePort, key);
    ctx.emit({ metric: 'detect_p50_ms', value: quantile(d3, 0.5), unit: 'ms' });
    ctx.emit({ metric: 'detect_p99_ms', value: quantile(d3, 0.99), unit: 'ms' });
  }
  if (sizes.includes(10)) {
    const d10 = await detectionTrials(ctx, 10, trials, 2, basePort + 10, key);
    ctx.emit({ metric: 'detect10_p50_ms', value: quantile(d10, 0.5), unit: 'ms' });
    ctx.emit({ metric: 'detect10_p99_ms', value: quantile(d10, 0.99), unit: 'ms' });
  }
}

async function falseSuspicions(ctx: BenchContext, windowS: number, busyLoops: number, basePort: number, key: string, members: number): Promise<void> {
  const ms = await cluster(members, 3, basePort + 25, key);
  await sleep(1000);
  const loop = `const end = Date.now() + ${(windowS + 5) * 1000}; while (Date.now() < end) {}`;
  const busy = Array.from({ length: busyLoops }, () => spawn(process.execPath, ['-e', loop], { stdio: 'ignore' }));
  const marks = ms.map((m) => m.peer.lines.length);
  const statsAt = (m: Member, from: number, key: 'probeFailures' | 'probeStalls' | 'tcpFallbackSuccesses' = 'probeFailures'): number => {
    const s = m.peer.lines.slice(from).filter((l) => l.ev === 'stats');
    const last = s[s.length - 1] as Record<string, number | undefined> | undefined;
    return last?.[key] ?? 0;
  };
  const stalls0 = ms.map((m) => statsAt(m, 0, 'probeStalls'));
  const tcp0 = ms.map((m) => statsAt(m, 0, 'tcpFallbackSuccesses'));
  const before = ms.map((m) => statsAt(m, 0));
  await sleep(windowS * 1000);
  await sleep(1100); // one more stats line
  const after = ms.map((m, i) => statsAt(m, marks[i] ?? 0));
  for (const b of busy) b.kill('SIGKILL');
  const suspicions = after.reduce((a, v, i) => a + Math.max(0, v - (before[i] ?? 0)), 0);
  const stalls = ms.reduce((a, m, i) => a + statsAt(m, marks[i] ?? 0, 'probeStalls') - (stalls0[i] ?? 0), 0);
  const tcpSaves = ms.reduce((a, m, i) => a + statsAt(m, marks[i] ?? 0, 'tcpFallbackSuccesses') - (tcp0[i] ?? 0), 0);
  const deaths = ms.reduce((a, m, i) => a + m.peer.lines.slice(marks[i]).filter((l) => l.ev === 'leave').length, 0);
  const [load1] = loadavg();
  ctx.log(
    `false-suspicion window: ${windowS} s, ${members} members (${presetArgs.slice(1).join(' ')}), ${busyLoops} core(s) pegged by busy loops; failed probes ${suspicions}, false deaths ${deaths}, probes saved by a TCP ack ${tcpSaves} / by stallGrace ${stalls}; 1-min load average at the end ${load1?.toFixed(2)} on ${cpus().length} cores`,
  );
  ctx.emit({ metric: 'false_suspicions_per_h', value: (suspicions * 3600) / windowS, unit: '1/h' });
  ctx.emit({ metric: 'false_deaths_per_h', value: (deaths * 3600) / windowS, unit: '1/h' });
  for (const m of ms) m.peer.proc.kill('SIGKILL');
}

/** Random-datagram flooder: `rate` pkt/s for `seconds`; prints how many it sent. */
export const FLOODER = `
const dgram = require('node:dgram');
const { randomBytes } = require('node:crypto');
const [host, port, rate, seconds] = process.argv.slice(1).map((v, i) => (i === 0 ? v : Number(v)));
const s = dgram.createSocket('udp4');
const bufs = Array.from({ length: 64 }, () => randomBytes(1500));
let sent = 0;
const start = Date.now();
const tick = () => {
  const el = Date.now() - start;
  if (el >= seconds * 1000) { s.close(); process.stdout.write(String(sent)); return; }
  const target = Math.floor((rate * el) / 1000);
  for (let k = 0; sent < target && k < 4000; k++) s.send(bufs[sent++ & 63], port, host);
  setImmediate(tick);
};
tick();
`;

function flood(host: string, port: number, rate: number, seconds: number): Promise<number> {
  const c = spawn(process.execPath, ['-e', FLOODER, host, String(port), String(rate), String(seconds)], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  c.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => c.once('exit', () => resolve(Number(out) || 0)));
}

/** The kernel's drop counter of the UDP socket bound to addr:port (/proc/net/udp), or 0. */
function kernelDrops(addr: string, port: number): number {
  const hexIp = addr
    .split('.')
    .map((o) => Number(o).toString(16).padStart(2, '0').toUpperCase())
    .reverse()
    .join('');
  const want = `${hexIp}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  try {
    for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[1] === want) return Number(f[f.length - 1]);
    }
  } catch {
    // not Linux: unknown
  }
  return 0;
}

function lastStats(m: Member, from = 0): { probeFailures: number; packetsReceived: number } {
  const s = m.peer.lines.slice(from).filter((l) => l.ev === 'stats');
  const last = s[s.length - 1] as { probeFailures?: number; packetsReceived?: number } | undefined;
  return { probeFailures: last?.probeFailures ?? 0, packetsReceived: last?.packetsReceived ?? 0 };
}

async function junk(ctx: BenchContext, basePort: number, key: string): Promise<void> {
  const ms = await cluster(3, 4, basePort, key, 250);
  await sleep(2000);
  const [, victim, ...rest] = ms;
  const others = ms.filter((m) => m !== victim);
  if (victim === undefined || rest.length === 0) return;
  let absorbed = 0;
  let drained = 0;
  const drops0 = kernelDrops(victim.addr, victim.port);
  for (const rate of [5_000, 10_000, 20_000, 40_000, 80_000, 160_000]) {
    const marks = ms.map((m) => m.peer.lines.length);
    const failed0 = others.map((m) => lastStats(m).probeFailures);
    const recv0 = lastStats(victim).packetsReceived;
    const dropsBefore = kernelDrops(victim.addr, victim.port);
    const flooders = Math.ceil(rate / 40_000);
    const seconds = 10;
    const sent = (await Promise.all(Array.from({ length: flooders }, () => flood(victim.addr, victim.port, rate / flooders, seconds)))).reduce((a, b) => a + b, 0);
    await sleep(1500);
    const recv = lastStats(victim).packetsReceived - recv0;
    const kdrops = kernelDrops(victim.addr, victim.port) - dropsBefore;
    const failed = others.reduce((a, m, i) => a + lastStats(m).probeFailures - (failed0[i] ?? 0), 0);
    const leaves = ms.reduce((a, m, i) => a + m.peer.lines.slice(marks[i]).filter((l) => l.ev === 'leave').length, 0);
    ctx.log(
      `junk ${rate} pkt/s asked, ${Math.round(sent / seconds)} pkt/s sent by ${flooders} flooder(s): victim handled ${Math.round(recv / seconds)} pkt/s, kernel dropped ${kdrops}; peers' failed probes ${failed}, deaths ${leaves}; load ${loadavg()[0]?.toFixed(1)}`,
    );
    drained = Math.max(drained, recv / seconds);
    if (failed === 0 && leaves === 0 && kdrops === 0) absorbed = Math.max(absorbed, Math.round(sent / seconds));
    if (failed > 0 || leaves > 0) break;
    await sleep(2000);
  }
  ctx.emit({ metric: 'junk_absorbed_pkts_per_s', value: absorbed, unit: 'pkt/s' });
  ctx.emit({ metric: 'junk_drain_pkts_per_s', value: Math.round(drained), unit: 'pkt/s' });
  ctx.emit({ metric: 'junk_kernel_drops', value: kernelDrops(victim.addr, victim.port) - drops0, unit: 'pkt' });
  // The attack of issue 10: 4,000 random datagrams/s for 25 s at one member. Every probe of a
  // healthy member that fails meanwhile is a false suspicion.
  await sleep(3000);
  const failed0 = others.map((m) => lastStats(m).probeFailures);
  const marks = ms.map((m) => m.peer.lines.length);
  await flood(victim.addr, victim.port, 4000, 25);
  await sleep(1500);
  const falseSuspicions = others.reduce((a, m, i) => a + lastStats(m).probeFailures - (failed0[i] ?? 0), 0);
  const deaths = ms.reduce((a, m, i) => a + m.peer.lines.slice(marks[i]).filter((l) => l.ev === 'leave').length, 0);
  ctx.log(`junk 4000 pkt/s for 25 s: peers' failed probes ${falseSuspicions}, deaths ${deaths}`);
  ctx.emit({ metric: 'junk_false_suspicions', value: falseSuspicions + deaths, unit: 'count' });
  for (const m of ms) m.peer.proc.kill('SIGKILL');
}
