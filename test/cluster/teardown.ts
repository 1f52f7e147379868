/**
 * Removing a test cluster without a trace, from a record of what it made (ClusterRecord), so the
 * same code serves `stop()` in a test, `npm run cluster -- down` after the CLI process is gone, and
 * the exit hook of a test that crashed. Every step is best effort and bounded in time; the order
 * matters: processes first (so nothing re-creates what is removed), then mounts, namespaces, links,
 * cgroups, files. `leftovers()` says what is still there (the tests assert it is nothing).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What a cluster made, written to its state file as soon as it exists. */
export interface ClusterRecord {
  id: string;
  /** Namespaces, links and the bridge all start with this. */
  prefix: string;
  bridge: string;
  /** Every network namespace of the cluster (nodes and client). */
  netns: string[];
  /** State on disk and on tmpfs; both removed whole. */
  dir: string;
  run: string;
  /** The control plane's state dir (certificates, tokens, etcd data). */
  controlPlaneDir?: string;
  /** Pod range of the whole cluster (finds the Pod network namespaces containerd made). */
  podCidr: string;
  /** CNI network name (the prefix of containerd's CNI result cache files). */
  cniNetwork: string;
  /** v1 cgroup parents of the Pods (one per node). */
  cgroupRoots: string[];
  /** Processes started, in the order to stop them. */
  pids: { name: string; pid: number }[];
  /** Global sysctls the kubelet changes, with their values before the cluster. */
  sysctls: Record<string, string>;
  /** Fixed host paths that kubelet, containerd and CNI use whatever they are told (see
   * SHARED_PATHS) and that did not exist before the cluster: removed at teardown once empty. */
  createdSharedPaths: string[];
}

/** Paths outside the cluster's own dirs that node components write to regardless of their
 * configuration: the kubelet's device-plugin socket and container log links, containerd 1.6's shim
 * sockets and runc state, CNI result caches. */
export const SHARED_PATHS = ['/var/lib/kubelet', '/var/log/containers', '/run/containerd', '/var/lib/cni'];

/** Cluster namespaces, links and bridge are named `${CLUSTER_PREFIX}${id}…`. */
export const CLUSTER_PREFIX = 'ilk';

/** The sysctls a kubelet sets at start (protectKernelDefaults: false); restored at teardown. */
export const KUBELET_SYSCTLS = ['vm.overcommit_memory', 'vm.panic_on_oom', 'kernel.panic', 'kernel.panic_on_oops', 'kernel.keys.root_maxkeys', 'kernel.keys.root_maxbytes'];

function sh(cmd: string, args: string[], timeoutMs = 10_000): string {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs }).toString();
}

function quiet(fn: () => void): void {
  try {
    fn();
  } catch {
    /* best effort */
  }
}

