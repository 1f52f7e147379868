/**
 * `npm run bench -- controller [--latency N] [--bulk N]`: the controller process (its bundle)
 * against a real kube-apiserver + etcd on this machine.
 *
 * - create_to_ingress_p50_ms / _p99_ms: N (default 1000) Services created one after another (a user
 *   creating a Service and waiting for it); time from the create request to the moment a watch
 *   sees status.loadBalancer.ingress (`--inflight K` keeps K creates going at once). create_request_p50_ms
 *   is the create call alone: the floor.
 * - bulk_10k_s: 10,000 Services created at once (64 in flight): time from the first create to the
 *   moment every one of them has an IP, as seen by a watch.
 * - crd_apply_to_ingress_p50_ms / _p99_ms: `--crd N` (default 50) times, a Service waits for a pool
 *   that does not exist yet (address-pool annotation); time from the apply of that IPAddressPool to
 *   the moment a watch sees the Service's ingress. Measured first, with few Services, since every
 *   config change re-checks every Service (a pass over 11,000 Services is another figure).
 * IPv6 single-stack Services in a /112 pool, since 10,000 IPv4 VIPs do not fit our lab range.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type V1Service, Watch } from '@kubernetes/client-node';
import { apiClients } from '@ironlb/k8s';
import { startControlPlane } from '../controlplane/controlplane.js';
import { apply, installCrds } from '../integration/crd-helpers.js';
import { type BenchContext, quantile } from './figure.js';

const POOL = 'address-pools:\n- name: bench\n  protocol: layer2\n  addresses: [2001:db8::1:0/112]\n';

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

async function pool<T>(items: readonly T[], width: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i] as T);
      }
    }),
  );
}

export default async function bench(ctx: BenchContext): Promise<void> {
  const latencyN = arg(ctx.args, '--latency', 1000);
  const bulkN = arg(ctx.args, '--bulk', 10_000);
  const inflight = arg(ctx.args, '--inflight', 1);
  const crdN = arg(ctx.args, '--crd', 50);
  const cp = await startControlPlane({ log: ctx.log });
  // The client side must not pay a TLS handshake per create either (see apiClients).
  const kc = cp.kubeConfig();
  const { core } = apiClients(kc);
  const kubeconfig = join(cp.dir, 'bench.kubeconfig');
  writeFileSync(kubeconfig, cp.kubeconfigYaml());
  // The CRDs are installed as deploy/ ships them, before the controller starts (it looks once a minute).
  await installCrds(kc);
  const controller = spawn(process.execPath, ['packages/controller/bundle/main.mjs', '--kubeconfig', kubeconfig, '--metrics-port', '0', '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const seen = new Map<string, number>();
  const waiters = new Map<string, () => void>();
  let abort: AbortController | undefined;
  try {
    await core.createNamespace({ body: { metadata: { name: 'ironlb-system' } } });
    await core.createNamespacedConfigMap({ namespace: 'ironlb-system', body: { metadata: { name: 'config' }, data: { config: POOL } } });
    for (const ns of ['lat', 'bulk', 'crd']) await core.createNamespace({ body: { metadata: { name: ns } } });
    // One watch sees every ingress the moment the API server stores it.
    abort = await new Watch(kc).watch(
      '/api/v1/services',
      {},
      (_phase: string, svc: V1Service) => {
        const key = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
        if ((svc.status?.loadBalancer?.ingress?.length ?? 0) > 0 && !seen.has(key)) {
          seen.set(key, performance.now());
          waiters.get(key)?.();
        }
      },
      (err: unknown) => {
        if (err !== null && err !== undefined) ctx.log(`watch ended: ${err instanceof Error ? err.message : 'unknown error'}`);
      },
    );
    const body = (name: string): V1Service => ({
      metadata: { name },
      spec: { type: 'LoadBalancer', ipFamilies: ['IPv6'], ipFamilyPolicy: 'SingleStack', selector: { app: name }, ports: [{ port: 80, protocol: 'TCP' }] },
    });
    const untilSeen = async (key: string, timeoutMs: number): Promise<void> => {
      if (seen.has(key)) return;
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no ingress for ${key} after ${timeoutMs} ms`)), timeoutMs);
        waiters.set(key, () => {
          clearTimeout(t);
          waiters.delete(key);
          resolve();
        });
      });
    };
    // Warm-up: the controller has synced once the first Service gets an IP.
    await core.createNamespacedService({ namespace: 'lat', body: body('warmup') });
    await untilSeen('lat/warmup', 30_000);

    // IPAddressPool apply → ingress: one Service waits for each new pool.
    await apply(kc, [{ apiVersion: 'ironlb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'all', namespace: 'ironlb-system' }, spec: {} }]);
    const crdLatencies: number[] = [];
    for (let i = 0; i < crdN; i++) {
      const name = `c${i}`;
      await core.createNamespacedService({ namespace: 'crd', body: { ...body(name), metadata: { name, annotations: { 'ironlb.io/address-pool': `p${i}` } } } });
      const t0 = performance.now();
      await apply(kc, [
        { apiVersion: 'ironlb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: `p${i}`, namespace: 'ironlb-system' }, spec: { addresses: [`2001:db8::2:${(i + 1).toString(16)}`] } },
      ]);
      await untilSeen(`crd/${name}`, 30_000);
      crdLatencies.push((seen.get(`crd/${name}`) ?? NaN) - t0);
    }
    ctx.log(`crd: ${crdLatencies.length} IPAddressPools applied, each awaited by one Service`);
    ctx.emit({ metric: 'crd_apply_to_ingress_p50_ms', value: round(quantile(crdLatencies, 0.5)), unit: 'ms' });
    ctx.emit({ metric: 'crd_apply_to_ingress_p99_ms', value: round(quantile(crdLatencies, 0.99)), unit: 'ms' });

    const latencies: number[] = [];
    const createOnly: number[] = [];
    const names = Array.from({ length: latencyN }, (_, i) => `s${i}`);
    await pool(names, inflight, async (name) => {
      const t0 = performance.now();
      await core.createNamespacedService({ namespace: 'lat', body: body(name) });
      createOnly.push(performance.now() - t0);
      await untilSeen(`lat/${name}`, 30_000);
      latencies.push((seen.get(`lat/${name}`) ?? NaN) - t0);
    });
    ctx.log(`latency: ${latencies.length} Services, ${inflight} in flight`);
    ctx.emit({ metric: 'create_to_ingress_p50_ms', value: round(quantile(latencies, 0.5)), unit: 'ms' });
    ctx.emit({ metric: 'create_to_ingress_p99_ms', value: round(quantile(latencies, 0.99)), unit: 'ms' });
    // The floor no controller can beat: the create request's own round trip on this machine.
    ctx.emit({ metric: 'create_request_p50_ms', value: round(quantile(createOnly, 0.5)), unit: 'ms' });

    const bulk = Array.from({ length: bulkN }, (_, i) => `b${i}`);
    const t0 = performance.now();
    let created = 0;
    await pool(bulk, 64, async (name) => {
      await core.createNamespacedService({ namespace: 'bulk', body: body(name) });
      created++;
    });
    const createdAt = performance.now();
    await Promise.all(bulk.map(async (n) => untilSeen(`bulk/${n}`, 120_000)));
    const done = Math.max(...bulk.map((n) => seen.get(`bulk/${n}`) ?? Infinity));
    ctx.log(`bulk: ${created} Services created in ${((createdAt - t0) / 1000).toFixed(1)} s (64 in flight); all had an IP ${((done - createdAt) / 1000).toFixed(1)} s after the last create`);
    ctx.emit({ metric: 'bulk_10k_s', value: round((done - t0) / 1000), unit: 's' });
    // The API server's own create throughput bounds bulk_10k_s; this is the controller's share.
    ctx.emit({ metric: 'bulk_after_last_create_s', value: round((done - createdAt) / 1000), unit: 's' });
  } finally {
    abort?.abort();
    controller.kill('SIGTERM');
    await cp.stop();
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
