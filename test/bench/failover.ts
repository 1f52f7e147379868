/**
 * `npm run bench -- failover [--trials N] [--soak-seconds S]` (root; uses the network lab).
 *
 * A 3-node lab with the controller and three speakers; a client-namespace probe starts an HTTP
 * GET to the VIP every 10 ms. For each fault (the winner's link cut, its speaker SIGKILLed, its
 * speaker SIGTERMed) and each of N trials (default 20): time from the fault to the first answer
 * from another node. Between trials the fault is undone and the original winner answers again.
 * Then a soak (default 600 s) with one core kept busy by a spinning process: every change of
 * answering node is a false failover.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type System, arpResponders, createServiceWithEndpoints, electionOrder, nodeByMac, startSystem, until, waitIngress } from '../e2e/harness.js';
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
  const soakS = arg(ctx.args, '--soak-seconds', 600);
  const sys = await startSystem(3);
  const busy: ChildProcess[] = [];
  try {
    await createServiceWithEndpoints(sys, 'bench', 'web', sys.lab.nodes);
    const [vip] = await waitIngress(sys, 'bench', 'web');
    if (vip === undefined) throw new Error('no VIP');
    const order = electionOrder(vip, sys.lab.nodes.map((n) => n.name));
    const winner = sys.lab.nodes.find((n) => n.name === order[0]);
    if (winner === undefined) throw new Error('no winner');
    const probe = new Probe(sys, vip);
    const settle = async (): Promise<void> => {
      await until('the winner to answer alone', () => {
        const macs = arpResponders(sys.lab, vip, 1);
        return macs.length === 1 && nodeByMac(sys.lab, macs[0])?.name === winner.name && probe.current() === winner.name;
      }, 30_000, 200);
      await new Promise((r) => setTimeout(r, 1500));
    };
    await settle();
    for (const fault of ['linkcut', 'sigkill', 'sigterm'] as Fault[]) {
      const samples: number[] = [];
      for (let i = 0; i < trials; i++) {
        const t0 = monoMs();
        if (fault === 'linkcut') sys.lab.setLink(winner, false);
        else sys.speakers.get(winner.name)?.kill(fault === 'sigkill' ? 'SIGKILL' : 'SIGTERM');
        const hit = await until(`failover (${fault} #${i + 1})`, () => probe.firstOther(t0, winner.name), 15_000, 5);
        samples.push(hit[0] - t0);
        if (fault === 'linkcut') sys.lab.setLink(winner, true);
        else {
          await new Promise((r) => setTimeout(r, 200));
          sys.startSpeaker(winner);
        }
        await settle();
      }
      ctx.log(`${fault}: ${samples.map((s) => s.toFixed(0)).join(' ')} ms`);
      ctx.emit({ metric: `${fault}_p50_ms`, value: Math.round(quantile(samples, 0.5)), unit: 'ms' });
      ctx.emit({ metric: `${fault}_p99_ms`, value: Math.round(quantile(samples, 0.99)), unit: 'ms' });
    }
    // Soak: keep one core busy; count changes of the answering node with no fault injected.
    busy.push(spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
    const before = probe.changes.length;
    ctx.log(`soak: ${soakS} s with one core spinning`);
    await new Promise((r) => setTimeout(r, soakS * 1000));
    const changes = probe.changes.slice(before);
    ctx.log(`soak: answers changed ${changes.length} times${changes.length ? `: ${JSON.stringify(changes.slice(0, 10))}` : ''}`);
    ctx.emit({ metric: 'soak_false_failovers', value: changes.filter(([, n]) => n !== winner.name).length, unit: 'count' });
    probe.stop();
  } finally {
    for (const b of busy) b.kill('SIGKILL');
    await sys.stop();
  }
}
