/**
 * A cluster leaves nothing behind: `npm run cluster -- up/status/down` (detached processes, the
 * CLI's own state), and a start that fails half-way (containerd running, images not loadable).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ClusterStartError, buildImages, startCluster } from './cluster.js';
import { type ClusterRecord, destroyCluster, leftovers } from './teardown.js';

const root = join(import.meta.dirname, '..', '..');

describe('cluster lifecycle', { timeout: 15 * 60_000 }, () => {
  test('npm run cluster -- up, status, down: a Ready node, then no trace', { timeout: 10 * 60_000 }, async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'ironlb-cluster-cli-'));
    const env = { ...process.env, IRONLB_CLUSTER_DIR: stateDir };
    const cli = (...args: string[]): string =>
      execFileSync(process.execPath, ['--import', 'tsx', join(root, 'test/cluster/cli.ts'), ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 8 * 60_000 }).toString();
    let record: ClusterRecord | undefined;
    try {
      const kubeconfig = cli('up', '--nodes', '1').trim();
      assert.equal(kubeconfig, join(stateDir, 'kubeconfig'));
      const st = JSON.parse(cli('status')) as { id: string; kubeconfig: string; server: string; kubectl: string; nodes: { name: string; netns: string }[]; client: { netns: string } };
      assert.equal(st.nodes.length, 1);
      assert.match(st.server, /^https:\/\/198\.51\.100\.\d+:\d+$/);
      record = JSON.parse(readFileSync(`/var/tmp/ironlb-cluster-${st.id}/record.json`, 'utf8')) as ClusterRecord;
      const nodes = execFileSync(st.kubectl, ['get', 'nodes', '--no-headers'], { env: { ...process.env, KUBECONFIG: st.kubeconfig } }).toString();
      assert.match(nodes, /^node-1\s+Ready/m);
      cli('down');
      assert.deepEqual(leftovers(record), []);
      assert.ok(!existsSync(join(stateDir, 'state.json')));
    } finally {
      if (record !== undefined) await destroyCluster(record);
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test('a start that fails half-way removes what it made', { timeout: 5 * 60_000 }, async () => {
    const images = buildImages();
    const err = await startCluster({ nodes: 1, images: { ...images, echo: '/nonexistent/echo.tar' } }).then(
      async (c) => {
        await c.stop();
        return undefined;
      },
      (e: unknown) => e,
    );
    assert.ok(err instanceof ClusterStartError, `startCluster failed (${String(err)})`);
    assert.match(err.message, /echo\.tar/);
    assert.ok(
      err.record.pids.some((p) => p.name === 'node-1/containerd'),
      'it failed after containerd started',
    );
    assert.deepEqual(leftovers(err.record), []);
  });
});
