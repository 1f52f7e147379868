/**
 * `npm run bench -- faults [--trials N] [--outage-s S] [--partition-s S]` (root; network lab).
 *
 * The figures of issue 9, in a 3-node lab with the real controller and speakers and a client
 * probing the VIP from its own namespace:
 *  - speaker_start_to_ready_ms: speaker process spawned → /readyz 200 (p50 of N restarts);
 *  - speaker_start_to_answering_ms: every speaker stopped, the winner's started → it answers ARP;
 *  - rolling_restart_failed_probes: every speaker SIGTERMed and restarted one at a time (as a
 *    DaemonSet rolls), HTTP every 10 ms: failed requests;
 *  - conflict_reassert_ms: a foreign host sends one gratuitous ARP for the VIP → the client's
 *    HTTP reaches the speaker again (p50 of N);
 *  - partition_dual_answer_ms: UDP/TCP 7946 blocked between the announcer and the others → how
 *    long after the partition started two MACs still answered ARP (0: never);
 *  - api_outage_failed_probes: kube-apiserver killed for S seconds (default 300): failed requests.
 * Every step is bounded in time; the lab is torn down whatever happens.
 */
import { join } from 'node:path';
import { type LabNode } from '../lab/lab.js';
import {
  type System,
  arpResponders,
  createServiceWithEndpoints,
  electionOrder,
  nodeByMac,
  speakerProbe,
  startArpProbe,
  startHttpProbe,
  startSystem,
  until,
  waitIngress,
  waitSpeakerMembers,
} from '../e2e/harness.js';
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

