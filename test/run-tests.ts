/**
 * `npm test` (all), `npm run test:unit`, `test:integration`, `test:lab`, and
 * `tsx test/run-tests.ts cluster`.
 *
 * "all" runs lint, build, then every test file in ONE node:test run, so the summary printed last
 * covers unit, integration, interop, lab and cluster tests together. Integration and lab tests start
 * their own control planes (warm start ≈3 s) from the cached build; lab and cluster tests need root.
 * Cluster tests (test/cluster) run ironlb's image and manifests on a real multi-node cluster; their
 * binaries (kubelet & co., helm) and images are built first, cached by version.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
type Phase = 'unit' | 'integration' | 'lab' | 'cluster';

/** Test files of each phase, by directory. */
const PHASE_DIRS: Record<Phase, string[]> = {
  unit: readdirSync(join(root, 'packages')).map((p) => join('packages', p, 'src')),
  integration: ['test/integration', 'test/deploy', 'test/interop'],
  lab: ['test/lab', 'test/e2e'],
  cluster: ['test/cluster'],
};

function findTests(dir: string): string[] {
  const abs = join(root, dir);
  if (!existsSync(abs)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(abs)) {
    if (entry === 'node_modules' || entry === 'dist' || entry === 'gomod' || entry === 'gopeer') continue;
    const p = join(abs, entry);
    if (statSync(p).isDirectory()) out.push(...findTests(relative(root, p)));
    else if (entry.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out.sort();
}

function run(cmd: string, args: string[], timeoutMs?: number): void {
  console.log(`\n$ ${cmd} ${args.join(' ')}`);
  // A hard deadline: a hung test run fails CI instead of burning its whole budget.
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...(timeoutMs !== undefined ? { timeout: timeoutMs, killSignal: 'SIGKILL' } : {}) });
  if (r.error !== undefined) console.error(`\n${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    console.error(`\n${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
}

function main(): void {
  const what = process.argv[2] ?? 'all';
  const phases: Phase[] = what === 'all' ? ['unit', 'integration', 'lab', 'cluster'] : [what as Phase];
  if (!phases.every((p) => p in PHASE_DIRS)) {
    console.error('usage: tsx test/run-tests.ts all|unit|integration|lab|cluster');
    process.exit(2);
  }
  if (what === 'all') {
    run('npm', ['run', 'lint']);
    run('npm', ['run', 'build']);
  }
  if (phases.includes('integration') || phases.includes('lab') || phases.includes('cluster')) {
    // Build (or find cached) the control plane once, before test files race for it.
    execFileSync('bash', [join(root, 'test/controlplane/build.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (existsSync(join(root, 'test/interop/build-gopeer.sh'))) {
      execFileSync('bash', [join(root, 'test/interop/build-gopeer.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
    }
  }
  if ((phases.includes('lab') || phases.includes('cluster')) && process.getuid?.() !== 0) {
    console.error('lab and cluster tests need root (network namespaces): run as root, or run test:unit / test:integration');
    process.exit(1);
  }
  if (phases.includes('cluster')) {
    // Each is a no-op when cached; cold, the Go builds take minutes (see README "Test cluster").
    for (const script of ['test/controlplane/build.sh', 'test/cluster/build-helm.sh', 'test/cluster/images.sh']) {
      const t0 = Date.now();
      execFileSync('bash', [join(root, script), ...(script.startsWith('test/controlplane') ? ['cluster'] : [])], { stdio: ['ignore', 'ignore', 'inherit'] });
      console.log(`${script}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
  }
  const files = phases.flatMap((p) => PHASE_DIRS[p].flatMap(findTests));
  console.log(`\nrunning ${files.length} test files (${phases.join(', ')})`);
  // Every test gets a default timeout (suites set tighter ones), the runner exits when the last
  // test ends even if a handle leaked, and the whole run has a deadline.
  const perTestMs = Number(process.env['IRONLB_TEST_TIMEOUT_MS'] ?? 900_000);
  const totalMs = Number(process.env['IRONLB_TEST_DEADLINE_MS'] ?? 75 * 60_000);
  // `test:unit` reports statement/branch/function/line coverage of the package sources with c8
  // (node:test's own coverage fails on Node 20 with tsx's source maps). Not in the other phases:
  // coverage is collected through NODE_V8_COVERAGE, which every child process inherits, and each
  // speaker and controller a lab test starts would then write coverage data as it runs.
  const nodeArgs = ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', `--test-timeout=${perTestMs}`, '--test-force-exit', ...files];
  if (what === 'unit') {
    const c8 = join(root, 'node_modules/.bin/c8');
    run(c8, ['--reporter=text', '--reporter=text-summary', '--include', 'packages/*/src/**', '--exclude', '**/*.test.ts', process.execPath, ...nodeArgs], totalMs);
  } else {
    run(process.execPath, nodeArgs, totalMs);
  }
}

main();
