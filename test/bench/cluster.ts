/**
 * `npm run bench -- cluster [--trials N]` (root): ironlb on a real two-node cluster
 * (test/cluster). Figures:
 *   cluster_up_s                 startCluster with binaries and images cached (warm)
 *   pods_ready_s                 kubectl apply -f deploy/ironlb.yaml → every ironlb Pod Ready
 *   apply_to_ingress_ms          LoadBalancer Service created → EXTERNAL-IP (median of N)
 *   pod_delete_failover_ms       the announcing node's speaker Pod deleted → the other node answers
 *   node_cut_failover_ms         the announcing node's link cut → the other node answers
 *   rolling_restart_failed_probes  failed requests of a 10 ms probe during `kubectl rollout restart ds/speaker`
 *   image_mb                     the ironlb image, uncompressed (the docker-archive size)
 * Failovers are medians over N trials (default 3), ETP=Local so the answering node is the announcing node.
 */
import { eventually } from '../integration/helpers.js';
import { type Cluster, type ClusterNode, buildImages, startCluster } from '../cluster/cluster.js';
import { Probe, deployWeb, exposeWeb, installIronlb, monoMs, setPolicy, waitExternalIp, waitIronlbReady, waitSpeakersJoined } from '../cluster/scenario.js';
import { type BenchContext, quantile } from './figure.js';

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

/** One fault on the answering node; returns ms until the other node answered. */
async function failover(c: Cluster, vip: string, fault: (n: ClusterNode) => void, undo: (n: ClusterNode) => void): Promise<number> {
  await waitSpeakersJoined(c);
  const probe = new Probe(c, vip);
  let victim: ClusterNode | undefined;
  try {
    const from = await eventually('the probe answered', () => probe.current(), 30_000, 50);
    victim = c.nodes.find((n) => n.name === from);
    if (victim === undefined) throw new Error(`unknown node ${from}`);
    const t0 = monoMs();
    fault(victim);
    return (await probe.otherNodeAfter(t0, victim.name, 90_000)) - t0;
  } finally {
    await probe.stop();
    if (victim !== undefined) undo(victim);
    await eventually('both nodes Ready', () => (c.kubectl(['get', 'nodes']).match(/\sReady\s/g) ?? []).length === c.nodes.length, 120_000, 500);
    waitIronlbReady(c);
  }
}

export default async function bench(ctx: BenchContext): Promise<void> {
  const trials = arg(ctx.args, '--trials', 3);
  const images = buildImages();
  ctx.emit({ metric: 'image_mb', value: Math.round(images.ironlbBytes / 1e5) / 10, unit: 'MB' });
  const t0 = Date.now();
  const c = await startCluster({ nodes: 2, images, log: ctx.log });
  try {
    ctx.emit({ metric: 'cluster_up_s', value: (Date.now() - t0) / 1000, unit: 's' });
    const tApply = Date.now();
    installIronlb(c);
    ctx.emit({ metric: 'pods_ready_s', value: (Date.now() - tApply) / 1000, unit: 's' });
    await waitSpeakersJoined(c);
    deployWeb(c);

    const ingress: number[] = [];
    for (let i = 0; i < trials; i++) {
      const name = i === 0 ? 'web' : `lat${i}`;
      const t = Date.now();
      if (i === 0) exposeWeb(c, 'web');
      else c.kubectl(['create', 'service', 'loadbalancer', name, '--tcp=80:8080']);
      await waitExternalIp(c, name, 60_000, 20);
      ingress.push(Date.now() - t);
    }
    ctx.emit({ metric: 'apply_to_ingress_ms', value: quantile(ingress, 0.5), unit: 'ms' });
    const vip = await waitExternalIp(c, 'web');

    const probe = new Probe(c, vip);
    await eventually('the probe answered', () => probe.current(), 30_000, 50);
    c.kubectl(['-n', 'ironlb-system', 'rollout', 'restart', 'ds/speaker']);
    c.kubectl(['-n', 'ironlb-system', 'rollout', 'status', 'ds/speaker', '--timeout=240s'], { timeoutMs: 250_000 });
    await waitSpeakersJoined(c);
    const r = await probe.stop();
    ctx.log(`rolling restart: ${r.ok} answered, ${r.fail} failed`);
    ctx.emit({ metric: 'rolling_restart_failed_probes', value: r.fail, unit: 'requests' });

    setPolicy(c, 'web', 'Local');
    const podDelete: number[] = [];
    const nodeCut: number[] = [];
    for (let i = 0; i < trials; i++) {
      podDelete.push(
        await failover(
          c,
          vip,
          (n) => {
            const pod = c.kubectl(['-n', 'ironlb-system', 'get', 'pods', '-l', 'app.kubernetes.io/component=speaker', '--field-selector', `spec.nodeName=${n.name}`, '-o', 'name']).trim();
            c.kubectl(['-n', 'ironlb-system', 'delete', pod, '--wait=false']);
          },
          () => {},
        ),
      );
      nodeCut.push(
        await failover(
          c,
          vip,
          (n) => c.setLink(n, false),
          (n) => c.setLink(n, true),
        ),
      );
      ctx.log(`trial ${i + 1}: pod delete ${podDelete.at(-1)?.toFixed(0)} ms, node cut ${nodeCut.at(-1)?.toFixed(0)} ms`);
    }
    ctx.emit({ metric: 'pod_delete_failover_ms', value: Math.round(quantile(podDelete, 0.5)), unit: 'ms' });
    ctx.emit({ metric: 'node_cut_failover_ms', value: Math.round(quantile(nodeCut, 0.5)), unit: 'ms' });
  } finally {
    await c.stop();
  }
}
