/**
 * End-to-end harness: a lab, the controller in the host namespace and one speaker per node
 * namespace (the real processes, built to dist/), plus client-side probes (ARP, NDP, HTTP) run
 * inside the client namespace.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, DiscoveryV1Api, type V1Service, type V1ServiceSpec } from '@kubernetes/client-node';
import { electionHash } from '@ironlb/core';
import { withKeepAlive } from '@ironlb/k8s';
import { applyObjects, loadManifest, serviceAccountKubeconfig } from '../deploy/manifests.js';
import { eventually } from '../integration/helpers.js';
import { type Lab, type LabNode, startLab } from '../lab/lab.js';

const root = join(import.meta.dirname, '..', '..');

/** The environment the processes get, as deploy/ironlb.yaml sets it. */
const PROCESS_ENV: NodeJS.ProcessEnv = { ...process.env, MALLOC_ARENA_MAX: '2' };

/** The default pool of e2e tests: inside the lab's LB range. */
export const E2E_POOLS = `address-pools:
- name: default
  protocol: layer2
  addresses: [198.51.100.200-198.51.100.230, 2001:db8::1:c8-2001:db8::1:e6]
`;

/** A running system: lab + controller + speakers. */
export interface System {
  lab: Lab;
  core: CoreV1Api;
  discovery: DiscoveryV1Api;
  speakers: Map<string, ChildProcess>;
  /** The controller process (the latest one started). */
  readonly controller: ChildProcess;
  /** Starts (or restarts) the speaker of a node, with extra flags. */
  startSpeaker(node: LabNode, args?: readonly string[]): ChildProcess;
  /** Starts (or restarts) the controller. */
  startController(): ChildProcess;
  /** Everything the controller and the speakers logged so far, by process ("controller", node name). */
  logs(): Map<string, string>;
  stop(): Promise<void>;
}

/** Options of startSystem. */
export interface SystemOptions {
  /** Extra flags for every speaker. */
  speakerArgs?: readonly string[];
  /** The address-pool ConfigMap's `config` text (default E2E_POOLS). */
  pools?: string;
  /**
   * Start the speakers before the controller (a fresh install where they race: no memberlist
   * Secret exists yet), and do not wait for them to form a cluster.
   */
  speakersFirst?: boolean;
  log?: (msg: string) => void;
}

/** Brings up a lab with `nodes` nodes, the pool ConfigMap, the controller and all speakers. */
export async function startSystem(nodes = 3, opts: SystemOptions = {}): Promise<System> {
  const lab = await startLab({ nodes, ...(opts.log ? { log: opts.log } : {}) });
  const kc = withKeepAlive(lab.kubeConfig());
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const logDir = lab.controlPlane.dir;
  const speakers = new Map<string, ChildProcess>();
  let controller: ChildProcess | undefined;
  try {
    // RBAC is proven, not assumed: both processes run as the ServiceAccounts deploy/ironlb.yaml
    // defines, with tokens minted through TokenRequest.
    await applyObjects(kc, loadManifest('deploy/ironlb.yaml'), false);
    const server = `https://${lab.addressing.host.ipv4}:${lab.controlPlane.port}`;
    const controllerKubeconfig = join(logDir, 'controller.kubeconfig');
    const speakerKubeconfig = join(logDir, 'speaker.kubeconfig');
    writeFileSync(controllerKubeconfig, await serviceAccountKubeconfig(kc, 'ironlb-system', 'controller', server, lab.controlPlane.caPem), { mode: 0o600 });
    writeFileSync(speakerKubeconfig, await serviceAccountKubeconfig(kc, 'ironlb-system', 'speaker', server, lab.controlPlane.caPem), { mode: 0o600 });
    await core.createNamespacedConfigMap({ namespace: 'ironlb-system', body: { metadata: { name: 'config' }, data: { config: opts.pools ?? E2E_POOLS } } });
    const startController = (): ChildProcess => {
      const c = spawn(process.execPath, [join(root, 'packages/controller/bundle/main.mjs'), '--kubeconfig', controllerKubeconfig, '--metrics-port', '0'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: PROCESS_ENV,
      });
      const out = createWriteStream(join(logDir, 'controller.log'), { flags: 'a' });
      c.stdout?.pipe(out);
      c.stderr?.pipe(out);
      controller = c;
      return c;
    };
    const startSpeaker = (node: LabNode, args: readonly string[] = []): ChildProcess => {
      const p = lab.spawnIn(
        node.netns,
        process.execPath,
        [join(root, 'packages/speaker/bundle/main.mjs'), '--node-name', node.name, '--kubeconfig', speakerKubeconfig, '--log-level', 'debug', ...(opts.speakerArgs ?? []), ...args],
        PROCESS_ENV,
      );
      const out = createWriteStream(join(logDir, `speaker-${node.name}.log`), { flags: 'a' });
      p.stdout?.pipe(out);
      p.stderr?.pipe(out);
      speakers.set(node.name, p);
      return p;
    };
    if (opts.speakersFirst === true) {
      for (const n of lab.nodes) startSpeaker(n);
      startController();
    } else {
      startController();
      // The controller creates the memberlist Secret the speakers read.
      await until('memberlist Secret', async () => (await core.readNamespacedSecret({ name: 'memberlist', namespace: 'ironlb-system' })) !== undefined, 15_000);
      for (const n of lab.nodes) startSpeaker(n);
      // Ready means every speaker serves /readyz and sees every node alive in memberlist; before
      // that, a speaker alone would elect itself and a test would measure a startup takeover.
      await Promise.all(lab.nodes.map(async (n) => waitSpeakerMembers(lab, n, lab.nodes.length)));
    }
    const system: System = {
      lab,
      core,
      discovery,
      speakers,
      get controller(): ChildProcess {
        if (controller === undefined) throw new Error('controller not started');
        return controller;
      },
      startSpeaker,
      startController,
      logs(): Map<string, string> {
        const m = new Map<string, string>();
        m.set('controller', readFileSync(join(logDir, 'controller.log'), 'utf8'));
        for (const n of lab.nodes) m.set(n.name, readFileSync(join(logDir, `speaker-${n.name}.log`), 'utf8'));
        return m;
      },
      async stop(): Promise<void> {
        controller?.kill('SIGKILL');
        for (const s of speakers.values()) s.kill('SIGKILL');
        await lab.stop();
      },
    };
    return system;
  } catch (err) {
    controller?.kill('SIGKILL');
    for (const s of speakers.values()) s.kill('SIGKILL');
    await lab.stop();
    throw err;
  }
}

