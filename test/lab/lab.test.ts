/**
 * The lab is a real layer-2 segment: the client resolves nodes by ARP/NDP and reaches their HTTP
 * servers, while nothing answers ARP or NDP for a LoadBalancer IP nobody announces.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { type Lab, listLabIds, startLab } from './lab.js';

function tryExec(lab: Lab, netns: string, cmd: string, args: string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: lab.exec(netns, cmd, args) };
  } catch (err) {
    return { ok: false, out: String((err as { stdout?: Buffer }).stdout ?? '') };
  }
}

describe('three-node lab', { timeout: 300_000 }, () => {
  let lab: Lab;
  before(async () => {
    lab = await startLab({ nodes: 3 });
  });
  after(async () => {
    await lab?.stop();
  });

  it('resolves a node by ARP from the client and gets its HTTP answer (IPv4)', () => {
    const node = lab.nodes[1]!;
    lab.exec(lab.client.netns, 'ping', ['-c', '1', '-W', '2', node.ipv4]);
    const neigh = lab.exec(lab.client.netns, 'ip', ['neigh', 'show', node.ipv4, 'dev', 'eth0']);
    assert.match(neigh, new RegExp(`lladdr ${node.mac}`), 'ARP resolved to the node namespace MAC');
    const body = lab.exec(lab.client.netns, 'curl', ['-s', '--max-time', '3', `http://${node.ipv4}/`]);
    assert.equal(body, node.name);
  });

  it('resolves a node by NDP and gets its HTTP answer (IPv6)', () => {
    const node = lab.nodes[2]!;
    const body = lab.exec(lab.client.netns, 'curl', ['-s', '-g', '--max-time', '3', `http://[${node.ipv6}]/`]);
    assert.equal(body, node.name);
    const neigh = lab.exec(lab.client.netns, 'ip', ['-6', 'neigh', 'show', node.ipv6, 'dev', 'eth0']);
    assert.match(neigh, new RegExp(`lladdr ${node.mac}`));
  });

  it('has no answer to ARP or NDP for an unannounced LoadBalancer IP', () => {
    const arp = tryExec(lab, lab.client.netns, 'arping', ['-c', '2', '-w', '2', '-I', 'eth0', '198.51.100.200']);
    assert.equal(arp.ok, false, 'arping gets no reply');
    assert.match(arp.out, /Received 0 response/);
    const ndp = tryExec(lab, lab.client.netns, 'ndisc6', ['-r', '2', '-w', '500', '2001:db8::1:c8', 'eth0']);
    assert.equal(ndp.ok, false, 'ndisc6 gets no Neighbor Advertisement');
    // ...even though every node accepts traffic for the LB range locally (kube-proxy emulation).
    const local = lab.exec(lab.nodes[0]!.netns, 'curl', ['-s', '--max-time', '3', 'http://198.51.100.200/']);
    assert.equal(local, lab.nodes[0]!.name);
  });

  it('registers every node as a Ready Node object with its InternalIPs', async () => {
    const core = lab.kubeConfig().makeApiClient(CoreV1Api);
    for (const n of lab.nodes) {
      const node = await core.readNode({ name: n.name });
      assert.ok(node.status?.addresses?.some((a) => a.type === 'InternalIP' && a.address === n.ipv4));
      assert.equal(node.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    }
  });

  it('gives a kubeconfig that works from the host and from inside every node namespace', () => {
    const script = [
      "import { KubeConfig, CoreV1Api } from '@kubernetes/client-node';",
      'const kc = new KubeConfig(); kc.loadFromFile(process.argv[1]);',
      'const nodes = await kc.makeApiClient(CoreV1Api).listNode();',
      'console.log(nodes.items.length);',
    ].join('\n');
    for (const n of lab.nodes) {
      const out = lab.exec(n.netns, process.execPath, ['--input-type=module', '-e', script, lab.kubeconfigPath]);
      assert.equal(out.trim(), String(lab.nodes.length), `listing Nodes from ${n.netns}`);
    }
    const host = execFileSync(process.execPath, ['--input-type=module', '-e', script, lab.kubeconfigPath]).toString();
    assert.equal(host.trim(), String(lab.nodes.length), 'and from the host namespace');
  });

  it('tears down completely', async () => {
    const second = await startLab({ nodes: 1, controlPlane: lab.controlPlane, registerNodes: false });
    assert.notEqual(second.addressing.block, lab.addressing.block, 'two labs coexist in different blocks');
    await second.stop();
    assert.ok(!listLabIds().includes(second.id), 'no namespace or bridge left behind');
    assert.ok(!execFileSync('ip', ['netns', 'list']).toString().includes(`ilb-${second.id}-`));
    assert.ok(!existsSync(second.kubeconfigPath), 'the admin kubeconfig is gone with its lab');
  });

  it('`npm run lab -- down` removes the detached lab and every file it made', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ironlb-labcli-'));
    const env = { ...process.env, IRONLB_LAB_DIR: dir };
    const cli = join(import.meta.dirname, 'cli.ts');
    try {
      const kubeconfig = execFileSync(process.execPath, ['--import', 'tsx', cli, 'up', '--nodes', '1'], { env, timeout: 120_000 }).toString().trim();
      const st = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', cli, 'status'], { env, timeout: 30_000 }).toString()) as { id: string };
      assert.ok(existsSync(kubeconfig));
      execFileSync(process.execPath, ['--import', 'tsx', cli, 'down'], { env, timeout: 60_000 });
      assert.ok(!existsSync(kubeconfig), 'no kubeconfig left');
      assert.deepEqual(
        readdirSync(tmpdir()).filter((e) => e.startsWith(`ironlb-lab-${st.id}-`)),
        [],
        'no lab state directory left',
      );
      assert.ok(!listLabIds().includes(st.id));
    } finally {
      execFileSync(process.execPath, ['--import', 'tsx', cli, 'down'], { env, timeout: 60_000 });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