export default async function bench(ctx: BenchContext): Promise<void> {
  const trials = arg(ctx.args, '--trials', 5);
  const outageS = arg(ctx.args, '--outage-s', 300);
  const partitionS = arg(ctx.args, '--partition-s', 20);
  const sys = await startSystem(3);
  try {
    await createServiceWithEndpoints(sys, 'bench', 'web', sys.lab.nodes);
    const [vip = ''] = await waitIngress(sys, 'bench', 'web');
    const order = electionOrder(
      vip,
      sys.lab.nodes.map((n) => n.name),
    );
    const winner = sys.lab.nodes.find((n) => n.name === order[0]) as LabNode;
    const settle = async (): Promise<void> => {
      for (const n of sys.lab.nodes) await waitSpeakerMembers(sys.lab, n, 3, 60_000);
      await until(
        'the winner answering alone',
        () => {
          const macs = arpResponders(sys.lab, vip, 1);
          return macs.length === 1 && nodeByMac(sys.lab, macs[0])?.name === winner.name;
        },
        60_000,
        200,
      );
    };
    await settle();

    // Start → ready, restarting a non-winner (the VIP is unaffected).
    const other = sys.lab.nodes.find((n) => n.name === order[2]) as LabNode;
    const ready: number[] = [];
    for (let i = 0; i < trials; i++) {
      await stopSpeaker(sys, other);
      const t0 = performance.now();
      sys.startSpeaker(other);
      await until('ready', () => speakerProbe(sys.lab, other, '/readyz') === 200, 60_000, 10);
      ready.push(performance.now() - t0);
      await settle();
    }
    ctx.log(`start→ready: ${ready.map((x) => x.toFixed(0)).join(' ')} ms`);
    ctx.emit({ metric: 'speaker_start_to_ready_ms', value: Math.round(quantile(ready, 0.5)), unit: 'ms' });

    // Start → answering with no other speaker running (all restarted at once, worst case).
    const answering: number[] = [];
    for (let i = 0; i < trials; i++) {
      for (const n of sys.lab.nodes) await stopSpeaker(sys, n);
      await sleep(500);
      const t0 = performance.now();
      sys.startSpeaker(winner);
      await until('answering', () => arpResponders(sys.lab, vip, 1).length === 1, 60_000, 0);
      answering.push(performance.now() - t0);
      for (const n of sys.lab.nodes) if (n !== winner) sys.startSpeaker(n);
      await settle();
    }
    ctx.log(`start→answering: ${answering.map((x) => x.toFixed(0)).join(' ')} ms`);
    ctx.emit({ metric: 'speaker_start_to_answering_ms', value: Math.round(quantile(answering, 0.5)), unit: 'ms' });

    // Rolling restart.
    {
      const probe = await startHttpProbe(sys.lab, vip, 10);
      for (const n of sys.lab.nodes) {
        await stopSpeaker(sys, n);
        sys.startSpeaker(n);
        await until(`${n.name} ready`, () => speakerProbe(sys.lab, n, '/readyz') === 200, 60_000, 50);
        await waitSpeakerMembers(sys.lab, n, 3, 60_000);
      }
      await sleep(1000);
      const r = await probe.stop();
      ctx.log(`rolling restart: ${r.sent} requests, ${r.failed} failed ${JSON.stringify(r.failures)}`);
      ctx.emit({ metric: 'rolling_restart_failed_probes', value: r.failed, unit: 'count' });
      await settle();
    }

    // Conflict: a foreign host's gratuitous ARP.
    {
      const intruder = sys.lab.foreignHost();
      const samples: number[] = [];
      for (let i = 0; i < trials; i++) {
        const probe = await startHttpProbe(sys.lab, vip, 5, 500);
        await sleep(500);
        const t0 = probe.elapsed();
        sys.lab.exec(intruder.netns, process.execPath, [join(import.meta.dirname, '..', 'e2e', 'tools', 'garp.mjs'), 'eth0', vip], 5000);
        await sleep(3000);
        const r = await probe.stop();
        // The hijack shows as failed requests; the client is back at the first success after them.
        const fails = r.failures.filter(([start]) => start >= t0 - 50);
        const lastFail = fails.length > 0 ? Math.max(...fails.map(([, end]) => end)) : t0;
        const back = r.changes.find(([t]) => t > lastFail)?.[0];
        samples.push(fails.length === 0 ? 0 : Math.max(0, (back ?? lastFail + 5) - t0));
        await sleep(11_000); // RFC 5227 defence interval: the next trial starts a fresh defence
      }
      ctx.log(`conflict re-assert: ${samples.map((x) => x.toFixed(0)).join(' ')} ms`);
      ctx.emit({ metric: 'conflict_reassert_ms', value: Math.round(quantile(samples, 0.5)), unit: 'ms' });
      await settle();
    }

    // Partition of gossip between the announcer and the others.
    {
      const probe = await startArpProbe(sys.lab, vip, 50);
      const rule = (add: boolean): void => {
        for (const proto of ['udp', 'tcp']) {
          for (const [chain, flag] of [
            ['INPUT', '--dport'],
            ['OUTPUT', '--dport'],
            ['INPUT', '--sport'],
            ['OUTPUT', '--sport'],
          ]) {
            sys.lab.exec(winner.netns, 'iptables', [add ? '-A' : '-D', chain ?? '', '-p', proto, flag ?? '', '7946', '-j', 'DROP']);
          }
        }
      };
      await sleep(1000);
      const t0 = probe.elapsed();
      rule(true);
      let t1 = 0;
      try {
        await sleep(partitionS * 1000);
      } finally {
        t1 = probe.elapsed();
        rule(false);
      }
      await sleep(3000);
      const r = await probe.stop();
      const during = r.duals.filter((t) => t >= t0 && t <= t1);
      ctx.log(`partition: ${r.requests} ARP requests, ${r.dual} dual-answered (${JSON.stringify(during.slice(0, 20))}), ${r.unanswered} unanswered`);
      ctx.emit({ metric: 'partition_dual_answer_ms', value: during.length === 0 ? 0 : Math.round(Math.max(...during) - t0 + 50), unit: 'ms' });
      ctx.emit({ metric: 'partition_dual_answered_requests', value: r.dual, unit: 'count' });
      await settle();
    }

    // API outage.
    {
      const probe = await startHttpProbe(sys.lab, vip, 10);
      process.kill(sys.lab.controlPlane.apiserverPid(), 'SIGKILL');
      ctx.log(`api outage: ${outageS} s`);
      try {
        await sleep(outageS * 1000);
      } finally {
        await sys.lab.controlPlane.restartApiServer();
      }
      await sleep(2000);
      const r = await probe.stop();
      ctx.log(`api outage: ${r.sent} requests, ${r.failed} failed ${JSON.stringify(r.failures)}`);
      ctx.emit({ metric: 'api_outage_failed_probes', value: r.failed, unit: 'count' });
    }
  } finally {
    await sys.stop();
  }
}
