/**
 * The user's steps on a test cluster, shared by the e2e tests, the demo and the benchmark: install
 * ironlb with kubectl exactly as the README says, deploy and expose a backend, probe it from the
 * client namespace, find out which node announces an IP.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { eventually } from '../integration/helpers.js';
import type { Cluster, ClusterNode } from './cluster.js';

const here = import.meta.dirname;
const root = join(here, '..', '..');

/** CLOCK_MONOTONIC in ms: the probe's clock. */
export const monoMs = (): number => Number(process.hrtime.bigint() / 1000n) / 1000;

/** GET over a fresh connection (no keep-alive: a reused socket the server just closed reads as a
 * failure of the server); the body, or a rejection. */
export async function httpText(url: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: timeout`)));
    req.on('error', reject);
  });
}

/** `kubectl apply -f deploy/ironlb.yaml` and the example pools; waits until every ironlb Pod is Ready. */
export function installIronlb(c: Cluster, timeoutS = 180): void {
  c.kubectl(['apply', '-f', join(root, 'deploy/ironlb.yaml')]);
  c.kubectl(['apply', '-f', join(root, 'deploy/examples/config.yaml')]);
  waitIronlbReady(c, timeoutS);
}

/** Waits until the controller and every speaker are rolled out and Ready. */
export function waitIronlbReady(c: Cluster, timeoutS = 180): void {
  c.kubectl(['-n', 'ironlb-system', 'rollout', 'status', 'deploy/controller', `--timeout=${timeoutS}s`], { timeoutMs: (timeoutS + 10) * 1000 });
  c.kubectl(['-n', 'ironlb-system', 'rollout', 'status', 'ds/speaker', `--timeout=${timeoutS}s`], { timeoutMs: (timeoutS + 10) * 1000 });
}

/**
 * A speaker's /metrics, read on the node itself: it answers only on loopback by default (on
 * hostNetwork anything else is the whole segment), so this reads it from inside the node's network
 * namespace, as an agent on the node would.
 */
export function speakerMetricsText(n: ClusterNode, timeoutMs = 2000): string {
  const r = spawnSync('ip', ['netns', 'exec', n.netns, 'curl', '-s', '-f', '--max-time', String(Math.ceil(timeoutMs / 1000)), 'http://127.0.0.1:7472/metrics'], {
    encoding: 'utf8',
    timeout: timeoutMs + 3000,
  });
  if (r.status !== 0) throw new Error(`speaker metrics on ${n.name}: curl exit ${r.status ?? r.signal}`);
  return r.stdout;
}

/** Waits until every speaker sees every node alive in memberlist (its metrics say so). Before that a
 * lone speaker elects itself, and a measurement would time a startup takeover. */
export async function waitSpeakersJoined(c: Cluster, timeoutMs = 90_000): Promise<void> {
  await Promise.all(
    c.nodes.map(async (n) =>
      eventually(
        `speaker on ${n.name} to see ${c.nodes.length} members`,
        () => {
          const m = /^ironlb_speaker_members_alive (\d+)/m.exec(speakerMetricsText(n));
          return m !== null && Number(m[1]) === c.nodes.length;
        },
        timeoutMs,
        300,
      ),
    ),
  );
}

/** Deploys the echo backend (test/cluster/manifests/web.yaml) under `name`; waits until it is rolled out. */
export function deployWeb(c: Cluster, name = 'web', timeoutS = 120): void {
  const yaml = readFileSync(join(here, 'manifests/web.yaml'), 'utf8').replace(/\bweb\b/g, name);
  c.kubectl(['apply', '-f', '-'], { input: yaml });
  c.kubectl(['rollout', 'status', `deploy/${name}`, `--timeout=${timeoutS}s`], { timeoutMs: (timeoutS + 10) * 1000 });
}

/** `kubectl expose deployment NAME --type=LoadBalancer`, then the traffic policy. */
export function exposeWeb(c: Cluster, name = 'web', policy: 'Cluster' | 'Local' = 'Cluster'): void {
  c.kubectl(['expose', 'deployment', name, '--type=LoadBalancer', '--port=80', '--target-port=8080']);
  if (policy === 'Local') setPolicy(c, name, policy);
}

/** Sets the Service's externalTrafficPolicy. */
export function setPolicy(c: Cluster, name: string, policy: 'Cluster' | 'Local'): void {
  c.kubectl(['patch', 'svc', name, '-p', JSON.stringify({ spec: { externalTrafficPolicy: policy } })]);
}

/** The EXTERNAL-IP column of `kubectl get svc NAME`, once there is one. */
export async function waitExternalIp(c: Cluster, name: string, timeoutMs = 60_000, everyMs = 100): Promise<string> {
  return eventually(
    `EXTERNAL-IP of ${name}`,
    () => {
      const out = c.kubectl(['get', 'svc', name, '--no-headers', '-o', 'custom-columns=IP:.status.loadBalancer.ingress[*].ip']).trim();
      return /^\d+\.\d+\.\d+\.\d+/.test(out) ? (out.split(',')[0] ?? '') : undefined;
    },
    timeoutMs,
    everyMs,
  );
}

/** One HTTP GET from the client namespace; the echo body ("pod=… node=… client=…") or undefined. */
export function fetchFromClient(c: Cluster, ip: string, timeoutS = 2): string | undefined {
  try {
    return c.exec(c.client.netns, 'curl', ['-s', '--max-time', String(timeoutS), `http://${ip}/`], (timeoutS + 3) * 1000).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The node whose MAC answers ARP for `ip` at the client (arping), if any. */
export function announcer(c: Cluster, ip: string): ClusterNode | undefined {
  let out = '';
  try {
    out = c.exec(c.client.netns, 'arping', ['-c', '2', '-w', '3', '-I', 'eth0', ip], 6000);
  } catch (err) {
    out = String((err as { stdout?: Buffer }).stdout ?? '');
  }
  const macs = [...out.matchAll(/\[([0-9A-Fa-f:]{17})\]/g)].map((m) => (m[1] ?? '').toLowerCase());
  return c.nodes.find((n) => n.mac === macs.at(-1));
}

/** A 10 ms HTTP probe from the client namespace (probe.mjs). */
export class Probe {
  /** [monotonic ms, node] each time the answering node changed. */
  readonly changes: [number, string][] = [];
  /** [monotonic ms, reason] of every failed request. */
  readonly failures: [number, string][] = [];
  #summary: { ok: number; fail: number; maxLagMs: number } | undefined;
  readonly #proc: ChildProcess;
  readonly #done: Promise<void>;

  constructor(c: Cluster, ip: string, intervalMs = 10, durationMs = 300_000) {
    this.#proc = c.spawnIn(c.client.netns, process.execPath, [join(here, 'probe.mjs'), `http://${ip}/`, String(intervalMs), String(durationMs)]);
    const rl = createInterface({ input: this.#proc.stdout! });
    rl.on('line', (line) => {
      let o: { t?: number; node?: string; fail?: string; done?: boolean; ok?: number; maxLagMs?: number } = {};
      try {
        o = JSON.parse(line) as typeof o;
      } catch {
        return;
      }
      if (o.done === true) this.#summary = { ok: o.ok ?? 0, fail: Number(o.fail ?? 0), maxLagMs: o.maxLagMs ?? 0 };
      else if (o.node !== undefined) this.changes.push([o.t ?? 0, o.node]);
      else if (o.fail !== undefined) this.failures.push([o.t ?? 0, o.fail]);
    });
    this.#done = new Promise((r) => this.#proc.once('exit', () => r()));
  }

  /** The node that answered last. */
  current(): string | undefined {
    return this.changes.at(-1)?.[1];
  }

  /** Waits until some answer came from a node other than `from` after t0; returns its time. */
  async otherNodeAfter(t0: number, from: string, timeoutMs: number): Promise<number> {
    return eventually(`an answer from a node other than ${from}`, () => this.changes.find(([t, n]) => t >= t0 && n !== from)?.[0], timeoutMs, 20);
  }

  /** Waits until an answer came from `node` after t0. */
  async nodeAfter(t0: number, node: string, timeoutMs: number): Promise<number> {
    return eventually(`an answer from ${node}`, () => this.changes.find(([t, n]) => t >= t0 && n === node)?.[0] ?? (this.current() === node ? t0 : undefined), timeoutMs, 20);
  }

  /** Stops the probe; resolves to how many requests succeeded and failed, and its longest stall. */
  async stop(): Promise<{ ok: number; fail: number; maxLagMs: number }> {
    this.#proc.kill('SIGTERM');
    await Promise.race([this.#done, new Promise((r) => setTimeout(r, 5000))]);
    return this.#summary ?? { ok: 0, fail: this.failures.length, maxLagMs: 0 };
  }
}
