/**
 * Every API client of a process is built here, so all of them share one keep-alive connection
 * pool and one request timeout. client-node 1.4.0 builds a new https.Agent for every request
 * (config.js `applySecurityAuthentication`), so each call paid a TCP + TLS handshake: ~100 ms per
 * status write on a busy 2-core machine. The fix uses only public API: a request middleware
 * (client-node's supported per-client hook, applied after authentication) swaps in a shared
 * agent built from the kubeconfig's TLS settings (`applyToHTTPSOptions`). Credentials still go
 * per request (tokens are re-read by the library); the TLS material is re-read every few minutes
 * so a rotated CA or client certificate is picked up. Watches are long-lived single requests and
 * keep client-node's own agent.
 */
import http from 'node:http';
import https from 'node:https';
import { type Configuration, CoreV1Api, DiscoveryV1Api, type KubeConfig, type RequestContext, type ResponseContext, ServerConfiguration, createConfiguration } from '@kubernetes/client-node';

/** Options of the shared client configuration. */
export interface ApiClientOptions {
  /** Per-request timeout (ms) for every non-watch call; default 60 s. A hung API server must not hang a reconcile forever. */
  timeoutMs?: number;
  /** How often the TLS material is re-read (ms); default 5 min. */
  tlsRefreshMs?: number;
}

/** The API groups ironlb uses, all on one connection pool. */
export interface ApiClients {
  readonly core: CoreV1Api;
  readonly discovery: DiscoveryV1Api;
}

interface Shared {
  configuration: Configuration;
  clients: Map<unknown, unknown>;
  pool: AgentPool;
}

const perKubeConfig = new WeakMap<KubeConfig, Shared>();

/** A keep-alive agent for the kubeconfig's cluster, rebuilt when its TLS material changes. */
class AgentPool {
  readonly #kc: KubeConfig;
  readonly #refreshMs: number;
  #agent: http.Agent | undefined;
  #fingerprint = '';
  #checkedAt = 0;
  #pending: Promise<http.Agent> | undefined;
  /** Agents built so far (1 unless TLS material rotated); the socket-reuse test reads it. */
  built = 0;

  constructor(kc: KubeConfig, refreshMs: number) {
    this.#kc = kc;
    this.#refreshMs = refreshMs;
  }

  async agent(): Promise<http.Agent> {
    if (this.#agent !== undefined && Date.now() - this.#checkedAt < this.#refreshMs) return this.#agent;
    this.#pending ??= this.#refresh().finally(() => (this.#pending = undefined));
    return this.#pending;
  }

  async #refresh(): Promise<http.Agent> {
    const opts: https.RequestOptions = {};
    await this.#kc.applyToHTTPSOptions(opts);
    // applyToHTTPSOptions also builds a throw-away agent (no sockets); only the settings matter.
    const tls = { ca: opts.ca, cert: opts.cert, key: opts.key, pfx: opts.pfx, passphrase: opts.passphrase, servername: opts.servername, rejectUnauthorized: opts.rejectUnauthorized };
    const fingerprint = JSON.stringify(tls, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('base64') : v));
    this.#checkedAt = Date.now();
    if (this.#agent !== undefined && fingerprint === this.#fingerprint) return this.#agent;
    const old = this.#agent;
    const server = this.#kc.getCurrentCluster()?.server ?? '';
    // Watches hold their own sockets (client-node's agent); this pool serves bursts of writes.
    const common = { keepAlive: true, maxSockets: 64, maxFreeSockets: 16, scheduling: 'lifo' as const };
    this.#agent = server.startsWith('http:') ? new http.Agent(common) : new https.Agent({ ...definedOnly(tls), ...common });
    this.#fingerprint = fingerprint;
    this.built++;
    // In-flight requests on the old agent finish; its idle sockets are closed now.
    if (old !== undefined) setTimeout(() => old.destroy(), 60_000).unref();
    return this.#agent;
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function shared(kc: KubeConfig, opts: ApiClientOptions): Shared {
  const have = perKubeConfig.get(kc);
  if (have !== undefined) return have;
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new Error('the kubeconfig has no current cluster');
  const pool = new AgentPool(kc, opts.tlsRefreshMs ?? 300_000);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  // A proxied cluster keeps client-node's proxy agent (one per request, as before).
  const proxied = Boolean(cluster.proxyUrl);
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kc },
    promiseMiddleware: [
      {
        pre: async (ctx: RequestContext): Promise<RequestContext> => {
          if (!proxied) ctx.setAgent(await pool.agent());
          const signal = AbortSignal.timeout(timeoutMs);
          const mine = ctx.getSignal();
          ctx.setSignal(mine === undefined ? signal : AbortSignal.any([mine, signal]));
          return ctx;
        },
        post: async (rsp: ResponseContext): Promise<ResponseContext> => Promise.resolve(rsp),
      },
    ],
  });
  const s: Shared = { configuration, clients: new Map(), pool };
  perKubeConfig.set(kc, s);
  return s;
}

/**
 * A client of any generated API class (`CoreV1Api`, `CoordinationV1Api`, ...) on the shared pool.
 * One instance per class and kubeconfig. Per-call options (e.g. `setHeaderOptions` for a merge
 * patch) must append middleware, as client-node's helpers do, or they replace this one.
 */
export function makeApiClient<T>(kc: KubeConfig, apiClass: new (configuration: Configuration) => T, opts: ApiClientOptions = {}): T {
  const s = shared(kc, opts);
  let client = s.clients.get(apiClass) as T | undefined;
  if (client === undefined) {
    client = new apiClass(s.configuration);
    s.clients.set(apiClass, client);
  }
  return client;
}

/** The core and discovery clients of this kubeconfig, on one keep-alive pool. */
export function apiClients(kc: KubeConfig, opts: ApiClientOptions = {}): ApiClients {
  return { core: makeApiClient(kc, CoreV1Api, opts), discovery: makeApiClient(kc, DiscoveryV1Api, opts) };
}

/** How many keep-alive agents were built for this kubeconfig (tests: 1 means one pool). */
export function agentsBuilt(kc: KubeConfig): number {
  return perKubeConfig.get(kc)?.pool.built ?? 0;
}
