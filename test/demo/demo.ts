/**
 * `npm run demo`: ironlb's main job on this machine. A real control plane and a 3-node lab,
 * the controller and a speaker per node (as their deploy/ ServiceAccounts), the example
 * address-pool ConfigMap (MetalLB legacy format), a LoadBalancer Service with endpoints; then
 * HTTP to its EXTERNAL-IP from the client namespace, a cut of the answering node's link, and the
 * time the client took to reach the new node. Everything is torn down at the end, also on failure.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Service } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { isAlive } from '../controlplane/procs.js';
import { listLabIds } from '../lab/lab.js';
import { type System, createServiceWithEndpoints, electionOrder, httpFromClient, startSystem, until, waitIngress } from '../e2e/harness.js';

const root = join(import.meta.dirname, '..', '..');
let step = 0;
const say = (msg: string): void => console.log(`[${++step}/7] ${msg}`);
const note = (msg: string): void => console.log(`      ${msg}`);

function table(svc: V1Service): string {
  const rows = [
    ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)'],
    [
      svc.metadata?.name ?? '',
      svc.spec?.type ?? '',
      svc.spec?.clusterIP ?? '',
      (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).join(',') || '<pending>',
      (svc.spec?.ports ?? []).map((p) => `${p.port}:${p.nodePort}/${p.protocol}`).join(','),
    ],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)) + 3);
  return rows
    .map(
      (r) =>
        '      ' +
        r
          .map((c, i) => c.padEnd(widths[i] ?? 0))
          .join('')
          .trimEnd(),
    )
    .join('\n');
}

async function main(): Promise<void> {
  const cm = parse(readFileSync(join(root, 'deploy/examples/config.yaml'), 'utf8')) as { data: { config: string } };
  say('starting kube-apiserver + etcd and a 3-node lab (network namespaces on one bridge)');
  let sys: System | undefined;
  let leftover: string | undefined;
  const t0 = Date.now();
  try {
    sys = await startSystem(3, { pools: cm.data.config });
    const lab = sys.lab;
    note(`lab ${lab.id}: ${lab.nodes.map((n) => `${n.name} ${n.ipv4}`).join(', ')}; client ${lab.client.ipv4}`);
    say('controller and speakers running as the deploy/ironlb.yaml ServiceAccounts; pools from deploy/examples/config.yaml');
    note(cm.data.config.trim().split('\n').join('\n      '));
    say('creating Service default/web (type LoadBalancer) with an endpoint on every node');
    const created = Date.now();
    await createServiceWithEndpoints(sys, 'default', 'web', lab.nodes);
    const [vip] = await waitIngress(sys, 'default', 'web');
    if (vip === undefined) throw new Error('the Service got no EXTERNAL-IP');
    note(`EXTERNAL-IP assigned in ${Date.now() - created} ms:`);
    console.log(table(await sys.core.readNamespacedService({ name: 'web', namespace: 'default' })));
    say(`HTTP from the client namespace to http://${vip}/`);
    const elected = electionOrder(
      vip,
      lab.nodes.map((n) => n.name),
    )[0];
    const before = await until(
      `an HTTP answer from the elected ${elected}`,
      () => {
        const body = httpFromClient(lab, vip, 1);
        return body === elected ? body : undefined;
      },
      20_000,
      100,
    );
    note(`answered by ${before}`);
    const victim = lab.nodes.find((n) => n.name === before);
    if (victim === undefined) throw new Error(`unknown node ${before}`);
    say(`cutting ${victim.name}'s link; the client keeps probing (a new request 10 ms after each answer or 200 ms timeout)`);
    const cut = performance.now();
    lab.setLink(victim, false);
    const after = await until(
      'another node to answer',
      () => {
        const body = httpFromClient(lab, vip, 0.2);
        return body !== undefined && body !== victim.name ? body : undefined;
      },
      20_000,
      10,
    );
    const failoverMs = Math.round(performance.now() - cut);
    note(`answered by ${after} after ${failoverMs} ms (failure detection + gratuitous ARP)`);
    say('result');
    note(`EXTERNAL-IP ${vip}: before ${before}, after ${after}, failover ${failoverMs} ms`);
  } finally {
    say('tearing down the lab and the control plane');
    const id = sys?.lab.id;
    const pids = [sys?.controller.pid, ...[...(sys?.speakers.values() ?? [])].map((p) => p.pid), sys?.lab.controlPlane.etcdPid, sys?.lab.controlPlane.apiserverPid()];
    await sys?.stop();
    await new Promise((r) => setTimeout(r, 200));
    const leftLab = id !== undefined && listLabIds().includes(id);
    const leftProcs = pids.filter((p): p is number => p !== undefined && isAlive(p));
    if (leftLab || leftProcs.length > 0) {
      leftover = `teardown left ${leftLab ? `lab ${id} ` : ''}${leftProcs.length ? `processes ${leftProcs.join(',')}` : ''}`;
    } else note(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s; checked: no namespace, interface or process left behind`);
  }
  if (leftover !== undefined) throw new Error(leftover);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}${cause}`);
    process.exit(1);
  },
);
