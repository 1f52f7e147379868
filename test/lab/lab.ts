/**
 * A multi-node layer-2 lab on one machine: N node network namespaces and a client namespace, each
 * with `eth0` on one Linux bridge in the host namespace. Real interfaces, real ARP/NDP, real TCP.
 *
 * Node namespaces emulate kube-proxy for LoadBalancer IPs: the whole LB range is a `local` route
 * (as IPVS binds VIPs to kube-ipvs0) and arp_ignore/arp_announce keep the kernel from answering
 * ARP for it, so only a speaker answers. Each node runs a tiny HTTP server that answers with its
 * node name. The client namespace keeps kernel defaults: it stands for a real client.
 *
 * Every lab is torn down by stop(), on process exit, and by `npm run lab -- down --all`.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import { type ControlPlane, startControlPlane } from '../controlplane/controlplane.js';
import { LB_RANGE_V4, LB_RANGE_V6, type LabAddressing, freeBlock, labAddressing } from './addressing.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Lab namespaces and links all start with this, followed by a 4-hex-digit lab id. */
export const LAB_PREFIX = 'ilb';

/** One node of the lab. */
export interface LabNode {
  /** Kubernetes Node name (also the memberlist name speakers use). */
  name: string;
  netns: string;
  ipv4: string;
  ipv6: string;
  mac: string;
  /** Host-side end of the node's veth, on the bridge: set it down to cut the node's link. */
  hostLink: string;
}

/** The client namespace. */
export interface LabClient {
  netns: string;
  ipv4: string;
  ipv6: string;
  mac: string;
}

/** Options for startLab. */
export interface LabOptions {
  nodes: number;
  /** Use this control plane (its API server listens on 0.0.0.0); default: start one. */
  controlPlane?: ControlPlane;
  /** Register every node as a Ready Node object (default true). */
  registerNodes?: boolean;
  /** Start the per-node HTTP server (default true). */
  httpServers?: boolean;
  /** Keep helper processes running after this process exits (CLI `up`). */
  detached?: boolean;
  log?: (msg: string) => void;
}

