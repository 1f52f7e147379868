/**
 * A real Kubernetes cluster on one machine, for ironlb's end-to-end tests, demo and benchmarks.
 *
 * Built on the control-plane harness and the lab's addressing: kube-apiserver + etcd (ServiceAccount
 * admission on, Node authorizer, advertised on the lab bridge so Pods reach it through the
 * `kubernetes` Service), kube-controller-manager and kube-scheduler in the host namespace, and per
 * lab node a network namespace holding that node's containerd, kubelet and kube-proxy (iptables
 * mode). Pods get addresses from Debian's CNI bridge plugin, one /24 per node; the harness routes
 * the Pod ranges between nodes and from the host, as a real network's routers would. Nothing is
 * emulated: a LoadBalancer IP is reached through kube-proxy's rules on whichever node the speaker
 * elected, and hostNetwork Pods (the speaker) live in their node's namespace.
 *
 * Node processes enter their namespace with `nsenter --net` only (not `ip netns exec`, which would
 * give each a private mount namespace and remount /sys): containerd and the kubelet must share
 * mounts, and cgroupfs must stay visible.
 *
 * Teardown (stop(), `npm run cluster -- down`, or the exit hook) removes every process, mount,
 * cgroup, namespace, link and file the cluster made; see teardown.ts.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { type ControlPlane, freePort, startControlPlane } from '../controlplane/controlplane.js';
import { eventually } from '../integration/helpers.js';
import { LB_RANGE_V4, LB_RANGE_V6, type LabAddressing, freeBlock, labAddressing } from '../lab/addressing.js';
import { type NodePaths, clusterPodCidr, cniConfig, containerdConfig, containerdSocket, kubeProxyArgs, kubeletConfig, nodePodCidr, tokenKubeconfig } from './configs.js';
import { CLUSTER_PREFIX, type ClusterRecord, KUBELET_SYSCTLS, SHARED_PATHS, destroyCluster, makeCgroupRoot, readSysctls } from './teardown.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

/** The Service range the control plane uses (see test/controlplane): routed into every node. */
const SERVICE_CIDR_V4 = '198.18.0.0/16';
/** The sandbox image containerd runs as each Pod's first process (built by images.sh). */
export const PAUSE_IMAGE = 'localhost/ironlb-pause:1';
/** The HTTP backend image (built by images.sh). */
export const ECHO_IMAGE = 'localhost/ironlb-echo:1';
/** The ironlb image, as deploy/ironlb.yaml names it. */
export const IRONLB_IMAGE = 'ironlb:0.1.0';

/** Image archives (docker-archive tars) to load into every node. */
export interface ImageArchives {
  ironlb: string;
  pause: string;
  echo: string;
  /** Size of the ironlb image archive (uncompressed layers). */
  ironlbBytes: number;
}

/** Builds (or finds cached) kube-apiserver, etcd, kube-controller-manager, kube-scheduler, kubelet,
 * kube-proxy and kubectl; returns their directory. */
export function clusterBinDir(): string {
  const out = execFileSync('bash', [join(here, '../controlplane/build.sh'), 'cluster'], { stdio: ['ignore', 'pipe', 'inherit'] })
    .toString()
    .trim();
  const dir = out.split('\n').pop() ?? '';
  for (const b of ['kubelet', 'kube-proxy', 'kube-controller-manager', 'kube-scheduler', 'kubectl']) {
    if (!existsSync(join(dir, b))) throw new Error(`cluster build did not produce ${b} (got "${dir}")`);
  }
  return dir;
}

/** Builds (or finds cached) the images with buildah: see images.sh. */
export function buildImages(): ImageArchives {
  const out = execFileSync('bash', [join(here, 'images.sh')], { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20, timeout: 40 * 60_000 })
    .toString()
    .trim();
  return JSON.parse(out.split('\n').pop() ?? '{}') as ImageArchives;
}

