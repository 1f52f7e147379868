/**
 * A process's view of the ironlb.io objects (the controller's, and the speaker's): it finds out
 * whether the CRDs are installed and readable, and only then watches IPAddressPools,
 * L2Advertisements and, when asked, Namespaces (for namespaceSelectors) and Nodes (for which nodes
 * an advertisement selects; a speaker has its own Node informer). A cluster with only
 * the legacy ConfigMap keeps working exactly as before: no CRD, no informer, no readiness wait on
 * a resource that does not exist. When the CRDs appear later (or the RBAC to read them), the next
 * check (every `recheckMs`) starts the watches and the config is recomputed.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Namespace, type V1Node } from '@kubernetes/client-node';
import { makeApiClient } from './clients.js';
import {
  IRONLB_GROUP,
  IRONLB_VERSION,
  type IPAddressPoolObject,
  type L2AdvertisementObject,
  PLURALS,
  ipAddressPoolInformer,
  l2AdvertisementInformer,
  namespaceInformer,
  servedResources,
} from './crds.js';
import { type ApiHealth, type BackoffOptions, DEFAULT_BACKOFF, backoffDelay } from './health.js';
import type { ResilientInformer } from './informer.js';
import { nodeInformer } from './informers.js';
import type { Logger } from 'pino';

/** Whether the controller reads ironlb.io objects: auto (if installed), on (wait for them), off. */
export type CrdMode = 'auto' | 'on' | 'off';

/** Options of ConfigObjects. */
export interface ConfigObjectsOptions {
  kc: KubeConfig;
  log: Logger;
  namespace: string;
  mode: CrdMode;
  health?: ApiHealth | undefined;
  backoff?: BackoffOptions | undefined;
  /** How often a missing CRD (or a 403) is checked again (default 60 s). */
  recheckMs?: number;
  /** Also watch Namespaces and Nodes (default both true; a speaker has its own Node informer). */
  watchNamespaces?: boolean;
  watchNodes?: boolean;
}

/** The informers, once started (namespaces/nodes only when asked for). */
export interface ObjectInformers {
  pools: ResilientInformer<IPAddressPoolObject>;
  advertisements: ResilientInformer<L2AdvertisementObject>;
  namespaces: ResilientInformer<V1Namespace> | undefined;
  nodes: ResilientInformer<V1Node> | undefined;
}

/** What changed, for the controller's handlers. */
export type ObjectChange = 'pools' | 'advertisements' | 'namespaces' | 'nodes' | 'started';

function codeOf(err: unknown): number | undefined {
  return (err as { code?: number } | null)?.code;
}

/** Detects, then watches, the ironlb.io objects. */
export class ConfigObjects {
  readonly #o: ConfigObjectsOptions;
  #inf: ObjectInformers | undefined;
  #handlers: ((change: ObjectChange, old?: unknown, obj?: unknown) => void)[] = [];
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #abort = new AbortController();

  constructor(o: ConfigObjectsOptions) {
    this.#o = o;
  }

  /** The informers while watching (undefined: CRDs absent, unreadable, or mode off). */
  get informers(): ObjectInformers | undefined {
    return this.#inf;
  }

  /** Registers a change handler (called synchronously, after the informers' own caches updated). */
  on(handler: (change: ObjectChange, old?: unknown, obj?: unknown) => void): void {
    this.#handlers.push(handler);
  }

  /**
   * Finds out whether to watch; if so, starts the informers and waits for their first list. Waits
   * out an unreachable API like the informers do; rejects only when stopped.
   */
  async start(): Promise<void> {
    if (this.#o.mode === 'off') return;
    const ok = await this.#probe();
    if (ok) await this.#startInformers();
    else this.#scheduleRecheck();
  }

  /** Stops the watches and the re-check. */
  stop(): void {
    this.#stopped = true;
    this.#abort.abort();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#inf !== undefined) for (const i of [this.#inf.pools, this.#inf.advertisements, this.#inf.namespaces, this.#inf.nodes]) i?.stop();
  }

  #emit(change: ObjectChange, old?: unknown, obj?: unknown): void {
    for (const h of this.#handlers) {
      try {
        h(change, old, obj);
      } catch (err) {
        this.#o.log.error({ err, op: 'configObjects' }, 'config object handler threw');
      }
    }
  }

