/**
 * `npm run bench -- failover [--trials N] [--soak-seconds S] [--loaded-trials N] [--only a,b] [--preset P]`
 * (root; uses the network lab).
 *
 * A 3-node lab with the controller and three speakers; a client-namespace probe starts an HTTP
 * GET to the VIP every 10 ms. For each fault (the winner's link cut, its speaker SIGKILLed, its
 * speaker SIGTERMed) and each of N trials (default 20): time from the fault to the first answer
 * from another node. Between trials the fault is undone and the original winner answers again.
 * "Loaded" = both cores oversubscribed 2× by other processes (four busy loops at normal
 * priority): SIGKILL trials again (loaded_sigkill_*). Soaks (default 1800 s each, at rest and
 * loaded): every change of answering node is a false failover. `--only` picks phases among
 * faults, loaded, soak, loadedsoak, flood (flood_false_failovers: a foreign host floods ARP
 * requests for the VIP at 10,000/s for 60 s, not run by default).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type System, arpResponders, createServiceWithEndpoints, electionOrder, nodeByMac, startSystem, until, waitIngress } from '../e2e/harness.js';
import { buildFlooder } from '../lab/layer2-lab.js';
import { FLOODER } from './memberlist.js';
import { type BenchContext, quantile } from './figure.js';

type Fault = 'linkcut' | 'sigkill' | 'sigterm';

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

const monoMs = (): number => Number(process.hrtime.bigint() / 1000n) / 1000;

/** Answer changes seen by the probe: [monotonic ms, node]. */
class Probe {
  readonly changes: [number, string][] = [];
  readonly proc: ChildProcess;
  constructor(sys: System, vip: string) {
    this.proc = sys.lab.spawnIn(sys.lab.client.netns, process.execPath, [join(import.meta.dirname, 'probe.mjs'), `http://${vip}/`, '10']);
    const rl = createInterface({ input: this.proc.stdout! });
    rl.on('line', (line) => {
      const [t, body] = line.split(' ');
      this.changes.push([Number(t), body ?? '']);
    });
  }
  /** The first change to a node other than `from` after time t0. */
  firstOther(t0: number, from: string): [number, string] | undefined {
    return this.changes.find(([t, n]) => t >= t0 && n !== from);
  }
  current(): string | undefined {
    return this.changes.at(-1)?.[1];
  }
  stop(): void {
    this.proc.kill('SIGTERM');
  }
}