/** startCluster failed; the cluster was removed. `record` says what it had made (for checks). */
export class ClusterStartError extends Error {
  /** What the failed cluster had made before it was removed. */
  readonly record: ClusterRecord;
  constructor(record: ClusterRecord, cause: unknown) {
    super(`cluster ${record.id} failed to start: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.record = record;
  }
}

/** Options for startCluster. */
export interface ClusterOptions {
  /** Lab nodes, each a kubelet (default 2, at most 13). */
  nodes?: number;
  /** Keep every process running after this Node process exits (CLI `up`). */
  detached?: boolean;
  /** Image archives to load (default: build them with images.sh, cached). */
  images?: ImageArchives;
  /** Node lease duration; kube-controller-manager's grace period is the same (default 20 s). */
  nodeLeaseSeconds?: number;
  log?: (msg: string) => void;
}

/** One node of the cluster. */
export interface ClusterNode {
  /** Node name (kubelet --hostname-override; the speaker's memberlist name). */
  name: string;
  netns: string;
  ipv4: string;
  ipv6: string;
  mac: string;
  /** Host side of the node's link on the bridge: down = the node's cable is cut. */
  hostLink: string;
  podCidr: string;
  paths: NodePaths;
  cgroupRoot: string;
}

/** The client namespace: a host on the same segment, outside the cluster. */
export interface ClusterClient {
  netns: string;
  ipv4: string;
  ipv6: string;
  mac: string;
}

/** A running cluster. */
export interface Cluster {
  id: string;
  record: ClusterRecord;
  /** Where the record, kubeconfigs and logs live. */
  dir: string;
  addressing: LabAddressing;
  client: ClusterClient;
  nodes: ClusterNode[];
  controlPlane: ControlPlane;
  /** https://HOST-ADDRESS:PORT: reachable from the host and from every namespace. */
  server: string;
  /** Admin kubeconfig file for that server. */
  kubeconfigPath: string;
  binDir: string;
  images: ImageArchives;
  kubeConfig(): KubeConfig;
  /** Runs kubectl (the one built with the cluster) as admin; returns stdout, throws with stderr. */
  kubectl(args: readonly string[], opts?: { input?: string; timeoutMs?: number }): string;
  /** Runs a command inside a namespace (`ip netns exec`) and returns its stdout. */
  exec(netns: string, cmd: string, args: readonly string[], timeoutMs?: number): string;
  /** A long-running process inside a namespace (probes); killed at stop(). */
  spawnIn(netns: string, cmd: string, args: readonly string[]): ChildProcess;
  /** Cuts (false) or restores (true) a node's link. */
  setLink(node: ClusterNode, up: boolean): void;
  /** Stops a node's kubelet (its Pods keep running, as with `systemctl stop kubelet`). */
  stopKubelet(node: ClusterNode): Promise<void>;
  /** Starts the node's kubelet again. */
  startKubelet(node: ClusterNode): void;
  /** Loads an image archive into every node's containerd. */
  importImage(tar: string): Promise<void>;
  /** The last lines of a component's log ("kube-apiserver", "node-1/kubelet", ...). */
  logTail(component: string, lines?: number): string;
  /** Removes the whole cluster (see teardown.ts). Safe to call twice. */
  stop(): Promise<void>;
}

function run(cmd: string, args: readonly string[], timeoutMs = 30_000): string {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs }).toString();
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
    throw new Error(`${cmd} ${args.join(' ')} failed: ${stderr || String(err)}`, { cause: err });
  }
}

function ip(args: readonly string[]): string {
  return run('ip', args, 10_000);
}

function sysctlIn(netns: string, key: string, value: string): void {
  ip(['netns', 'exec', netns, 'sysctl', '-q', '-w', `${key}=${value}`]);
}

function usedHostAddresses(): Set<string> {
  return new Set([...ip(['-4', '-o', 'addr', 'show']).matchAll(/inet (198\.51\.100\.\d+)\//g)].map((m) => m[1] ?? ''));
}

/** Where cluster records live, so `down --all` finds every cluster on the machine. */
export const CLUSTER_DIR_PREFIX = '/var/tmp/ironlb-cluster-';

/** Records of every cluster whose state dir exists. */
export function listClusterRecords(): ClusterRecord[] {
  const out: ClusterRecord[] = [];
  for (const d of readdirSync('/var/tmp')) {
    const p = join('/var/tmp', d, 'record.json');
    if (`/var/tmp/${d}`.startsWith(CLUSTER_DIR_PREFIX) && existsSync(p)) {
      try {
        out.push(JSON.parse(readFileSync(p, 'utf8')) as ClusterRecord);
      } catch {
        /* half-written: its owner is still starting */
      }
    }
  }
  return out;
}

/** Live clusters of this process: torn down by a detached helper if the process exits early. */
const liveRecords = new Map<string, string>();
let exitHookInstalled = false;
function trackCluster(id: string, recordPath: string): void {
  liveRecords.set(id, recordPath);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const reap = (): void => {
    for (const p of liveRecords.values()) {
      // Teardown is asynchronous (it waits for processes to go): a detached helper does it after us.
      const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'cli.ts'), 'destroy', p], { cwd: root, detached: true, stdio: 'ignore' });
      child.unref();
    }
    liveRecords.clear();
  };
  process.once('exit', reap);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      reap();
      process.exit(130);
    });
  }
}

/** Starts a cluster of `nodes` kubelet nodes with every ironlb prerequisite but ironlb itself. */
export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const log = opts.log ?? (() => {});
  if (process.getuid?.() !== 0) throw new Error('the cluster needs root (network namespaces, containerd, kubelet)');
  const nodeCount = opts.nodes ?? 2;
  const leaseS = opts.nodeLeaseSeconds ?? 20;
  const detached = opts.detached ?? false;
  const t0 = Date.now();
  const binDir = clusterBinDir();
  const images = opts.images ?? buildImages();
  log(`binaries and images ready (${((Date.now() - t0) / 1000).toFixed(1)} s)`);

  const id = randomBytes(2).toString('hex');
  const block = freeBlock(usedHostAddresses());
  if (block === undefined) throw new Error('all 7 lab address blocks are in use; run `npm run cluster -- down --all` or `npm run lab -- down --all`');
  const addressing = labAddressing(block, nodeCount);
  const prefix = `${CLUSTER_PREFIX}${id}`;
  const dir = `${CLUSTER_DIR_PREFIX}${id}`;
  const runDir = `/run/${prefix}`;
  mkdirSync(join(dir, 'logs'), { recursive: true, mode: 0o700 });
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const recordPath = join(dir, 'record.json');
  const record: ClusterRecord = {
    id,
    prefix,
    bridge: `${prefix}br`,
    netns: [],
    dir,
    run: runDir,
    podCidr: clusterPodCidr(block),
    cniNetwork: `ironlb-${id}`,
    cgroupRoots: [],
    pids: [],
    sysctls: readSysctls(KUBELET_SYSCTLS),
    createdSharedPaths: SHARED_PATHS.filter((p) => !existsSync(p)),
  };
  const save = (): void => writeFileSync(recordPath, JSON.stringify(record, null, 2), { mode: 0o600 });
  save();
  if (!detached) trackCluster(id, recordPath);
  const children: ChildProcess[] = [];

  /** Starts a component with its output in logs/<name>.log; inside `netns` if given. */
  const startProc = (name: string, bin: string, args: readonly string[], netns?: string): ChildProcess => {
    const fd = openSync(join(dir, 'logs', `${name.replaceAll('/', '-')}.log`), 'a');
    const argv = netns === undefined ? [bin, ...args] : ['nsenter', `--net=/run/netns/${netns}`, '--', bin, ...args];
    const child = spawn(argv[0] ?? bin, argv.slice(1), { stdio: ['ignore', fd, fd], detached, cwd: dir });
    closeSync(fd);
    if (detached) child.unref();
    children.push(child);
    record.pids.push({ name, pid: child.pid ?? -1 });
    save();
    return child;
  };
  const logTail = (component: string, lines = 30): string => {
    try {
      return readFileSync(join(dir, 'logs', `${component.replaceAll('/', '-')}.log`), 'utf8')
        .trimEnd()
        .split('\n')
        .slice(-lines)
        .join('\n');
    } catch {
      return '(no log)';
    }
  };

  let cp: ControlPlane | undefined;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await destroyCluster(record, log);
    if (cp !== undefined) await cp.stop();
    liveRecords.delete(id);
  };

  try {
    // --- the segment: bridge, client, nodes (as the lab builds it, plus Pod routing) ---
    log(`cluster ${id}: lab block ${block}, ${nodeCount} nodes, Pods in ${record.podCidr}`);
    ip(['link', 'add', record.bridge, 'type', 'bridge']);
    ip(['link', 'set', record.bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    ip(['addr', 'add', `${addressing.host.ipv4}/32`, 'dev', record.bridge]);
    ip(['-6', 'addr', 'add', `${addressing.host.ipv6}/128`, 'dev', record.bridge, 'nodad']);
    ip(['link', 'set', record.bridge, 'up']);
    ip(['route', 'add', addressing.hostPrefixV4, 'dev', record.bridge, 'src', addressing.host.ipv4]);
    ip(['-6', 'route', 'add', addressing.hostPrefixV6, 'dev', record.bridge, 'src', addressing.host.ipv6]);
    const addMember = (netns: string, hostLink: string, v4: string, v6: string): string => {
      ip(['netns', 'add', netns]);
      record.netns.push(netns);
      save();
      ip(['-n', netns, 'link', 'set', 'lo', 'up']);
      ip(['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
      ip(['link', 'set', hostLink, 'master', record.bridge]);
      ip(['link', 'set', hostLink, 'up']);
      ip(['-n', netns, 'addr', 'add', `${v4}/25`, 'dev', 'eth0']);
      ip(['-n', netns, 'addr', 'add', `${v6}/64`, 'dev', 'eth0', 'nodad']);
      ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
      return ip(['netns', 'exec', netns, 'cat', '/sys/class/net/eth0/address']).trim();
    };
    const clientNs = `${prefix}-c`;
    const client: ClusterClient = { netns: clientNs, ...addressing.client, mac: addMember(clientNs, `${prefix}c`, addressing.client.ipv4, addressing.client.ipv6) };
    // A client on this segment has the LoadBalancer range on-link.
    ip(['-n', clientNs, 'route', 'add', LB_RANGE_V4, 'dev', 'eth0']);
    ip(['-n', clientNs, '-6', 'route', 'add', LB_RANGE_V6, 'dev', 'eth0']);

    const nodes: ClusterNode[] = addressing.nodes.map((a, i) => {
      const n = i + 1;
      const name = `node-${n}`;
      const netns = `${prefix}-n${n}`;
      const hostLink = `${prefix}n${n}`;
      const mac = addMember(netns, hostLink, a.ipv4, a.ipv6);
      const cgroupRoot = `/${prefix}-${name}`;
      record.cgroupRoots.push(cgroupRoot);
      save();
      return { name, netns, ...a, mac, hostLink, podCidr: nodePodCidr(block, n), paths: { dir: join(dir, name), run: join(runDir, String(n)) }, cgroupRoot };
    });
    for (const node of nodes) {
      // A router: forward between eth0 and the Pod bridge, and let kube-proxy see bridged traffic.
      sysctlIn(node.netns, 'net.ipv4.ip_forward', '1');
      sysctlIn(node.netns, 'net.ipv6.conf.all.forwarding', '1');
      sysctlIn(node.netns, 'net.bridge.bridge-nf-call-iptables', '1');
      sysctlIn(node.netns, 'net.bridge.bridge-nf-call-ip6tables', '1');
      // ClusterIPs need a route for the first lookup; kube-proxy's DNAT then reroutes.
      ip(['-n', node.netns, 'route', 'add', SERVICE_CIDR_V4, 'dev', 'eth0']);
      for (const other of nodes) {
        if (other !== node) ip(['-n', node.netns, 'route', 'add', other.podCidr, 'via', other.ipv4, 'dev', 'eth0']);
      }
      // The host (API server, kubelet callers) answers Pods through their node.
      ip(['route', 'add', node.podCidr, 'via', node.ipv4, 'dev', record.bridge]);
      mkdirSync(join(node.paths.dir, 'cni-net.d'), { recursive: true });
      mkdirSync(node.paths.run, { recursive: true });
      makeCgroupRoot(node.cgroupRoot);
    }

    // --- the control plane ---
    const token = (): string => randomBytes(20).toString('hex');
    const ids = {
      kcm: { user: 'system:kube-controller-manager', token: token() },
      scheduler: { user: 'system:kube-scheduler', token: token() },
      proxy: { user: 'system:kube-proxy', token: token() },
      nodes: nodes.map((n) => ({ user: `system:node:${n.name}`, groups: ['system:nodes'], token: token() })),
    };
    cp = await startControlPlane({
      log,
      detached,
      advertiseAddress: addressing.host.ipv4,
      serviceAccountAdmission: true,
      authorizationMode: 'Node,RBAC',
      enableAdmissionPlugins: ['NodeRestriction'],
      kubeletClient: true,
      extraTokens: [ids.kcm, ids.scheduler, ids.proxy, ...ids.nodes],
    });
    record.controlPlaneDir = cp.dir;
    record.pids.unshift({ name: 'etcd', pid: cp.etcdPid }, { name: 'kube-apiserver', pid: cp.apiserverPid() });
    save();
    const server = `https://${addressing.host.ipv4}:${cp.port}`;
    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, cp.kubeconfigYaml(addressing.host.ipv4), { mode: 0o600 });
    const writeKubeconfig = (name: string, user: string, tok: string): string => {
      const p = join(dir, `${name}.kubeconfig`);
      writeFileSync(p, tokenKubeconfig(server, cp?.caPem ?? '', user, tok), { mode: 0o600 });
      return p;
    };
    const kcmKc = writeKubeconfig('kube-controller-manager', ids.kcm.user, ids.kcm.token);
    const schedKc = writeKubeconfig('kube-scheduler', ids.scheduler.user, ids.scheduler.token);
    const proxyKc = writeKubeconfig('kube-proxy', ids.proxy.user, ids.proxy.token);
    mkdirSync(join(dir, 'certs'), { recursive: true });
    startProc('kube-controller-manager', join(binDir, 'kube-controller-manager'), [
      `--kubeconfig=${kcmKc}`,
      `--authentication-kubeconfig=${kcmKc}`,
      `--authorization-kubeconfig=${kcmKc}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${await freePort()}`,
      `--cert-dir=${join(dir, 'certs')}`,
      '--leader-elect=false',
      // Each controller acts as its own ServiceAccount, as kubeadm runs it.
      '--use-service-account-credentials=true',
      `--root-ca-file=${cp.files.caCert}`,
      `--service-account-private-key-file=${cp.files.saKey}`,
      `--cluster-cidr=${record.podCidr}`,
      // NotReady after one lease without renewal (the kubelet renews every quarter lease).
      '--node-monitor-period=2s',
      `--node-monitor-grace-period=${leaseS}s`,
      '--v=1',
    ]);
    startProc('kube-scheduler', join(binDir, 'kube-scheduler'), [
      `--kubeconfig=${schedKc}`,
      `--authentication-kubeconfig=${schedKc}`,
      `--authorization-kubeconfig=${schedKc}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${await freePort()}`,
      `--cert-dir=${join(dir, 'certs')}`,
      '--leader-elect=false',
      '--v=1',
    ]);

    // --- the nodes, in parallel: containerd, images, kubelet, kube-proxy ---
    const startNode = async (node: ClusterNode, i: number): Promise<void> => {
      const p = node.paths;
      writeFileSync(join(p.dir, 'containerd.toml'), containerdConfig(p, PAUSE_IMAGE));
      writeFileSync(join(p.dir, 'cni-net.d', '10-ironlb.conflist'), cniConfig(p, record.cniNetwork, node.podCidr));
      const ctrd = startProc(`${node.name}/containerd`, 'containerd', ['--config', join(p.dir, 'containerd.toml'), '--log-level', 'warn'], node.netns);
      await eventually(
        `containerd on ${node.name}`,
        () => {
          if (ctrd.exitCode !== null) throw new Error(`containerd on ${node.name} exited:\n${logTail(`${node.name}/containerd`)}`);
          run('ctr', ['--address', containerdSocket(p), 'version'], 5000);
          return true;
        },
        60_000,
        200,
      );
      for (const tar of [images.pause, images.echo, images.ironlb]) {
        run('ctr', ['--address', containerdSocket(p), '-n', 'k8s.io', 'images', 'import', tar], 300_000);
      }
      const nodeTok = ids.nodes[i];
      if (nodeTok === undefined) throw new Error('no node identity');
      const kubeletKc = writeKubeconfig(`${node.name}-kubelet`, nodeTok.user, nodeTok.token);
      writeFileSync(join(p.dir, 'kubelet.yaml'), kubeletConfig({ paths: p, nodeIp: node.ipv4, cgroupRoot: node.cgroupRoot, clientCaFile: cp?.files.caCert ?? '', nodeLeaseDurationSeconds: leaseS }));
      startKubelet(node, kubeletKc);
      startProc(`${node.name}/kube-proxy`, join(binDir, 'kube-proxy'), kubeProxyArgs(proxyKc, node.name, record.podCidr, '198.51.100.0/25'), node.netns);
    };
    const kubeletArgs = (node: ClusterNode, kc: string): string[] => [
      `--config=${join(node.paths.dir, 'kubelet.yaml')}`,
      `--kubeconfig=${kc}`,
      `--root-dir=${join(node.paths.dir, 'kubelet')}`,
      `--cert-dir=${join(node.paths.dir, 'kubelet-pki')}`,
      `--hostname-override=${node.name}`,
      `--node-ip=${node.ipv4}`,
      '--v=1',
    ];
    const startKubelet = (node: ClusterNode, kc = join(dir, `${node.name}-kubelet.kubeconfig`)): void => {
      startProc(`${node.name}/kubelet`, join(binDir, 'kubelet'), kubeletArgs(node, kc), node.netns);
    };
    const tNodes = Date.now();
    await Promise.all(nodes.map(startNode));
    log(`containerd, images, kubelet and kube-proxy started on ${nodes.length} nodes (${((Date.now() - tNodes) / 1000).toFixed(1)} s)`);

    const kubeConfig = (): KubeConfig =>
      cp?.kubeConfig(addressing.host.ipv4) ??
      (() => {
        throw new Error('stopped');
      })();
    const core = kubeConfig().makeApiClient(CoreV1Api);
    await eventually(
      'every node Ready',
      async () => {
        const list = await core.listNode();
        const ready = list.items.filter((n) => (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'));
        return ready.length === nodes.length;
      },
      180_000,
      500,
    ).catch((err: unknown) => {
      throw new Error(`nodes not Ready; kubelet log of ${nodes[0]?.name}:\n${logTail(`${nodes[0]?.name}/kubelet`)}`, { cause: err });
    });
    // Pods need their namespace's ServiceAccount, which kube-controller-manager creates.
    await eventually(
      'the default ServiceAccount and kube-root-ca.crt',
      async () => {
        await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
        await core.readNamespacedConfigMap({ name: 'kube-root-ca.crt', namespace: 'default' });
        return true;
      },
      60_000,
      300,
    );
    log(`cluster ${id} up in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${server}`);

    const kubectlEnv = { ...process.env, KUBECONFIG: kubeconfigPath };
    return {
      id,
      record,
      dir,
      addressing,
      client,
      nodes,
      controlPlane: cp,
      server,
      kubeconfigPath,
      binDir,
      images,
      kubeConfig,
      kubectl(args: readonly string[], o: { input?: string; timeoutMs?: number } = {}): string {
        try {
          return execFileSync(join(binDir, 'kubectl'), args, { env: kubectlEnv, input: o.input ?? '', stdio: ['pipe', 'pipe', 'pipe'], timeout: o.timeoutMs ?? 60_000 }).toString();
        } catch (err) {
          const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
          throw new Error(`kubectl ${args.join(' ')} failed: ${stderr || String(err)}`, { cause: err });
        }
      },
      exec(netns: string, cmd: string, args: readonly string[], timeoutMs = 10_000): string {
        return execFileSync('ip', ['netns', 'exec', netns, cmd, ...args], { timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
      },
      spawnIn(netns: string, cmd: string, args: readonly string[]): ChildProcess {
        const child = spawn('ip', ['netns', 'exec', netns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(child);
        return child;
      },
      setLink(node: ClusterNode, up: boolean): void {
        ip(['link', 'set', node.hostLink, up ? 'up' : 'down']);
      },
      async stopKubelet(node: ClusterNode): Promise<void> {
        const entry = [...record.pids].reverse().find((p) => p.name === `${node.name}/kubelet`);
        if (entry === undefined) return;
        try {
          process.kill(entry.pid, 'SIGKILL');
        } catch {
          return;
        }
        await eventually(
          `kubelet on ${node.name} to exit`,
          () => {
            try {
              process.kill(entry.pid, 0);
              return false;
            } catch {
              return true;
            }
          },
          10_000,
          50,
        );
      },
      startKubelet(node: ClusterNode): void {
        startKubelet(node);
      },
      async importImage(tar: string): Promise<void> {
        await Promise.all(
          nodes.map(
            async (n) =>
              new Promise<void>((resolve, reject) => {
                const c = spawn('ctr', ['--address', containerdSocket(n.paths), '-n', 'k8s.io', 'images', 'import', tar], { stdio: ['ignore', 'ignore', 'pipe'] });
                let err = '';
                c.stderr.on('data', (d: Buffer) => (err += d.toString()));
                c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ctr import on ${n.name}: ${err}`))));
              }),
          ),
        );
      },
      logTail,
      stop,
    };
  } catch (err) {
    await stop();
    throw new ClusterStartError(record, err);
  }
}