/** A running lab. */
export interface Lab {
  id: string;
  addressing: LabAddressing;
  bridge: string;
  client: LabClient;
  nodes: LabNode[];
  controlPlane: ControlPlane;
  /** Admin kubeconfig whose server is the lab host address: works on the host and in every namespace. */
  kubeconfigPath: string;
  kubeConfig(): KubeConfig;
  /** Runs a command inside a namespace and returns its stdout (throws on non-zero exit). */
  exec(netns: string, cmd: string, args: string[], timeoutMs?: number): string;
  /** Starts a long-running process inside a namespace; it is killed when the lab stops. */
  spawnIn(netns: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess;
  /** Cuts (down) or restores (up) a node's link to the segment. */
  setLink(node: LabNode, up: boolean): void;
  /**
   * Adds a host that is not a node (an intruder, a misconfigured server) on the segment, with the
   * block's last address; created once, removed with the lab. Kernel defaults, like the client.
   */
  foreignHost(): LabClient;
  stop(): Promise<void>;
}

function ip(args: string[]): string {
  try {
    return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
    throw new Error(`ip ${args.join(' ')} failed: ${stderr}`, { cause: err });
  }
}

function sysctl(netns: string, key: string, value: string): void {
  ip(['netns', 'exec', netns, 'sysctl', '-q', '-w', `${key}=${value}`]);
}

/** Host addresses of labs that exist now (so a new lab takes a free block). */
function usedHostAddresses(): Set<string> {
  const out = ip(['-4', '-o', 'addr', 'show']);
  return new Set([...out.matchAll(/inet (198\.51\.100\.\d+)\//g)].map((m) => m[1] ?? ''));
}

/** Kills every process in a namespace, then deletes it. Never throws. */
function destroyNetns(netns: string): void {
  try {
    const pids = ip(['netns', 'pids', netns]).split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  } catch {
    /* namespace already gone */
  }
  try {
    ip(['netns', 'del', netns]);
  } catch {
    /* already gone */
  }
}

/** Removes every namespace and link of the lab with this id. Synchronous, never throws. */
export function destroyLab(id: string): void {
  let names: string[] = [];
  try {
    names = ip(['netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith(`${LAB_PREFIX}-${id}-`));
  } catch {
    /* no netns support at all */
  }
  for (const ns of names) destroyNetns(ns);
  try {
    ip(['link', 'del', `${LAB_PREFIX}${id}br`]);
  } catch {
    /* already gone */
  }
  // The state directory holds an admin kubeconfig: a credential must not outlive its lab.
  for (const d of labStateDirs(id)) rmSync(d, { recursive: true, force: true });
}

/** The lab's state directories under the temp dir (normally one). */
function labStateDirs(id: string): string[] {
  const prefix = `ironlb-lab-${id}-`;
  try {
    return readdirSync(tmpdir())
      .filter((e) => e.startsWith(prefix))
      .map((e) => join(tmpdir(), e));
  } catch {
    return [];
  }
}

/** Ids of every lab that has left namespaces or a bridge behind. */
export function listLabIds(): string[] {
  const ids = new Set<string>();
  try {
    for (const m of ip(['netns', 'list']).matchAll(new RegExp(`^${LAB_PREFIX}-([0-9a-f]{4})-`, 'gm'))) ids.add(m[1] ?? '');
    for (const m of ip(['-o', 'link', 'show']).matchAll(new RegExp(`: ${LAB_PREFIX}([0-9a-f]{4})br[:@]`, 'g'))) ids.add(m[1] ?? '');
  } catch {
    /* nothing */
  }
  try {
    for (const e of readdirSync(tmpdir())) {
      const m = /^ironlb-lab-([0-9a-f]{4})-/.exec(e);
      if (m !== null) ids.add(m[1] ?? '');
    }
  } catch {
    /* nothing */
  }
  return [...ids].filter(Boolean);
}

const liveLabs = new Set<string>();
let exitHookInstalled = false;
function trackLab(id: string): void {
  liveLabs.add(id);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const lab of liveLabs) destroyLab(lab);
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const lab of liveLabs) destroyLab(lab);
      process.exit(130);
    });
  }
}

function readMac(netns: string, dev: string): string {
  return ip(['netns', 'exec', netns, 'cat', `/sys/class/net/${dev}/address`]).trim();
}

/** Creates a namespace with eth0 on the bridge, addresses from the lab block, no default route. */
function addMember(netns: string, hostLink: string, bridge: string, v4: string, v6: string): void {
  ip(['netns', 'add', netns]);
  ip(['-n', netns, 'link', 'set', 'lo', 'up']);
  ip(['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
  ip(['link', 'set', hostLink, 'master', bridge]);
  ip(['link', 'set', hostLink, 'up']);
  ip(['-n', netns, 'addr', 'add', `${v4}/25`, 'dev', 'eth0']);
  // nodad: duplicate address detection would hold the address "tentative" for a second or more.
  ip(['-n', netns, 'addr', 'add', `${v6}/64`, 'dev', 'eth0', 'nodad']);
  ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
}

async function registerNode(kc: KubeConfig, node: LabNode): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const body: V1Node = {
    metadata: { name: node.name, labels: { 'kubernetes.io/hostname': node.name, 'kubernetes.io/os': 'linux', 'ironlb.io/lab': 'true' } },
    status: {
      addresses: [
        { type: 'InternalIP', address: node.ipv4 },
        { type: 'InternalIP', address: node.ipv6 },
        { type: 'Hostname', address: node.name },
      ],
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'lab node', lastHeartbeatTime: new Date(), lastTransitionTime: new Date() }],
    },
  };
  await core.createNode({ body });
  // Status sent with a create is kept for Nodes (the kubelet registers this way), but write it
  // through the subresource too so the test does not depend on that detail.
  const current = await core.readNode({ name: node.name });
  if (body.status !== undefined) current.status = body.status;
  await core.replaceNodeStatus({ name: node.name, body: current });
}