/** Reads the current values of sysctls (missing keys are skipped). */
export function readSysctls(keys: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) {
    try {
      out[k] = readFileSync(`/proc/sys/${k.replaceAll('.', '/')}`, 'utf8').trim();
    } catch {
      /* not on this kernel */
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after graceMs; waits (bounded) for them to go. */
export async function killPids(pids: readonly number[], graceMs: number): Promise<void> {
  const live = pids.filter((p) => p > 0 && alive(p));
  for (const p of live) quiet(() => process.kill(p, 'SIGTERM'));
  const until = Date.now() + graceMs;
  while (live.some(alive) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  for (const p of live.filter(alive)) quiet(() => process.kill(p, 'SIGKILL'));
  const hard = Date.now() + 3000;
  while (live.some(alive) && Date.now() < hard) await new Promise((r) => setTimeout(r, 20));
}

/** Mounted v1 hierarchies (and the unified one in hybrid mode), e.g. /sys/fs/cgroup/memory. */
export function cgroupHierarchies(): string[] {
  try {
    return readdirSync('/sys/fs/cgroup')
      .map((d) => join('/sys/fs/cgroup', d))
      .filter((p) => {
        try {
          return statSync(p).isDirectory() && existsSync(join(p, 'cgroup.procs'));
        } catch {
          return false;
        }
      });
  } catch {
    return [];
  }
}

/** Every cgroup directory under `rel` in one hierarchy, deepest first. */
function cgroupTree(hierarchy: string, rel: string): string[] {
  const top = join(hierarchy, rel);
  if (!existsSync(top)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    let entries: string[] = [];
    try {
      entries = readdirSync(d, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => join(d, e.name));
    } catch {
      return;
    }
    for (const e of entries) walk(e);
    out.push(d);
  };
  walk(top);
  return out;
}

/** Pids in any cgroup under `rel`, across all hierarchies. */
export function pidsInCgroup(rel: string): number[] {
  const pids = new Set<number>();
  for (const h of cgroupHierarchies()) {
    for (const d of cgroupTree(h, rel)) {
      try {
        for (const l of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (l.trim() !== '') pids.add(Number(l));
      } catch {
        /* removed meanwhile */
      }
    }
  }
  return [...pids];
}

/** Creates the cgroup parent in every hierarchy (kubelet refuses "missing paths" otherwise). */
export function makeCgroupRoot(rel: string): void {
  for (const h of cgroupHierarchies()) {
    const d = join(h, rel);
    if (existsSync(d)) continue;
    execFileSync('mkdir', ['-p', d]);
    // A new v1 cpuset cgroup starts with no CPUs and no memory nodes: no task could join it.
    if (existsSync(join(d, 'cpuset.cpus'))) {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        quiet(() => writeFileSync(join(d, f), readFileSync(join(h, f), 'utf8').trim()));
      }
    }
  }
}

function removeCgroups(rel: string): void {
  for (const h of cgroupHierarchies()) {
    for (const d of cgroupTree(h, rel)) quiet(() => rmdirSync(d));
  }
}

/** Processes whose command line mentions one of `needles` (containerd shims name their daemon's socket). */
export function pidsMentioning(needles: readonly string[]): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8');
      if (needles.some((n) => cmd.includes(n))) out.push(Number(e));
    } catch {
      /* exited */
    }
  }
  return out.filter((p) => p !== process.pid);
}

/** Mount points under any of `prefixes`, deepest first (from this process's mount table). */
export function mountsUnder(prefixes: readonly string[]): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (mp === undefined) continue;
    const path = mp.replace(/\\040/g, ' ');
    if (prefixes.some((p) => path === p || path.startsWith(`${p}/`))) out.push(path);
  }
  return [...new Set(out)].sort((a, b) => b.length - a.length);
}

/** Pod network namespaces (containerd's /run/netns/cni-*) with an address in `podCidr`. */
export function podNetns(podCidr: string): string[] {
  const [base, bits] = podCidr.split('/');
  const prefixOctets = Math.floor(Number(bits) / 8);
  const want = (base ?? '').split('.').slice(0, prefixOctets).join('.');
  const mask = Number(bits) % 8;
  const thirdBase = Number((base ?? '').split('.')[prefixOctets] ?? 0);
  let names: string[] = [];
  try {
    names = readdirSync('/run/netns').filter((n) => n.startsWith('cni-'));
  } catch {
    return [];
  }
  return names.filter((n) => {
    let out = '';
    try {
      out = sh('ip', ['-n', n, '-4', '-o', 'addr', 'show'], 3000);
    } catch {
      return false;
    }
    return [...out.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\//g)].some((m) => {
      const parts = (m[1] ?? '').split('.');
      if (parts.slice(0, prefixOctets).join('.') !== want) return false;
      if (mask === 0) return true;
      const octet = Number(parts[prefixOctets]);
      return octet >> (8 - mask) === thirdBase >> (8 - mask);
    });
  });
}

/** Files in /var/log/containers that link into this cluster's Pod log dirs (the kubelet's fixed dir). */
function containerLogLinks(dir: string): string[] {
  const d = '/var/log/containers';
  try {
    return readdirSync(d)
      .map((f) => join(d, f))
      .filter((p) => {
        try {
          return readlinkSync(p).startsWith(`${dir}/`);
        } catch {
          return false;
        }
      });
  } catch {
    return [];
  }
}

