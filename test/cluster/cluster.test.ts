/**
 * ironlb as users run it, on a real two-node cluster (test/cluster/cluster.ts): the image built from
 * the Dockerfile, `kubectl apply -f deploy/ironlb.yaml` unchanged, ordinary Pods behind a
 * LoadBalancer Service reached through kube-proxy from a client outside the cluster; then the
 * operations only a real cluster shows. One cluster for the whole file (a cluster costs a minute);
 * the scenarios run in order and each leaves the system as it found it (two nodes, both Ready,
 * ironlb installed, the `web` Service reachable).
 *
 * Timings are reported as diagnostics (`npm run bench -- cluster` measures them); assertions are on
 * outcomes, with generous bounds for a busy 2-core machine.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, sleep } from '../integration/helpers.js';
import { type Cluster, type ClusterNode, IRONLB_IMAGE, startCluster } from './cluster.js';
import { helmBin } from './packaging.js';
import {
  Probe,
  announcer,
  httpText,
  deployWeb,
  speakerMetricsText,
  exposeWeb,
  fetchFromClient,
  installIronlb,
  monoMs,
  setPolicy,
  waitExternalIp,
  waitIronlbReady,
  waitSpeakersJoined,
} from './scenario.js';
import { leftovers } from './teardown.js';

const root = join(import.meta.dirname, '..', '..');
const log = (m: string): void => console.error(`[cluster] ${m}`);

describe('ironlb on a real cluster', { timeout: 30 * 60_000 }, () => {
  let c: Cluster;
  let vip = '';

  before(
    async () => {
      c = await startCluster({ nodes: 2, log });
    },
    { timeout: 45 * 60_000 },
  );

  after(
    async () => {
      if (c === undefined) return;
      const record = c.record;
      await c.stop();
      assert.deepEqual(leftovers(record), [], 'teardown left something behind');
    },
    { timeout: 120_000 },
  );

  /** The node that is not `n`. */
  const other = (n: ClusterNode): ClusterNode => c.nodes.find((x) => x !== n) ?? n;
  /** The node announcing the VIP, as the client's ARP sees it. */
  const announcing = async (): Promise<ClusterNode> => eventually('an announcing node', () => announcer(c, vip), 30_000, 200);

  test('the README flow: apply the manifests, expose a Deployment, reach EXTERNAL-IP from outside', { timeout: 8 * 60_000 }, async (t) => {
    const t0 = Date.now();
    installIronlb(c);
    t.diagnostic(`ironlb Pods Ready ${((Date.now() - t0) / 1000).toFixed(1)} s after kubectl apply`);
    const pods = c.kubectl(['-n', 'ironlb-system', 'get', 'pods', '-o', 'wide']);
    assert.match(pods, /controller-.*1\/1\s+Running/);
    assert.equal((pods.match(/speaker-.*1\/1\s+Running/g) ?? []).length, 2, pods);
    // The speaker is hostNetwork: its Pod IP is its node's address (downward API → memberlist bind).
    for (const n of c.nodes) assert.match(pods, new RegExp(`speaker-\\S+\\s+1/1\\s+Running\\s+\\d+\\s+\\S+\\s+${n.ipv4.replaceAll('.', '\\.')}\\s+${n.name}`));
    await waitSpeakersJoined(c);

    deployWeb(c);
    // Ordinary Pods, one per node, with addresses from each node's Pod range.
    const webPods = c.kubectl(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={range .items[*]}{.spec.nodeName} {.status.podIP}{"\\n"}{end}']).trim().split('\n');
    assert.equal(webPods.length, 2);
    exposeWeb(c, 'web', 'Cluster');
    vip = await waitExternalIp(c, 'web');
    assert.match(vip, /^198\.51\.100\.(2[0-4]\d|250)$/, 'an IP from deploy/examples/config.yaml');
    assert.match(c.kubectl(['get', 'svc', 'web']), new RegExp(`LoadBalancer\\s+\\S+\\s+${vip.replaceAll('.', '\\.')}`));

    // Cluster policy: any node forwards to any Pod (kube-proxy SNATs, so the Pod sees a node address).
    const seen = new Set<string>();
    await eventually(
      'answers from both web Pods through the VIP',
      () => {
        const body = fetchFromClient(c, vip);
        if (body !== undefined) seen.add(/pod=(\S+)/.exec(body)?.[1] ?? '');
        return seen.size === 2;
      },
      60_000,
      100,
    );

    // Local policy: only the announcing node's Pod answers, and it sees the client's own address.
    setPolicy(c, 'web', 'Local');
    const body = await eventually(
      'an answer with the client address preserved',
      () => {
        const b = fetchFromClient(c, vip);
        return b?.includes(`client=${c.client.ipv4}:`) === true ? b : undefined;
      },
      60_000,
      200,
    );
    const node = await announcing();
    assert.match(body, new RegExp(`node=${node.name} `), 'Local: served on the announcing node');
    setPolicy(c, 'web', 'Cluster');
  });

  test('kubectl logs, kubectl get events and the metrics endpoints work as the README says', { timeout: 3 * 60_000 }, async () => {
    const controllerLog = c.kubectl(['-n', 'ironlb-system', 'logs', 'deploy/controller', '--tail=200']);
    const lines = controllerLog
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'));
    assert.ok(lines.length > 0, 'JSON log lines');
    for (const l of lines) JSON.parse(l);
    assert.match(c.kubectl(['-n', 'ironlb-system', 'logs', 'ds/speaker', '--tail=200']), /"op":"/);
    const events = c.kubectl(['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.name=web']);
    assert.match(events, /IPAllocated/);
    assert.match(events, /nodeAssigned/);
    // Speakers serve /metrics on their node's loopback only (README: "Endpoints and who may read
    // them"), probes on the node address; the controller's /metrics on its Pod's loopback.
    for (const n of c.nodes) {
      assert.match(speakerMetricsText(n), /^ironlb_speaker_members_alive 2/m);
      await assert.rejects(httpText(`http://${n.ipv4}:7472/metrics`), /HTTP 403/, 'metrics are not served to the segment');
      assert.equal((await httpText(`http://${n.ipv4}:7472/healthz`)).trim(), 'ok');
    }
    // The controller's /metrics, read inside its Pod through `kubectl exec` (the kubelet's streaming
    // path), which holds whether it listens on loopback only or on the Pod address.
    const script = "fetch('http://127.0.0.1:7472/metrics').then(async (r) => process.stdout.write(await r.text()))";
    assert.match(c.kubectl(['-n', 'ironlb-system', 'exec', 'deploy/controller', '--', 'node', '-e', script]), /^ironlb_/m);
  });

  test('controller Pod deleted: no IP changes, and a new Service still gets one', { timeout: 5 * 60_000 }, async () => {
    c.kubectl(['-n', 'ironlb-system', 'delete', 'pod', '-l', 'app.kubernetes.io/component=controller', '--wait=true']);
    waitIronlbReady(c);
    await sleep(2000);
    assert.equal(await waitExternalIp(c, 'web'), vip, 'the IP did not change');
    deployWeb(c, 'web2');
    exposeWeb(c, 'web2');
    const ip2 = await waitExternalIp(c, 'web2');
    assert.notEqual(ip2, vip);
    await eventually('web2 reachable', () => fetchFromClient(c, ip2)?.includes('pod=web2-'), 60_000, 200);
    c.kubectl(['delete', 'svc,deploy', 'web2', '--wait=false']);
    assert.equal(await waitExternalIp(c, 'web'), vip);
  });

  test('kubectl rollout restart ds/speaker and an image change: no failed request at a 10 ms probe', { timeout: 8 * 60_000 }, async (t) => {
    await waitSpeakersJoined(c);
    // The same image under a second tag, as a user pushing a new version would have.
    for (const n of c.nodes) {
      const ctr = ['--address', `${n.paths.run}/containerd.sock`, '-n', 'k8s.io', 'images'];
      spawnSync('ctr', [...ctr, 'rm', 'docker.io/library/ironlb:0.1.0-next'], { stdio: 'ignore' });
      execFileSync('ctr', [...ctr, 'tag', `docker.io/library/${IRONLB_IMAGE}`, 'docker.io/library/ironlb:0.1.0-next'], { stdio: 'ignore', timeout: 30_000 });
    }
    const probe = new Probe(c, vip);
    const marks: [string, number][] = [];
    try {
      await eventually('the probe answered', () => probe.current(), 30_000, 50);
      marks.push(['restart', monoMs()]);
      c.kubectl(['-n', 'ironlb-system', 'rollout', 'restart', 'ds/speaker']);
      c.kubectl(['-n', 'ironlb-system', 'rollout', 'status', 'ds/speaker', '--timeout=240s'], { timeoutMs: 250_000 });
      await waitSpeakersJoined(c);
      marks.push(['set image', monoMs()]);
      c.kubectl(['-n', 'ironlb-system', 'set', 'image', 'ds/speaker', 'speaker=ironlb:0.1.0-next']);
      c.kubectl(['-n', 'ironlb-system', 'rollout', 'status', 'ds/speaker', '--timeout=240s'], { timeoutMs: 250_000 });
      await waitSpeakersJoined(c);
      marks.push(['done', monoMs()]);
      await sleep(1000);
    } finally {
      const r = await probe.stop();
      const t0 = marks[0]?.[1] ?? 0;
      const rel = (ms: number): string => `${((ms - t0) / 1000).toFixed(2)} s`;
      const failed =
        probe.failures.length > 0
          ? `: ${probe.failures
              .slice(0, 5)
              .map(([ft, why]) => `${why} at ${rel(ft)}`)
              .join(', ')} (${marks.map(([m, mt]) => `${m} ${rel(mt)}`).join(', ')})`
          : '';
      // Every restart of the announcing node's speaker moves the VIP twice (to a peer on SIGTERM,
      // back once the new speaker is ready). A connection open at the instant its packets switch
      // node is reset by the new node, which has no state for it (kube-proxy's conntrack is per
      // node; MetalLB has the same): that is the one failure L2 failover cannot avoid. Requests
      // that are refused, time out or find nobody answering are never acceptable.
      // Two rollouts, each restarting the announcing node's speaker once: two moves each.
      const resets = probe.failures.filter(([, why]) => why === 'ECONNRESET').length;
      const summary = `probe: ${r.ok} answered, ${r.fail} failed (${resets} reset in flight), probe stalled ${r.maxLagMs} ms at most${failed}`;
      t.diagnostic(summary);
      assert.ok(r.ok > 100, 'the probe ran');
      assert.equal(r.fail - resets, 0, `no request failed during the rollouts (${summary})`);
      assert.ok(resets <= 4, `at most one in-flight connection reset per move of the VIP (${summary})`);
    }
    c.kubectl(['-n', 'ironlb-system', 'set', 'image', 'ds/speaker', `speaker=${IRONLB_IMAGE}`]);
    waitIronlbReady(c);
    await waitSpeakersJoined(c);
  });

  /** Runs a fault against the announcing node under ETP=Local (so the answering node is the
   * announcing node) and returns how long until the other node answered. */
  const failover = async (
    t: { diagnostic: (m: string) => void },
    what: string,
    fault: (n: ClusterNode) => Promise<void> | void,
    undo: (n: ClusterNode) => Promise<void> | void,
    timeoutMs: number,
  ): Promise<void> => {
    setPolicy(c, 'web', 'Local');
    await waitSpeakersJoined(c);
    const probe = new Probe(c, vip);
    let victim: ClusterNode | undefined;
    try {
      const from = await eventually('the probe answered', () => probe.current(), 30_000, 50);
      victim = c.nodes.find((n) => n.name === from);
      assert.ok(victim !== undefined);
      const t0 = monoMs();
      await fault(victim);
      const t1 = await probe.otherNodeAfter(t0, victim.name, timeoutMs);
      t.diagnostic(`${what}: ${other(victim).name} answered ${(t1 - t0).toFixed(0)} ms after the fault on ${victim.name}`);
    } finally {
      await probe.stop();
      if (victim !== undefined) await undo(victim);
    }
    await eventually('both nodes Ready again', () => (c.kubectl(['get', 'nodes']).match(/\sReady\s/g) ?? []).length === 2, 120_000, 500);
    waitIronlbReady(c);
    await waitSpeakersJoined(c);
    setPolicy(c, 'web', 'Cluster');
    await eventually('the VIP answers', () => fetchFromClient(c, vip), 60_000, 200);
  };

  test('speaker Pod deleted: the VIP fails over', { timeout: 5 * 60_000 }, async (t) => {
    await failover(
      t,
      'speaker Pod deleted',
      (n) => {
        const pod = c.kubectl(['-n', 'ironlb-system', 'get', 'pods', '-l', 'app.kubernetes.io/component=speaker', '--field-selector', `spec.nodeName=${n.name}`, '-o', 'name']).trim();
        c.kubectl(['-n', 'ironlb-system', 'delete', pod, '--wait=false']);
      },
      () => {},
      60_000,
    );
  });

  test('node link cut: the VIP fails over', { timeout: 5 * 60_000 }, async (t) => {
    await failover(
      t,
      'node link cut',
      (n) => c.setLink(n, false),
      (n) => c.setLink(n, true),
      60_000,
    );
  });

  test('kubelet stopped: traffic keeps flowing, and the VIP moves once the node is NotReady', { timeout: 6 * 60_000 }, async (t) => {
    await failover(
      t,
      'kubelet stopped',
      (n) => c.stopKubelet(n),
      (n) => c.startKubelet(n),
      150_000,
    );
  });

  // While the drained node's Pod terminates (ready=false, serving=true) the other node has a ready
  // endpoint: the election prefers ready endpoints (as kube-proxy does), so the VIP moves at once.
  test('kubectl drain of the announcing node: the VIP moves before its Pods are gone', { timeout: 6 * 60_000 }, async (t) => {
    setPolicy(c, 'web', 'Local');
    await waitSpeakersJoined(c);
    // A ready web Pod on each node (after the earlier faults), so the other node can take the VIP.
    await eventually(
      'a ready web Pod on each node',
      () => {
        const ready = c.kubectl(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={range .items[*]}{.spec.nodeName} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}']);
        return (
          new Set(
            ready
              .split('\n')
              .filter((l) => l.endsWith(' True'))
              .map((l) => l.split(' ')[0]),
          ).size === c.nodes.length
        );
      },
      120_000,
      500,
    );
    const probe = new Probe(c, vip);
    let victim: ClusterNode | undefined;
    try {
      const from = await eventually('the probe answered', () => probe.current(), 30_000, 50);
      victim = c.nodes.find((n) => n.name === from);
      assert.ok(victim !== undefined);
      const pod = c.kubectl(['get', 'pods', '-l', 'app=web', '--field-selector', `spec.nodeName=${victim.name}`, '-o', 'name']).trim();
      const t0 = monoMs();
      c.kubectl(['drain', victim.name, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=120s'], { timeoutMs: 130_000 });
      const tGone = await eventually(
        `${pod} gone`,
        () => {
          try {
            c.kubectl(['get', pod]);
            return undefined;
          } catch {
            return monoMs();
          }
        },
        60_000,
        100,
      );
      const tMoved = await probe.otherNodeAfter(t0, victim.name, 60_000);
      await sleep(500);
      const r = await probe.stop();
      const failed = probe.failures.map(([ft]) => ft - t0);
      const summary = `drain: VIP answered from ${other(victim).name} ${(tMoved - t0).toFixed(0)} ms after the drain began; ${pod} gone after ${(tGone - t0).toFixed(0)} ms; ${r.fail} failed requests${failed.length > 0 ? ` between ${Math.min(...failed).toFixed(0)} and ${Math.max(...failed).toFixed(0)} ms (${probe.failures[0]?.[1]})` : ''}; probe stalled ${r.maxLagMs} ms at most`;
      t.diagnostic(summary);
      if (r.fail > 0 || tMoved > tGone) {
        // What the speakers did, for whoever reads a failed run.
        const logs = c.kubectl(['-n', 'ironlb-system', 'logs', '-l', 'app.kubernetes.io/component=speaker', '--prefix', '--tail=600']);
        const lines = logs.split('\n').filter((l) => /"op":"(announce|withdraw|splitBrain|claim|memberEvent|suspect|alive)"/.test(l));
        for (const l of lines.slice(-60)) t.diagnostic(l.slice(0, 300));
      }
      assert.ok(tMoved <= tGone, `the VIP moved before the drained node's Pod was gone (${summary})`);
      assert.equal(r.fail, 0, `no request failed during the drain (${summary})`);
    } finally {
      await probe.stop();
      if (victim !== undefined) c.kubectl(['uncordon', victim.name]);
      setPolicy(c, 'web', 'Cluster');
    }
  });

  test('helm: the chart installs ironlb in place of the manifests, and IPs stay', { timeout: 6 * 60_000 }, async () => {
    const helm = helmBin();
    c.kubectl(['delete', '-f', join(root, 'deploy/ironlb.yaml'), '--wait=true', '--timeout=120s'], { timeoutMs: 130_000 });
    const env = { KUBECONFIG: c.kubeconfigPath };
    execFileSync(
      helm,
      [
        'install',
        'ironlb',
        join(root, 'deploy/helm/ironlb'),
        '--wait',
        '--timeout',
        '3m',
        '--set',
        'logLevel=debug',
        '--set-json',
        'addressPools=[{"name":"default","protocol":"layer2","addresses":["198.51.100.200-198.51.100.250"]}]',
      ],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 200_000 },
    );
    waitIronlbReady(c);
    assert.match(c.kubectl(['-n', 'ironlb-system', 'get', 'ds', 'speaker', '-o', 'jsonpath={.spec.template.spec.containers[0].args}']), /--log-level=debug/);
    assert.equal(await waitExternalIp(c, 'web'), vip, 'the IP survived the reinstall');
    await eventually('the VIP answers through the Helm-installed speakers', () => fetchFromClient(c, vip), 90_000, 300);
  });
});
