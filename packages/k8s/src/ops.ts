/**
 * The operational HTTP endpoint of both processes: /healthz (liveness), /readyz (readiness) and
 * /metrics. Probes must be reachable by the kubelet: for a Pod-network Pod it connects to the
 * Pod IP, so the health address is 0.0.0.0 by default; for a hostNetwork Pod it connects to the
 * node IP (or to 127.0.0.1 if the probe sets `host: 127.0.0.1`). /metrics tells an attacker on
 * the segment which IPs and pools exist and how the process is doing, so it is served on
 * loopback only unless the operator opts in with a metrics address (MetalLB ≥ 0.14 puts it behind
 * kube-rbac-proxy for the same reason); `kubectl port-forward` reaches loopback.
 *
 * When the health and metrics addresses share a port, one listener serves both and /metrics is
 * answered only on connections that arrived at the metrics address: exactly what binding a
 * second socket to it would give, without the EADDRINUSE that 0.0.0.0:P and 127.0.0.1:P cause.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readiness } from './health.js';

/** What the ops server exposes. */
export interface OpsHandlers {
  metrics(): Promise<string>;
  metricsContentType: string;
  /** Liveness: false only when a restart would help. */
  healthy(): boolean;
  /** Readiness: a boolean, or a verdict whose detail becomes the response body. */
  ready(): boolean | Readiness;
}

/** Where the ops endpoints listen. */
export interface OpsServerOptions {
  /** /healthz and /readyz; default 0.0.0.0:7472. */
  healthHost?: string;
  healthPort?: number;
  /** /metrics; default 127.0.0.1 on the health port. */
  metricsHost?: string;
  metricsPort?: number;
  handlers: OpsHandlers;
}

/** A running ops server. */
export interface OpsServer {
  /** Where /healthz and /readyz answer (the real port when 0 was asked for). */
  readonly health: AddressInfo;
  /** Where /metrics answers. */
  readonly metrics: AddressInfo;
  close(): Promise<void>;
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** Loopback and IPv4-mapped spellings of a local address, normalized for comparison. */
function norm(addr: string): string {
  const a = addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
  return a === 'localhost' ? '127.0.0.1' : a;
}

/** True when a connection that arrived at `local` counts as arriving at `host`. */
function arrivedAt(host: string, local: string | undefined): boolean {
  if (WILDCARDS.has(host)) return true;
  if (local === undefined) return false;
  const h = norm(host);
  const l = norm(local);
  if (h === l) return true;
  // "localhost" may be reached over either loopback family.
  return host === 'localhost' && (l === '127.0.0.1' || l === '::1');
}

function broader(a: string, b: string): string | undefined {
  if (norm(a) === norm(b)) return a;
  if (WILDCARDS.has(a)) return a;
  if (WILDCARDS.has(b)) return b;
  return undefined;
}

interface Route {
  probes: string | undefined;
  metrics: string | undefined;
}

function handle(h: OpsHandlers, route: Route, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0];
  const local = req.socket.localAddress;
  if (path === '/metrics' && route.metrics !== undefined) {
    if (!arrivedAt(route.metrics, local)) {
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end(`metrics are served on ${route.metrics} only (see --metrics-host)\n`);
      return;
    }
    h.metrics().then(
      (body) => {
        res.writeHead(200, { 'content-type': h.metricsContentType });
        res.end(body);
      },
      () => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('metrics unavailable\n');
      },
    );
    return;
  }
  if ((path === '/healthz' || path === '/readyz') && route.probes !== undefined && arrivedAt(route.probes, local)) {
    let ok: boolean;
    let body: string;
    if (path === '/healthz') {
      ok = h.healthy();
      body = ok ? 'ok' : 'not ok';
    } else {
      const r = h.ready();
      ok = typeof r === 'boolean' ? r : r.ok;
      body = typeof r === 'boolean' ? (r ? 'ok' : 'not ready') : r.detail;
    }
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
    res.end(`${body}\n`);
    return;
  }
  res.writeHead(404);
  res.end();
}

async function listen(host: string, port: number, route: Route, h: OpsHandlers): Promise<Server> {
  const server = createServer((req, res) => handle(h, route, req, res));
  // Probes and scrapes are tiny; a slow client must not hold a socket for minutes.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // "" means every address of every family (Node's default); 0.0.0.0 is IPv4 only.
    server.listen(port, host === '' ? undefined : host, () => resolve());
  });
  server.unref();
  return server;
}

/**
 * Starts the ops endpoints with the safe split (probes on the health address, /metrics on the
 * metrics address, loopback by default), or, in the legacy form `(host, port, handlers)`, all
 * three on one address for everyone as before (kept for callers not yet converted).
 */
export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer>;
/** @deprecated Serves /metrics to anyone who can reach host:port; use the options form. */
export async function startOpsServer(host: string, port: number, h: OpsHandlers): Promise<Server>;
export async function startOpsServer(a: OpsServerOptions | string, port?: number, legacy?: OpsHandlers): Promise<OpsServer | Server> {
  if (typeof a === 'string') {
    if (legacy === undefined || port === undefined) throw new Error('startOpsServer(host, port, handlers): handlers missing');
    return listen(a, port, { probes: a, metrics: '0.0.0.0' }, legacy);
  }
  const healthHost = a.healthHost ?? '0.0.0.0';
  const healthPort = a.healthPort ?? 7472;
  const metricsHost = a.metricsHost ?? '127.0.0.1';
  const metricsPort = a.metricsPort ?? healthPort;
  const servers: Server[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(servers.map(async (s) => new Promise<void>((r) => s.close(() => r()))));
  };
  try {
    if (healthPort === metricsPort) {
      const shared = broader(healthHost, metricsHost);
      if (shared !== undefined) {
        const s = await listen(shared, healthPort, { probes: healthHost, metrics: metricsHost }, a.handlers);
        servers.push(s);
        const addr = s.address() as AddressInfo;
        return { health: addr, metrics: addr, close };
      }
    }
    const hs = await listen(healthHost, healthPort, { probes: healthHost, metrics: undefined }, a.handlers);
    servers.push(hs);
    const ms = await listen(metricsHost, metricsPort, { probes: undefined, metrics: metricsHost }, a.handlers);
    servers.push(ms);
    return { health: hs.address() as AddressInfo, metrics: ms.address() as AddressInfo, close };
  } catch (err) {
    await close();
    throw new Error(`cannot listen for health on ${healthHost}:${healthPort} and metrics on ${metricsHost}:${metricsPort}`, { cause: err });
  }
}
