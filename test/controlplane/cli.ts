/**
 * `npm run controlplane -- up | down | status`
 *
 * up:     starts etcd + kube-apiserver in the background, writes an admin kubeconfig (server URL,
 *         CA data, bearer token) to .controlplane/kubeconfig and prints that path.
 * down:   stops them and removes their state; leaves no process behind.
 * status: prints {"running": bool, "kubeconfig": PATH, "server": URL} as JSON.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startControlPlane } from './controlplane.js';
import { isAlive, killAndWait } from './procs.js';

const stateDir = resolve(process.env['IRONLB_CONTROLPLANE_DIR'] ?? '.controlplane');
const statePath = join(stateDir, 'state.json');
const kubeconfigPath = join(stateDir, 'kubeconfig');

/** What `up` leaves behind for `down` and `status`. */
interface State {
  etcdPid: number;
  apiserverPid: number;
  server: string;
  dir: string;
  token: string;
}

function readState(): State | undefined {
  if (!existsSync(statePath)) return undefined;
  return JSON.parse(readFileSync(statePath, 'utf8')) as State;
}

async function down(): Promise<void> {
  const st = readState();
  if (st === undefined) {
    console.error('control plane: nothing to stop');
    return;
  }
  await killAndWait([st.apiserverPid, st.etcdPid], 5000);
  rmSync(st.dir, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
  console.error('control plane stopped');
}

async function up(): Promise<void> {
  const st = readState();
  if (st !== undefined && isAlive(st.apiserverPid) && isAlive(st.etcdPid)) {
    console.error(`control plane already running at ${st.server}`);
    console.log(kubeconfigPath);
    return;
  }
  if (st !== undefined) await down();
  mkdirSync(stateDir, { recursive: true });
  const t0 = Date.now();
  const cp = await startControlPlane({ detached: true, log: (m) => console.error(m) });
  writeFileSync(kubeconfigPath, cp.kubeconfigYaml(), { mode: 0o600 });
  const state: State = { etcdPid: cp.etcdPid, apiserverPid: cp.apiserverPid(), server: cp.server, dir: cp.dir, token: cp.token };
  writeFileSync(statePath, JSON.stringify(state, null, 2), { mode: 0o600 });
  console.error(`control plane ready at ${cp.server} in ${Date.now() - t0} ms`);
  console.log(kubeconfigPath);
}

function status(): void {
  const st = readState();
  const running = st !== undefined && isAlive(st.apiserverPid) && isAlive(st.etcdPid);
  console.log(JSON.stringify({ running, kubeconfig: running ? kubeconfigPath : null, server: running ? st.server : null }));
}

async function main(): Promise<void> {
  const cmd = process.argv[2];
  if (cmd === 'up') await up();
  else if (cmd === 'down') await down();
  else if (cmd === 'status') status();
  else {
    console.error('usage: npm run controlplane -- up | down | status');
    process.exit(2);
  }
}

main().catch((err: unknown) => {
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
  console.error(`controlplane: ${err instanceof Error ? err.message : String(err)}${cause}`);
  process.exit(1);
});