/** Waits until the node's speaker is ready and counts `members` live memberlist members. */
export async function waitSpeakerMembers(lab: Lab, node: LabNode, members: number, timeoutMs = 30_000): Promise<void> {
  await until(
    `speaker on ${node.name} to see ${members} members`,
    () => {
      let text = '';
      try {
        text = lab.exec(node.netns, 'curl', ['-s', '--max-time', '1', 'http://127.0.0.1:7472/metrics'], 3000);
      } catch {
        return undefined;
      }
      const m = /^ironlb_speaker_members_alive (\d+)/m.exec(text);
      return m !== null && Number(m[1]) === members;
    },
    timeoutMs,
    200,
  );
}

/** Polls until fn returns truthy (the integration tests' `eventually`). */
export const until = eventually;

/** Creates a LoadBalancer Service and an EndpointSlice with an endpoint on each given node. */
export async function createServiceWithEndpoints(sys: System, ns: string, name: string, on: readonly LabNode[], spec: Partial<V1ServiceSpec> = {}): Promise<void> {
  await sys.core.createNamespace({ body: { metadata: { name: ns } } }).catch(() => undefined);
  await sys.core.createNamespacedService({
    namespace: ns,
    body: { metadata: { name }, spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }], ...spec } },
  });
  await setEndpoints(sys, ns, name, on);
}

