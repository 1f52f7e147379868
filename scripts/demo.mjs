// `npm run demo [-- --cluster]`: checks what the demo needs, builds what is missing, then runs
// test/demo/demo.ts (the network lab) or, with --cluster, test/cluster/demo.ts (a real cluster).
// Fails with one clear line when it cannot run.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const cluster = process.argv.includes('--cluster');
const die = (line) => {
  console.error(`demo: ${line}`);
  process.exit(1);
};
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const run = (what, cmd, args) => {
  console.log(`demo: ${what}...`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) die(`${what} failed (${cmd} ${args.join(' ')})`);
};

if (process.platform !== 'linux') die('needs Linux network namespaces');
if (process.getuid?.() !== 0) die('needs root for network namespaces (run: sudo npm run demo)');
for (const tool of ['ip', 'curl', 'openssl', ...(cluster ? ['containerd', 'runc', 'buildah', 'mmdebstrap', 'iptables'] : [])])
  if (!has(tool)) die(`needs \`${tool}\`: run \`bash scripts/setup.sh\` first`);
if (!existsSync(join(root, 'node_modules'))) run('installing npm dependencies', 'npm', ['ci', '--no-audit', '--no-fund']);
const built = ['controller', 'speaker'].every((p) => existsSync(join(root, 'packages', p, 'bundle', 'main.mjs'))) && existsSync(join(root, 'packages/speaker/bundle/ironlb_packet.node'));
if (!built) run('building', 'npm', ['run', 'build']);
try {
  execFileSync('bash', [join(root, 'test/controlplane/build.sh'), ...(cluster ? ['cluster'] : [])], { stdio: ['ignore', 'ignore', 'inherit'] });
} catch {
  die('cannot build the control plane (needs Go; see README "Test control plane")');
}
const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, cluster ? 'test/cluster/demo.ts' : 'test/demo/demo.ts')], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