/** Ids of every Pod sandbox containerd made for this cluster (read from its state on disk). */
function sandboxIds(record: ClusterRecord): string[] {
  const ids: string[] = [];
  let nodeDirs: string[] = [];
  try {
    nodeDirs = readdirSync(record.dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => join(record.dir, e.name));
  } catch {
    return [];
  }
  for (const d of nodeDirs) {
    try {
      ids.push(...readdirSync(join(d, 'containerd', 'io.containerd.grpc.v1.cri', 'sandboxes')));
    } catch {
      /* no sandboxes on this node */
    }
  }
  return ids;
}

/** containerd's CNI result cache entries for this cluster's network and sandboxes. */
function cniCacheFiles(record: ClusterRecord, ids: readonly string[] = sandboxIds(record)): string[] {
  const d = '/var/lib/cni/results';
  try {
    return readdirSync(d)
      .filter((f) => f.startsWith(`${record.cniNetwork}-`) || ids.some((id) => f.includes(id)))
      .map((f) => join(d, f));
  } catch {
    return [];
  }
}

/** Removes `dir` and the directories below it that are empty, deepest first; keeps anything else. */
function removeEmptyDirs(dir: string): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => join(dir, e.name));
  } catch {
    return;
  }
  for (const e of entries) removeEmptyDirs(e);
  quiet(() => rmdirSync(dir));
}

/** Links in the host namespace whose name starts with the cluster's prefix (bridge, veth ends). */
function hostLinks(prefix: string): string[] {
  let out = '';
  quiet(() => (out = sh('ip', ['-o', 'link', 'show'])));
  return [...out.matchAll(/^\d+: ([^:@\s]+)/gm)].map((m) => m[1] ?? '').filter((n) => n.startsWith(prefix));
}

/** Unix sockets containerd's shims listen on for this cluster (outside its state dir in 1.6). */
export function shimSockets(record: ClusterRecord): string[] {
  const out = new Set<string>();
  for (const ns of record.netns) {
    // /proc/net/unix is per network namespace: a process inside the node's namespace sees the
    // sockets of that node's containerd and shims, and only those.
    let pids: number[] = [];
    try {
      pids = sh('ip', ['netns', 'pids', ns], 3000).split(/\s+/).filter(Boolean).map(Number);
    } catch {
      continue;
    }
    const pid = pids[0];
    if (pid === undefined) continue;
    try {
      for (const line of readFileSync(`/proc/${pid}/net/unix`, 'utf8').split('\n')) {
        const path = line.trim().split(/\s+/)[7];
        if (path !== undefined && path.startsWith('/run/containerd/s/')) out.add(path);
      }
    } catch {
      /* exited */
    }
  }
  return [...out];
}