  /** True when the CRDs are served and readable; false when absent or forbidden (re-checked later). */
  async #probe(): Promise<boolean> {
    const { log, kc, namespace } = this.#o;
    for (let attempt = 1; !this.#stopped; attempt++) {
      try {
        const served = await servedResources(kc);
        const missing = [PLURALS.IPAddressPool, PLURALS.L2Advertisement].filter((p) => served === undefined || !served.has(p));
        if (missing.length > 0) {
          if (this.#o.mode === 'on') log.warn({ op: 'crds', missing }, 'the ironlb.io CRDs are not installed (kubectl apply -f deploy/ironlb.yaml); waiting for them');
          else log.info({ op: 'crds', missing }, 'ironlb.io CRDs not installed: using the address-pool ConfigMap only');
          return false;
        }
        const custom = makeApiClient(kc, CustomObjectsApi);
        const core = makeApiClient(kc, CoreV1Api);
        await custom.listNamespacedCustomObject({ group: IRONLB_GROUP, version: IRONLB_VERSION, namespace, plural: PLURALS.IPAddressPool, limit: 1 });
        await custom.listNamespacedCustomObject({ group: IRONLB_GROUP, version: IRONLB_VERSION, namespace, plural: PLURALS.L2Advertisement, limit: 1 });
        if (this.#o.watchNamespaces !== false) await core.listNamespace({ limit: 1 });
        if (this.#o.watchNodes !== false) await core.listNode({ limit: 1 });
        return true;
      } catch (err) {
        if (codeOf(err) === 403) {
          log.error(
            { op: 'crds', err },
            'the ironlb.io CRDs are installed but this process may not read them (or Namespaces/Nodes): apply deploy/ironlb.yaml (it has their RBAC); using the ConfigMap only meanwhile',
          );
          return false;
        }
        const delay = backoffDelay(attempt, this.#o.backoff ?? DEFAULT_BACKOFF);
        if (attempt === 1) log.warn({ op: 'crds', err, retryMs: delay }, 'cannot tell whether the ironlb.io CRDs are installed yet; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    return false;
  }

  #scheduleRecheck(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#probe()
        .then(async (ok) => {
          if (!ok) return this.#scheduleRecheck();
          await this.#startInformers();
          this.#o.log.info({ op: 'crds' }, 'ironlb.io CRDs now readable: watching IPAddressPools and L2Advertisements');
          this.#emit('started');
        })
        .catch(() => this.#scheduleRecheck());
    }, this.#o.recheckMs ?? 60_000);
    this.#timer.unref();
  }

  async #startInformers(): Promise<void> {
    const ctx = { kc: this.#o.kc, log: this.#o.log, health: this.#o.health, backoff: this.#o.backoff };
    const inf: ObjectInformers = {
      pools: ipAddressPoolInformer(ctx, this.#o.namespace),
      advertisements: l2AdvertisementInformer(ctx, this.#o.namespace),
      namespaces: this.#o.watchNamespaces === false ? undefined : namespaceInformer(ctx),
      nodes: this.#o.watchNodes === false ? undefined : nodeInformer(ctx),
    };
    inf.pools.on((_e, obj, old) => this.#emit('pools', old, obj));
    inf.advertisements.on((_e, obj, old) => this.#emit('advertisements', old, obj));
    inf.namespaces?.on((_e, obj, old) => this.#emit('namespaces', old, obj));
    inf.nodes?.on((_e, obj, old) => this.#emit('nodes', old, obj));
    this.#inf = inf;
    const signal = this.#abort.signal;
    await Promise.all([inf.pools.start(signal), inf.advertisements.start(signal), inf.namespaces?.start(signal), inf.nodes?.start(signal)]);
  }
}