/** Replaces the Service's EndpointSlice: one ready endpoint per node in `on` ([] = none). */
export async function setEndpoints(sys: System, ns: string, name: string, on: readonly LabNode[]): Promise<void> {
  const body = {
    metadata: { name: `${name}-lab`, namespace: ns, labels: { 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'ironlb-lab' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    endpoints: on.map((n) => ({ addresses: [n.ipv4], nodeName: n.name, conditions: { ready: true, serving: true, terminating: false } })),
  };
  try {
    await sys.discovery.replaceNamespacedEndpointSlice({ name: `${name}-lab`, namespace: ns, body });
  } catch {
    await sys.discovery.createNamespacedEndpointSlice({ namespace: ns, body });
  }
}

/** Waits for the Service's ingress IPs. */
export async function waitIngress(sys: System, ns: string, name: string, count = 1): Promise<string[]> {
  return until(
    `${ns}/${name} ingress`,
    async () => {
      const s: V1Service = await sys.core.readNamespacedService({ name, namespace: ns });
      const ips = (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '');
      return ips.length === count ? ips : undefined;
    },
    20_000,
  );
}

/** The election order for an IP among node names (what every speaker computes). */
export function electionOrder(ip: string, names: readonly string[]): string[] {
  return [...names].sort((a, b) => Buffer.compare(electionHash(a, ip), electionHash(b, ip)));
}

/** MACs that answer ARP for `ip` from the client (arping, `count` requests). */
export function arpResponders(lab: Lab, ip: string, count = 3): string[] {
  let out = '';
  try {
    out = lab.exec(lab.client.netns, 'arping', ['-c', String(count), '-w', '3', '-I', 'eth0', ip], 6000);
  } catch (err) {
    out = String((err as { stdout?: Buffer }).stdout ?? '');
  }
  return [...new Set([...out.matchAll(/\[([0-9A-Fa-f:]{17})\]/g)].map((m) => (m[1] ?? '').toLowerCase()))];
}

/** MAC that answers an NDP Neighbor Solicitation for `ip` from the client, if any. */
export function ndpResponder(lab: Lab, ip: string): string | undefined {
  try {
    const out = lab.exec(lab.client.netns, 'ndisc6', ['-q', '-r', '3', '-w', '500', ip, 'eth0'], 6000);
    return out.trim().toLowerCase() || undefined;
  } catch {
    return undefined;
  }
}

/** HTTP GET from the client namespace; the body (a node name) or undefined on failure. */
export function httpFromClient(lab: Lab, ip: string, timeoutS = 1): string | undefined {
  const host = ip.includes(':') ? `[${ip}]` : ip;
  try {
    return lab.exec(lab.client.netns, 'curl', ['-s', '-g', '--max-time', String(timeoutS), `http://${host}/`], (timeoutS + 2) * 1000).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The node whose MAC this is. */
export function nodeByMac(lab: Lab, mac: string | undefined): LabNode | undefined {
  return lab.nodes.find((n) => n.mac === mac);
}

/** What the HTTP prober saw (see tools/httpprobe.mjs). */
export interface HttpProbeResult {
  sent: number;
  ok: number;
  failed: number;
  /** Failures that were a connection reset (counted in `failed` too). */
  resets: number;
  byBody: Record<string, number>;
  /** Failure windows: [firstMs, lastMs, count], times since the prober started. */
  failures: [number, number, number][];
  /** When the answering node changed: [ms, body]. */
  changes: [number, string][];
}

/** What the ARP prober saw (see tools/arpprobe.mjs). */
export interface ArpProbeResult {
  requests: number;
  unanswered: number;
  /** Requests answered by two or more MACs. */
  dual: number;
  byMac: Record<string, number>;
  duals: number[];
  silent: number[];
  /** When requests went from unanswered to answered (true) or back (false): [ms, answered]. */
  flips: [number, boolean][];
}

/** A prober running in the client namespace; stop() ends it and returns its summary. */
export interface Probe<T> {
  /** Milliseconds since the prober started (on this process's clock, approximately). */
  elapsed(): number;
  stop(): Promise<T>;
}

async function startProbe<T>(lab: Lab, script: string, args: string[], env?: NodeJS.ProcessEnv): Promise<Probe<T>> {
  const p = lab.spawnIn(lab.client.netns, process.execPath, [join(root, 'test/e2e/tools', script), ...args], env ? { ...process.env, ...env } : undefined);
  let out = '';
  let err = '';
  p.stdout?.setEncoding('utf8').on('data', (c: string) => (out += c));
  p.stderr?.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
  await until(`${script} ready`, () => out.startsWith('ready\n') || (p.exitCode !== null ? Promise.reject(new Error(`${script} exited: ${err}`)) : undefined), 15_000, 20);
  const t0 = performance.now();
  return {
    elapsed: () => performance.now() - t0,
    async stop(): Promise<T> {
      p.kill('SIGTERM');
      const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line === undefined) throw new Error(`${script} printed no summary: ${err}`);
      return JSON.parse(line) as T;
    },
  };
}

/**
 * Starts an HTTP GET to `ip` every `intervalMs` from the client namespace. Each request may take
 * `timeoutMs` (default 3 s: one lost SYN is retransmitted after 1 s; on a machine whose cores are
 * oversubscribed a request can be slow without the VIP being down, and that is not a failure).
 */
export async function startHttpProbe(lab: Lab, ip: string, intervalMs = 10, timeoutMs = 3000, maxMs = 900_000): Promise<Probe<HttpProbeResult>> {
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return startProbe<HttpProbeResult>(lab, 'httpprobe.mjs', [`http://${host}/`, String(intervalMs), String(timeoutMs), String(maxMs)]);
}

/** Starts an ARP request for `ip` every `intervalMs` from the client namespace, recording who answers. */
export async function startArpProbe(lab: Lab, ip: string, intervalMs = 100, maxMs = 900_000): Promise<Probe<ArpProbeResult>> {
  return startProbe<ArpProbeResult>(lab, 'arpprobe.mjs', ['eth0', ip, String(intervalMs), String(maxMs)], { PROBE_SENDER_IP: lab.client.ipv4 });
}

/** The speaker's /metrics text in a node namespace ('' when unreachable). */
export function speakerMetrics(lab: Lab, node: LabNode): string {
  try {
    return lab.exec(node.netns, 'curl', ['-s', '--max-time', '1', 'http://127.0.0.1:7472/metrics'], 3000);
  } catch {
    return '';
  }
}

/** One sample of a metric (first match of `name{labels}` or `name`), or undefined. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)/.exec(line);
    if (m === null || m[1] !== name) continue;
    const lbl = m[2] ?? '';
    if (!Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) continue;
    return Number(m[3]);
  }
  return undefined;
}

/** HTTP status of the speaker's /readyz or /healthz in a node namespace (0 when unreachable). */
export function speakerProbe(lab: Lab, node: LabNode, path: '/readyz' | '/healthz'): number {
  try {
    return Number(lab.exec(node.netns, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '1', `http://127.0.0.1:7472${path}`], 3000).trim());
  } catch {
    return 0;
  }
}
