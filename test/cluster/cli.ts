/**
 * `npm run cluster -- up [--nodes N] | down [--all] | status`
 *
 * up:     builds what is missing (Go binaries, images; cached), starts an N-node cluster (default 2)
 *         in the background and prints the admin kubeconfig's path. The cluster runs without ironlb:
 *         `kubectl apply -f deploy/ironlb.yaml` is the user's step (KUBECONFIG=that path).
 * down:   removes that cluster; `--all` also removes every other cluster found on this machine.
 * status: prints one JSON object: {"id", "kubeconfig", "server", "kubectl", "client": {netns, ipv4,
 *         ipv6, mac}, "nodes": [{name, netns, ipv4, ipv6, mac, podCidr}], "lbRange": {ipv4, ipv6}}.
 *
 * (`destroy RECORD` is for the exit hook of a test process: it removes the cluster that record names.)
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isAlive } from '../controlplane/procs.js';
import { LB_RANGE_V4, LB_RANGE_V6 } from '../lab/addressing.js';
import { listClusterRecords, startCluster } from './cluster.js';
import { type ClusterRecord, destroyCluster } from './teardown.js';

const stateDir = resolve(process.env['IRONLB_CLUSTER_DIR'] ?? '.cluster');
const statePath = join(stateDir, 'state.json');

/** What `up` records for `status` and `down`. */
interface ClusterState {
  id: string;
  kubeconfig: string;
  server: string;
  kubectl: string;
  client: { netns: string; ipv4: string; ipv6: string; mac: string };
  nodes: { name: string; netns: string; ipv4: string; ipv6: string; mac: string; podCidr: string }[];
  lbRange: { ipv4: string; ipv6: string };
  /** The cluster's own record (processes, dirs, namespaces) for teardown. */
  record: string;
}

function readState(): ClusterState | undefined {
  return existsSync(statePath) ? (JSON.parse(readFileSync(statePath, 'utf8')) as ClusterState) : undefined;
}

function readRecord(path: string): ClusterRecord | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as ClusterRecord;
  } catch {
    return undefined;
  }
}

const log = (m: string): void => console.error(m);

async function down(all: boolean): Promise<void> {
  const st = readState();
  if (st !== undefined) {
    const rec = readRecord(st.record);
    if (rec !== undefined) await destroyCluster(rec, log);
    rmSync(stateDir, { recursive: true, force: true });
  }
  if (all) for (const rec of listClusterRecords()) await destroyCluster(rec, (m) => console.error(`leftover: ${m}`));
  if (st === undefined && !all) console.error('cluster: nothing to remove (use --all for leftovers of other runs)');
}

async function up(nodes: number): Promise<void> {
  const st = readState();
  const rec = st !== undefined ? readRecord(st.record) : undefined;
  if (st !== undefined && rec !== undefined && rec.pids.some((p) => p.name === 'kube-apiserver' && isAlive(p.pid))) {
    console.error(`cluster ${st.id} already up`);
    console.log(st.kubeconfig);
    return;
  }
  if (st !== undefined) await down(false);
  mkdirSync(stateDir, { recursive: true });
  const c = await startCluster({ nodes, detached: true, log });
  const kubeconfig = join(stateDir, 'kubeconfig');
  writeFileSync(kubeconfig, readFileSync(c.kubeconfigPath), { mode: 0o600 });
  const state: ClusterState = {
    id: c.id,
    kubeconfig,
    server: c.server,
    kubectl: join(c.binDir, 'kubectl'),
    client: c.client,
    nodes: c.nodes.map(({ name, netns, ipv4, ipv6, mac, podCidr }) => ({ name, netns, ipv4, ipv6, mac, podCidr })),
    lbRange: { ipv4: LB_RANGE_V4, ipv6: LB_RANGE_V6 },
    record: join(c.dir, 'record.json'),
  };
  writeFileSync(statePath, JSON.stringify(state, null, 2), { mode: 0o600 });
  console.error(`cluster ${c.id} up: ${nodes} nodes. Next: export KUBECONFIG=${kubeconfig}; kubectl apply -f deploy/ironlb.yaml`);
  console.log(kubeconfig);
}

function status(): void {
  const st = readState();
  if (st === undefined) {
    console.error('cluster: not up');
    process.exit(1);
  }
  const { record: _r, ...visible } = st;
  console.log(JSON.stringify(visible));
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'up') {
    const i = rest.indexOf('--nodes');
    const nodes = i >= 0 ? Number(rest[i + 1]) : 2;
    if (!Number.isInteger(nodes) || nodes < 1 || nodes > 13) throw new Error('--nodes takes 1..13');
    await up(nodes);
  } else if (cmd === 'down') await down(rest.includes('--all'));
  else if (cmd === 'status') status();
  else if (cmd === 'destroy' && rest[0] !== undefined) {
    const rec = readRecord(rest[0]);
    if (rec !== undefined) await destroyCluster(rec);
  } else {
    console.error('usage: npm run cluster -- up [--nodes N] | down [--all] | status');
    process.exit(2);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    console.error(`cluster: ${err instanceof Error ? err.message : String(err)}${cause}`);
    process.exit(1);
  },
);
