/**
 * `npm run lab -- up [--nodes N] | down [--all] | status`
 *
 * up:     starts a control plane and an N-node lab (default 3) in the background.
 * down:   removes that lab and stops its control plane; `--all` also removes leftovers of any lab.
 * status: prints one JSON object: {"kubeconfig", "server", "client": {netns, ipv4, ipv6, mac},
 *         "nodes": [{name, netns, ipv4, ipv6, mac}], "lbRange": {ipv4, ipv6}, "id"}.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isAlive, killAndWait } from '../controlplane/procs.js';
import { LB_RANGE_V4, LB_RANGE_V6 } from './addressing.js';
import { destroyLab, listLabIds, startLab } from './lab.js';

const stateDir = resolve(process.env['IRONLB_LAB_DIR'] ?? '.lab');
const statePath = join(stateDir, 'state.json');

/** What `up` records for `status` and `down`. */
interface LabState {
  id: string;
  kubeconfig: string;
  server: string;
  client: { netns: string; ipv4: string; ipv6: string; mac: string };
  nodes: { name: string; netns: string; ipv4: string; ipv6: string; mac: string }[];
  lbRange: { ipv4: string; ipv6: string };
  controlPlane: { etcdPid: number; apiserverPid: number; dir: string };
}

function readState(): LabState | undefined {
  return existsSync(statePath) ? (JSON.parse(readFileSync(statePath, 'utf8')) as LabState) : undefined;
}

async function down(all: boolean): Promise<void> {
  const st = readState();
  if (st !== undefined) {
    destroyLab(st.id);
    await killAndWait([st.controlPlane.apiserverPid, st.controlPlane.etcdPid], 5000);
    rmSync(st.controlPlane.dir, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
    console.error(`lab ${st.id} removed`);
  }
  if (all) {
    for (const id of listLabIds()) {
      destroyLab(id);
      console.error(`leftover lab ${id} removed`);
    }
  }
  if (st === undefined && !all) console.error('lab: nothing to remove (use --all for leftovers of other runs)');
}

async function up(nodes: number): Promise<void> {
  const st = readState();
  if (st !== undefined && isAlive(st.controlPlane.apiserverPid)) {
    console.error(`lab ${st.id} already up`);
    console.log(st.kubeconfig);
    return;
  }
  if (st !== undefined) await down(false);
  mkdirSync(stateDir, { recursive: true });
  const lab = await startLab({ nodes, detached: true, log: (m) => console.error(m) });
  const kubeconfig = join(stateDir, 'kubeconfig');
  copyFileSync(lab.kubeconfigPath, kubeconfig);
  const state: LabState = {
    id: lab.id,
    kubeconfig,
    server: `https://${lab.addressing.host.ipv4}:${lab.controlPlane.port}`,
    client: lab.client,
    nodes: lab.nodes.map(({ name, netns, ipv4, ipv6, mac }) => ({ name, netns, ipv4, ipv6, mac })),
    lbRange: { ipv4: LB_RANGE_V4, ipv6: LB_RANGE_V6 },
    controlPlane: { etcdPid: lab.controlPlane.etcdPid, apiserverPid: lab.controlPlane.apiserverPid(), dir: lab.controlPlane.dir },
  };
  writeFileSync(statePath, JSON.stringify(state, null, 2), { mode: 0o600 });
  console.error(`lab ${lab.id} up: ${nodes} nodes; see \`npm run lab -- status\``);
  console.log(kubeconfig);
}

function status(): void {
  const st = readState();
  if (st === undefined) {
    console.error('lab: not up');
    process.exit(1);
  }
  const { controlPlane: _cp, ...visible } = st;
  console.log(JSON.stringify(visible));
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'up') {
    const i = rest.indexOf('--nodes');
    const nodes = i >= 0 ? Number(rest[i + 1]) : 3;
    await up(nodes);
  } else if (cmd === 'down') await down(rest.includes('--all'));
  else if (cmd === 'status') status();
  else {
    console.error('usage: npm run lab -- up [--nodes N] | down [--all] | status');
    process.exit(2);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    console.error(`lab: ${err instanceof Error ? err.message : String(err)}${cause}`);
    process.exit(1);
  },
);
