/**
 * `npm run bench -- startup [--trials N]` (root; network lab): how fast a speaker serves.
 *  - speaker_start_to_ready_ms: a (non-winner) speaker process spawned → its /readyz answers 200
 *    (polled from the host every 5 ms at the node's address);
 *  - speaker_start_to_answering_ms: every speaker stopped, the winner's started alone → the first
 *    ARP answer for the VIP at the client (an ARP request every 5 ms).
 * p50 and max of N trials each (default 10).
 */
import type { LabNode } from '../lab/lab.js';
import { type ArpProbeResult, type System, createServiceWithEndpoints, electionOrder, startArpProbe, startSystem, until, waitIngress, waitSpeakerMembers } from '../e2e/harness.js';
import { type BenchContext, quantile } from './figure.js';

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

const sleep = async (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function stopSpeaker(sys: System, n: LabNode): Promise<void> {
  const p = sys.speakers.get(n.name);
  if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await Promise.race([exited, sleep(5000)]);
}

async function readyz(n: LabNode): Promise<boolean> {
  try {
    const r = await fetch(`http://${n.ipv4}:7472/readyz`, { signal: AbortSignal.timeout(200) });
    return r.status === 200;
  } catch {
    return false;
  }
}

export default async function bench(ctx: BenchContext): Promise<void> {
  const trials = arg(ctx.args, '--trials', 10);
  const sys = await startSystem(3);
  try {
    await createServiceWithEndpoints(sys, 'bench', 'web', sys.lab.nodes);
    const [vip = ''] = await waitIngress(sys, 'bench', 'web');
    const order = electionOrder(
      vip,
      sys.lab.nodes.map((n) => n.name),
    );
    const node = (name: string | undefined): LabNode => sys.lab.nodes.find((n) => n.name === name) as LabNode;
    const settle = async (): Promise<void> => {
      for (const n of sys.lab.nodes) await waitSpeakerMembers(sys.lab, n, 3, 60_000);
    };
    const ready: number[] = [];
    const other = node(order[2]);
    for (let i = 0; i < trials; i++) {
      await stopSpeaker(sys, other);
      const t0 = performance.now();
      sys.startSpeaker(other);
      await until('ready', () => readyz(other), 60_000, 5);
      ready.push(performance.now() - t0);
      await settle();
    }
    ctx.log(`start→ready: ${ready.map((x) => x.toFixed(0)).join(' ')} ms`);
    ctx.emit({ metric: 'speaker_start_to_ready_ms', value: Math.round(quantile(ready, 0.5)), unit: 'ms' });
    ctx.emit({ metric: 'speaker_start_to_ready_max_ms', value: Math.round(Math.max(...ready)), unit: 'ms' });

    const answering: number[] = [];
    const winner = node(order[0]);
    for (let i = 0; i < trials; i++) {
      for (const n of sys.lab.nodes) await stopSpeaker(sys, n);
      await sleep(300);
      const probe = await startArpProbe(sys.lab, vip, 5, 60_000);
      const t0 = probe.elapsed();
      sys.startSpeaker(winner);
      await until(
        'an ARP answer',
        async () => {
          const up = await readyz(winner);
          return up ? true : undefined;
        },
        60_000,
        20,
      );
      await sleep(1500);
      const r = await probe.stop();
      const firstAnswered = firstAnsweredAt(r, t0);
      if (firstAnswered !== undefined) answering.push(firstAnswered - t0);
      for (const n of sys.lab.nodes) if (n !== winner) sys.startSpeaker(n);
      await settle();
    }
    ctx.log(`start→answering: ${answering.map((x) => x.toFixed(0)).join(' ')} ms`);
    ctx.emit({ metric: 'speaker_start_to_answering_ms', value: Math.round(quantile(answering, 0.5)), unit: 'ms' });
    ctx.emit({ metric: 'speaker_start_to_answering_max_ms', value: Math.round(Math.max(...answering)), unit: 'ms' });
  } finally {
    await sys.stop();
  }
}

/** The time of the first request sent after t0 that got an answer. */
function firstAnsweredAt(r: ArpProbeResult, t0: number): number | undefined {
  return r.flips.find(([t, answered]) => answered && t >= t0)?.[0];
}