export default async function bench(ctx: BenchContext): Promise<void> {
  const trials = arg(ctx.args, '--trials', 20);
  const loadedTrials = arg(ctx.args, '--loaded-trials', trials);
  const soakS = arg(ctx.args, '--soak-seconds', 1800);
  const onlyArg = ctx.args[ctx.args.indexOf('--only') + 1];
  const only = new Set(ctx.args.includes('--only') && onlyArg !== undefined ? onlyArg.split(',') : ['faults', 'loaded', 'soak', 'loadedsoak']);
  const busy: ChildProcess[] = [];
  const spin = (n: number): void => {
    for (let i = 0; i < n; i++) busy.push(spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
  };
  const unspin = (): void => {
    for (const b of busy.splice(0)) b.kill('SIGKILL');
  };
  const presetIdx = ctx.args.indexOf('--preset');
  const preset = presetIdx >= 0 ? ctx.args[presetIdx + 1] : undefined;
  if (preset !== undefined) ctx.log(`speakers on the ${preset} preset`);
  const sys = await startSystem(3, preset !== undefined ? { speakerArgs: ['--ml-preset', preset] } : {});
  try {
    await createServiceWithEndpoints(sys, 'bench', 'web', sys.lab.nodes);
    const [vip] = await waitIngress(sys, 'bench', 'web');
    if (vip === undefined) throw new Error('no VIP');
    const order = electionOrder(
      vip,
      sys.lab.nodes.map((n) => n.name),
    );
    const winner = sys.lab.nodes.find((n) => n.name === order[0]);
    if (winner === undefined) throw new Error('no winner');
    const probe = new Probe(sys, vip);
    const settle = async (): Promise<void> => {
      await until(
        'the winner to answer alone',
        () => {
          const macs = arpResponders(sys.lab, vip, 1);
          return macs.length === 1 && nodeByMac(sys.lab, macs[0])?.name === winner.name && probe.current() === winner.name;
        },
        30_000,
        200,
      );
      await new Promise((r) => setTimeout(r, 1500));
    };
    await settle();
    const runFault = async (fault: Fault, n: number, prefix: string): Promise<void> => {
      const samples: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = monoMs();
        if (fault === 'linkcut') sys.lab.setLink(winner, false);
        else sys.speakers.get(winner.name)?.kill(fault === 'sigkill' ? 'SIGKILL' : 'SIGTERM');
        let hit: [number, string] | undefined;
        try {
          hit = await until(`failover (${prefix}${fault} #${i + 1})`, () => probe.firstOther(t0, winner.name), 60_000, 5);
        } catch {
          ctx.log(`${prefix}${fault} #${i + 1}: no failover within 60 s`);
        }
        samples.push(hit === undefined ? 60_000 : hit[0] - t0);
        if (fault === 'linkcut') sys.lab.setLink(winner, true);
        else {
          await new Promise((r) => setTimeout(r, 200));
          sys.startSpeaker(winner);
        }
        await settle();
      }
      ctx.log(`${prefix}${fault}: ${samples.map((x) => x.toFixed(0)).join(' ')} ms`);
      ctx.emit({ metric: `${prefix}${fault}_p50_ms`, value: Math.round(quantile(samples, 0.5)), unit: 'ms' });
      ctx.emit({ metric: `${prefix}${fault}_p99_ms`, value: Math.round(quantile(samples, 0.99)), unit: 'ms' });
    };
    const soak = async (metric: string): Promise<void> => {
      const before = probe.changes.length;
      ctx.log(`${metric}: ${soakS} s`);
      await new Promise((r) => setTimeout(r, soakS * 1000));
      const changes = probe.changes.slice(before);
      ctx.log(`${metric}: answers changed ${changes.length} times${changes.length ? `: ${JSON.stringify(changes.slice(0, 10))}` : ''}`);
      ctx.emit({ metric, value: changes.filter(([, n]) => n !== winner.name).length, unit: 'count' });
    };
    if (only.has('faults')) for (const fault of ['linkcut', 'sigkill', 'sigterm'] as Fault[]) await runFault(fault, trials, '');
    if (only.has('loaded')) {
      spin(4);
      try {
        await runFault('sigkill', loadedTrials, 'loaded_');
      } finally {
        unspin();
      }
      await settle();
    }
    if (only.has('flood')) {
      // Floods at the announcer from a host on the segment, with its speaker's RSS and CPU before
      // and after: ARP requests for the VIP at 10,000/s for 60 s, then random datagrams at its
      // gossip port at 4,000/s for 25 s (no key needed). Every change of answering node is false.
      const intruder = sys.lab.foreignHost();
      const pid = sys.speakers.get(winner.name)?.pid ?? 0;
      const usage = (): { rssMb: number; cpuS: number } => {
        const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
        const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
        return { rssMb: Math.round(rss * 10) / 10, cpuS: (Number(f[11] ?? 0) + Number(f[12] ?? 0)) / 100 };
      };
      const run = async (what: string, cmd: string, args: string[], seconds: number): Promise<number> => {
        const before = probe.changes.length;
        const u0 = usage();
        const t0 = performance.now();
        const child = sys.lab.spawnIn(intruder.netns, cmd, args);
        let out = '';
        child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
        const killer = setTimeout(() => child.kill('SIGKILL'), (seconds + 40) * 1000);
        await new Promise((r) => child.once('exit', r));
        clearTimeout(killer);
        const u1 = usage();
        const cpu = ((u1.cpuS - u0.cpuS) / ((performance.now() - t0) / 1000)) * 100;
        const changes = probe.changes.slice(before).filter(([, n]) => n !== winner.name).length;
        ctx.log(`${what}: ${out.trim().slice(0, 300)}; speaker RSS ${u0.rssMb} → ${u1.rssMb} MB, CPU ${cpu.toFixed(0)} % during; answers moved ${changes} times`);
        return changes;
      };
      const arp = await run('ARP flood 10k/s for 60 s', buildFlooder(), ['--ifname', 'eth0', '--mode', 'arp', '--rate', '10000', '--duration-ms', '60000', '--target', vip], 60);
      await settle();
      const junk = await run('junk UDP 4k/s for 25 s at 7946', process.execPath, ['-e', FLOODER, winner.ipv4, '7946', '4000', '25'], 25);
      ctx.emit({ metric: 'flood_false_failovers', value: arp + junk, unit: 'count' });
    }
    if (only.has('soak')) await soak('soak_false_failovers');
    if (only.has('loadedsoak')) {
      spin(4);
      try {
        await soak('loaded_soak_false_failovers');
      } finally {
        unspin();
      }
    }
    probe.stop();
  } finally {
    unspin();
    await sys.stop();
  }
}