/** Removes everything the record names. Never throws; bounded (about 30 s at worst). */
export async function destroyCluster(record: ClusterRecord, log: (msg: string) => void = () => {}): Promise<void> {
  const sockets = shimSockets(record);
  const podNs = podNetns(record.podCidr);
  const sandboxes = sandboxIds(record);
  // 1. Node agents and control plane, newest first: kube-proxy, kubelet, then the rest.
  const pids = [...record.pids].reverse();
  await killPids(
    pids.filter((p) => p.name.includes('kube-proxy') || p.name.includes('kubelet')).map((p) => p.pid),
    3000,
  );
  // 2. Every process of every Pod (all live under the cluster's cgroup parents), then the shims.
  for (let round = 0; round < 20; round++) {
    const left = record.cgroupRoots.flatMap(pidsInCgroup);
    if (left.length === 0) break;
    for (const p of left) quiet(() => process.kill(p, 'SIGKILL'));
    await new Promise((r) => setTimeout(r, 100));
  }
  await killPids(
    pidsMentioning([`${record.run}/`]).filter((p) => !record.pids.some((r) => r.pid === p)),
    1000,
  );
  await killPids(
    pids.map((p) => p.pid),
    5000,
  );
  // Anything else still inside a node namespace (a stray exec, a probe).
  for (const ns of record.netns) {
    quiet(() => {
      const left = sh('ip', ['netns', 'pids', ns], 3000).split(/\s+/).filter(Boolean).map(Number);
      for (const p of left) quiet(() => process.kill(p, 'SIGKILL'));
    });
  }
  // 3. Mounts: overlay rootfs, shm, secrets tmpfs, kubelet's bind of its root dir, Pod netns.
  for (const ns of podNs) quiet(() => sh('ip', ['netns', 'del', ns], 5000));
  for (let round = 0; round < 3; round++) {
    const mounts = mountsUnder([record.dir, record.run]);
    if (mounts.length === 0) break;
    for (const m of mounts) {
      try {
        sh('umount', [m], 5000);
      } catch {
        quiet(() => sh('umount', ['-l', m], 5000));
      }
    }
  }
  // 4. Network namespaces, links and the bridge (routes go with it). A veth pair would go with its
  // namespace, but only once the kernel frees that namespace, some time later: delete the host ends.
  for (const ns of record.netns) quiet(() => sh('ip', ['netns', 'del', ns], 5000));
  for (let round = 0; round < 20; round++) {
    const links = hostLinks(record.prefix);
    if (links.length === 0) break;
    for (const l of links) quiet(() => sh('ip', ['link', 'del', l], 5000));
    await new Promise((r) => setTimeout(r, 100));
  }
  // 5. cgroups, deepest first (a cgroup goes once its last task has exited).
  for (let round = 0; round < 20; round++) {
    for (const r of record.cgroupRoots) removeCgroups(r);
    if (record.cgroupRoots.every((r) => cgroupHierarchies().every((h) => !existsSync(join(h, r))))) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // 6. Files: state (credentials included), the kubelet's log links, CNI caches, shim sockets.
  const kubeletSocket = record.createdSharedPaths.includes('/var/lib/kubelet') ? ['/var/lib/kubelet/device-plugins/kubelet.sock'] : [];
  for (const f of [...containerLogLinks(record.dir), ...cniCacheFiles(record, sandboxes), ...sockets, ...kubeletSocket]) quiet(() => rmSync(f, { force: true }));
  for (const d of [record.dir, record.run, ...(record.controlPlaneDir !== undefined ? [record.controlPlaneDir] : [])]) {
    quiet(() => rmSync(d, { recursive: true, force: true }));
  }
  for (const p of record.createdSharedPaths) removeEmptyDirs(p);
  // 7. The kernel settings the kubelets changed.
  for (const [k, v] of Object.entries(record.sysctls)) quiet(() => writeFileSync(`/proc/sys/${k.replaceAll('.', '/')}`, v));
  log(`cluster ${record.id} removed`);
}

/** What of the cluster is still there: one line per leftover; [] when it is gone without a trace. */
export function leftovers(record: ClusterRecord): string[] {
  const out: string[] = [];
  for (const p of record.pids) if (alive(p.pid)) out.push(`process ${p.name} (${p.pid})`);
  for (const p of pidsMentioning([`${record.run}/`, `${record.dir}/`])) out.push(`process ${p} mentions the cluster's dirs`);
  for (const r of record.cgroupRoots) {
    for (const p of pidsInCgroup(r)) out.push(`process ${p} in cgroup ${r}`);
    for (const h of cgroupHierarchies()) if (existsSync(join(h, r))) out.push(`cgroup ${join(h, r)}`);
  }
  for (const m of mountsUnder([record.dir, record.run])) out.push(`mount ${m}`);
  for (const ns of podNetns(record.podCidr)) out.push(`pod netns ${ns}`);
  let netnsList = '';
  quiet(() => (netnsList = sh('ip', ['netns', 'list'])));
  for (const ns of record.netns) if (netnsList.split('\n').some((l) => l.split(' ')[0] === ns)) out.push(`netns ${ns}`);
  for (const l of hostLinks(record.prefix)) out.push(`link ${l}`);
  for (const d of [record.dir, record.run, ...(record.controlPlaneDir !== undefined ? [record.controlPlaneDir] : [])]) if (existsSync(d)) out.push(`dir ${d}`);
  for (const f of containerLogLinks(record.dir)) out.push(`file ${f}`);
  for (const f of cniCacheFiles(record)) out.push(`file ${f}`);
  for (const p of record.createdSharedPaths) if (existsSync(p)) out.push(`shared dir ${p} (did not exist before the cluster)`);
  return out;
}