/** Builds the lab, starting a control plane unless one is given. */
export async function startLab(opts: LabOptions): Promise<Lab> {
  const log = opts.log ?? (() => {});
  if (process.getuid?.() !== 0) throw new Error('the lab needs root for network namespaces');
  const id = randomBytes(2).toString('hex');
  const block = freeBlock(usedHostAddresses());
  if (block === undefined) throw new Error('all 7 lab address blocks are in use; run `npm run lab -- down --all`');
  const addressing = labAddressing(block, opts.nodes);
  const bridge = `${LAB_PREFIX}${id}br`;
  const stateDir = mkdtempSync(join(tmpdir(), `ironlb-lab-${id}-`));
  const children: ChildProcess[] = [];
  // A detached lab (CLI `up`) outlives this process; `npm run lab -- down` removes it.
  if (!opts.detached) trackLab(id);
  let ownCp: ControlPlane | undefined;
  const teardown = async (): Promise<void> => {
    for (const c of children) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
    destroyLab(id);
    liveLabs.delete(id);
    rmSync(stateDir, { recursive: true, force: true });
    if (ownCp !== undefined) await ownCp.stop();
  };
  try {
    log(`lab ${id}: bridge ${bridge}, block ${block}`);
    ip(['link', 'add', bridge, 'type', 'bridge']);
    // No STP, no forwarding delay: the segment is usable as soon as a port is up.
    ip(['link', 'set', bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    ip(['addr', 'add', `${addressing.host.ipv4}/32`, 'dev', bridge]);
    ip(['-6', 'addr', 'add', `${addressing.host.ipv6}/128`, 'dev', bridge, 'nodad']);
    ip(['link', 'set', bridge, 'up']);
    ip(['route', 'add', addressing.hostPrefixV4, 'dev', bridge, 'src', addressing.host.ipv4]);
    ip(['-6', 'route', 'add', addressing.hostPrefixV6, 'dev', bridge, 'src', addressing.host.ipv6]);

    const clientNs = `${LAB_PREFIX}-${id}-c`;
    addMember(clientNs, `${LAB_PREFIX}${id}c`, bridge, addressing.client.ipv4, addressing.client.ipv6);
    // A real client on this segment would have the LB range on-link (same L2 network): say so.
    ip(['-n', clientNs, 'route', 'add', LB_RANGE_V4, 'dev', 'eth0']);
    const client: LabClient = { netns: clientNs, ...addressing.client, mac: readMac(clientNs, 'eth0') };

    const nodes: LabNode[] = addressing.nodes.map((a, i) => {
      const n = i + 1;
      const netns = `${LAB_PREFIX}-${id}-n${n}`;
      const hostLink = `${LAB_PREFIX}${id}n${n}`;
      addMember(netns, hostLink, bridge, a.ipv4, a.ipv6);
      // kube-proxy emulation: accept the whole LB range locally, never answer ARP for it.
      ip(['-n', netns, 'route', 'add', 'local', LB_RANGE_V4, 'dev', 'lo']);
      ip(['-n', netns, '-6', 'route', 'add', 'local', LB_RANGE_V6, 'dev', 'lo']);
      sysctl(netns, 'net.ipv4.conf.all.arp_ignore', '1');
      sysctl(netns, 'net.ipv4.conf.all.arp_announce', '2');
      return { name: `node-${n}`, netns, ...a, mac: readMac(netns, 'eth0'), hostLink };
    });

    const cp = opts.controlPlane ?? (ownCp = await startControlPlane({ log, ...(opts.detached ? { detached: true } : {}) }));
    const kubeconfigPath = join(stateDir, 'kubeconfig');
    writeFileSync(kubeconfigPath, cp.kubeconfigYaml(addressing.host.ipv4), { mode: 0o600 });
    const kubeConfig = (): KubeConfig => cp.kubeConfig(addressing.host.ipv4);

    const spawnIn = (netns: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess => {
      const child = spawn('ip', ['netns', 'exec', netns, cmd, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: env ?? process.env,
        detached: opts.detached ?? false,
      });
      if (opts.detached) child.unref();
      children.push(child);
      return child;
    };

    if (opts.httpServers ?? true) {
      await Promise.all(
        nodes.map(
          (n) =>
            new Promise<void>((resolve, reject) => {
              const child = spawnIn(n.netns, process.execPath, [join(here, 'httpd.mjs'), n.name]);
              const timer = setTimeout(() => reject(new Error(`http server in ${n.netns} did not start`)), 10_000);
              child.stdout?.once('data', () => {
                clearTimeout(timer);
                if (opts.detached) {
                  child.stdout?.destroy();
                  child.stderr?.destroy();
                }
                resolve();
              });
              child.once('exit', (code) => reject(new Error(`http server in ${n.netns} exited with ${code}`)));
            }),
        ),
      );
    }
    if (opts.registerNodes ?? true) {
      const kc = kubeConfig();
      for (const n of nodes) await registerNode(kc, n);
    }
    log(`lab ${id}: ${nodes.length} nodes up, client ${client.ipv4}`);
    let foreign: LabClient | undefined;
    return {
      id,
      addressing,
      bridge,
      client,
      nodes,
      controlPlane: cp,
      kubeconfigPath,
      kubeConfig,
      exec(netns: string, cmd: string, args: string[], timeoutMs = 10_000): string {
        return execFileSync('ip', ['netns', 'exec', netns, cmd, ...args], { timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
      },
      spawnIn,
      setLink(node: LabNode, up: boolean): void {
        ip(['link', 'set', node.hostLink, up ? 'up' : 'down']);
      },
      foreignHost(): LabClient {
        if (foreign !== undefined) return foreign;
        const last = 16 * addressing.block + 15;
        if (addressing.nodes.some((n) => n.ipv4 === `198.51.100.${last}`)) throw new Error('lab: no address left for a foreign host (13 nodes)');
        const netns = `${LAB_PREFIX}-${id}-f`;
        const v4 = `198.51.100.${last}`;
        const v6 = `2001:db8::${last.toString(16)}`;
        addMember(netns, `${LAB_PREFIX}${id}f`, bridge, v4, v6);
        foreign = { netns, ipv4: v4, ipv6: v6, mac: readMac(netns, 'eth0') };
        return foreign;
      },
      stop: teardown,
    };
  } catch (err) {
    await teardown();
    throw err;
  }
}
