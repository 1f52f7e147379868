/**
 * `npm run demo -- --cluster`: the demo's story on real Pods. A two-node Kubernetes cluster on this
 * machine (kubelet, containerd and kube-proxy per lab node), ironlb's image built from the
 * Dockerfile, `kubectl apply -f deploy/ironlb.yaml` and the example pools, a backend Deployment
 * exposed with `kubectl expose --type=LoadBalancer`, HTTP to its EXTERNAL-IP from a client outside
 * the cluster, then the announcing node's link cut and the time until the other node answers.
 * Everything is torn down at the end, also on failure, and checked.
 */
import { eventually } from '../integration/helpers.js';
import { type Cluster, startCluster } from './cluster.js';
import { Probe, announcer, deployWeb, exposeWeb, fetchFromClient, installIronlb, monoMs, setPolicy, waitExternalIp, waitSpeakersJoined } from './scenario.js';
import { leftovers } from './teardown.js';

const STEPS = 8;
let step = 0;
const say = (msg: string): void => console.log(`[${++step}/${STEPS}] ${msg}`);
const note = (msg: string): void => console.log(`      ${msg}`);
const indent = (text: string): string =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n');
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

async function main(): Promise<void> {
  const t0 = Date.now();
  say('building what is missing (kubelet & co. from Go modules, the image from the Dockerfile; cached), starting a 2-node cluster');
  let c: Cluster | undefined;
  let failure: unknown;
  try {
    c = await startCluster({ nodes: 2, log: (m) => note(m) });
    note(`nodes: ${c.nodes.map((n) => `${n.name} ${n.ipv4}`).join(', ')}; client ${c.client.ipv4}; KUBECONFIG=${c.kubeconfigPath}`);
    console.log(indent(c.kubectl(['get', 'nodes', '-o', 'wide'])));

    say('kubectl apply -f deploy/ironlb.yaml && kubectl apply -f deploy/examples/config.yaml');
    const tApply = Date.now();
    installIronlb(c);
    note(`controller and speakers Ready in ${secs(Date.now() - tApply)}`);
    console.log(indent(c.kubectl(['-n', 'ironlb-system', 'get', 'pods', '-o', 'wide'])));
    await waitSpeakersJoined(c);

    say('a backend Deployment (ordinary Pods), then kubectl expose deployment web --type=LoadBalancer --port=80');
    deployWeb(c);
    const tExpose = Date.now();
    exposeWeb(c, 'web', 'Local');
    const vip = await waitExternalIp(c, 'web', 60_000, 50);
    note(`EXTERNAL-IP after ${Date.now() - tExpose} ms:`);
    console.log(indent(c.kubectl(['get', 'svc', 'web'])));

    say(`curl http://${vip}/ from the client namespace (through the announcing node's kube-proxy to a Pod)`);
    const body = await eventually('an answer', () => fetchFromClient(c!, vip), 60_000, 200);
    note(body);
    const node = await eventually('the announcing node', () => announcer(c!, vip), 30_000, 200);
    note(`${vip} is announced by ${node.name} (${node.mac}); externalTrafficPolicy: Local, so its own Pod answers and sees the client's address`);

    say(`cutting ${node.name}'s link while the client probes every 10 ms`);
    const probe = new Probe(c, vip);
    await eventually('the probe answered', () => probe.current(), 30_000, 50);
    const tCut = monoMs();
    c.setLink(node, false);
    const tOther = await probe.otherNodeAfter(tCut, node.name, 60_000);
    await probe.stop();
    const failoverMs = Math.round(tOther - tCut);
    note(`answered by ${probe.current()} after ${failoverMs} ms (memberlist failure detection + gratuitous ARP)`);
    c.setLink(node, true);

    say('events and logs, as kubectl shows them');
    console.log(indent(c.kubectl(['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.name=web'])));
    console.log(indent(c.kubectl(['-n', 'ironlb-system', 'logs', 'deploy/controller', '--tail=3'])));
    setPolicy(c, 'web', 'Cluster');

    say('result');
    note(`EXTERNAL-IP ${vip}: announced by ${node.name}, after the cut by ${probe.current()}, failover ${failoverMs} ms`);
  } catch (err) {
    failure = err;
  } finally {
    say('tearing down the cluster');
    if (c !== undefined) {
      const record = c.record;
      await c.stop();
      const left = leftovers(record);
      if (left.length > 0) failure ??= new Error(`teardown left: ${left.join('; ')}`);
      else note(`done in ${secs(Date.now() - t0)}; checked: no process, mount, cgroup, namespace, interface or file left behind`);
    }
  }
  if (failure !== undefined) throw failure instanceof Error ? failure : new Error('demo failed', { cause: failure });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}${cause}`);
    process.exit(1);
  },
);
