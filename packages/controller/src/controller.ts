/**
 * The controller process wiring: informers on the address-pool ConfigMap, on Services and on the
 * memberlist Secret feed a keyed queue; the ServiceReconciler decides, the ServiceWriter and
 * EventRecorder act. The Kubernetes API may go away at any time: informers keep their caches and
 * retry forever, failed status writes are retried by the queue, /readyz says "degraded" and
 * /healthz stays OK; the controller catches up when the API returns.
 */
import type { KubeConfig, V1ConfigMap, V1Secret, V1Service } from '@kubernetes/client-node';
import { Allocator, type Config, type ConfigError, isConfigError, parseConfig, quote } from '@ironlb/core';
import {
  ApiHealth,
  type BackoffOptions,
  EventRecorder,
  LogLimiter,
  MEMBERLIST_SECRET,
  type Readiness,
  type ResilientInformer,
  ServiceWriter,
  configMapInformer,
  secretInformer,
  serviceInformer,
} from '@ironlb/k8s';
import type { Logger } from 'pino';
import { DEFAULT_MAX_RELEASE, type Holder, MAX_RELEASE_ANNOTATION, parseMaxRelease, releaseVerdict, strandedBy } from './config-guard.js';
import { type ConfigRejection, ControllerMetrics } from './metrics.js';
import { PendingServices } from './pending.js';
import { KeyedQueue } from './queue.js';
import { type ControllerPort, ServiceReconciler, isTerminating } from './reconciler.js';
import { MemberlistSecretKeeper } from './secret-keeper.js';
import { POOL_ANNOTATION, ingressIPs, isHandled, serviceKey, serviceRecord } from './service-record.js';

/** Options of the controller. */
export interface ControllerOptions {
  kc: KubeConfig;
  log: Logger;
  /** Namespace of the ConfigMap and the memberlist Secret (default ironlb-system). */
  namespace: string;
  /** Name of the address-pool ConfigMap (default config); the YAML is under its key `config`. */
  configMapName?: string;
  /** Only Services with this loadBalancerClass; undefined: only Services without a class. */
  lbClass?: string | undefined;
  /** Concurrent Service reconciles (default 32). */
  concurrency?: number;
  metrics?: ControllerMetrics;
  /** Services a new config may strip of their IPs without the max-ip-release annotation (default 10). */
  maxRelease?: number;
  /** Retry pacing of informers, status writes and the Secret (tests use short ones). */
  backoff?: BackoffOptions;
  /** @deprecated Never called: the controller rides out API outages instead of exiting. */
  onFatal?: (err: Error) => void;
}

function createdMs(s: V1Service): number {
  return new Date(s.metadata?.creationTimestamp ?? 0).getTime();
}

/** The running controller. */
export class Controller {
  readonly metrics: ControllerMetrics;
  readonly allocator = new Allocator();
  /** The process's view of the Kubernetes API (readiness, metrics). */
  readonly health: ApiHealth;
  readonly #opts: ControllerOptions;
  readonly #log: Logger;
  readonly #writer: ServiceWriter;
  readonly #events: EventRecorder;
  readonly #reconciler: ServiceReconciler;
  readonly #queue: KeyedQueue;
  readonly #services: ResilientInformer<V1Service>;
  readonly #configMaps: ResilientInformer<V1ConfigMap>;
  readonly #secrets: ResilientInformer<V1Secret>;
  readonly #keeper: MemberlistSecretKeeper;
  readonly #pending = new PendingServices();
  readonly #failureLog = new LogLimiter(30_000);
  readonly #abort = new AbortController();
  /** The config in force and the (annotation, text) it came from. */
  #config: Config | undefined;
  #appliedSig: string | undefined;
  #rejectedSig: string | undefined;
  #stale = false;
  #started = false;

  constructor(opts: ControllerOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.metrics = opts.metrics ?? new ControllerMetrics();
    this.health = new ApiHealth({ log: opts.log.child({ component: 'api' }) });
    this.#writer = new ServiceWriter(opts.kc);
    this.#events = new EventRecorder(opts.kc, 'ironlb-controller', opts.log);
    const port: ControllerPort = {
      setStatus: async (svc, ips, pool) =>
        this.#write(() => this.#writer.setStatus(svc.metadata?.namespace ?? '', svc.metadata?.name ?? '', ips, { [POOL_ANNOTATION]: pool })),
      event: (svc, type, reason, message) => {
        void this.#events.record(
          { kind: 'Service', apiVersion: 'v1', namespace: svc.metadata?.namespace ?? '', name: svc.metadata?.name ?? '', uid: svc.metadata?.uid },
          type,
          reason,
          message,
        );
      },
    };
    this.#reconciler = new ServiceReconciler({ allocator: this.allocator, port, log: opts.log.child({ component: 'reconciler' }), lbClass: opts.lbClass });
    this.#queue = new KeyedQueue(async (key) => this.#work(key), {
      concurrency: opts.concurrency ?? 32,
      ...(opts.backoff !== undefined ? { backoff: opts.backoff } : {}),
      onFailure: (key, attempt, err) => this.#onFailure(key, attempt, err),
    });
    const ctx = { kc: opts.kc, log: opts.log, health: this.health, backoff: opts.backoff };
    this.#configMaps = configMapInformer(ctx, opts.namespace, this.#configName());
    this.#services = serviceInformer(ctx);
    this.#secrets = secretInformer(ctx, opts.namespace, MEMBERLIST_SECRET);
    this.#keeper = new MemberlistSecretKeeper({
      kc: opts.kc,
      namespace: opts.namespace,
      log: opts.log.child({ component: 'secret' }),
      events: this.#events,
      informer: this.#secrets,
      ...(opts.backoff !== undefined ? { backoff: opts.backoff } : {}),
    });
    this.metrics.bind({ pools: () => this.allocator.allPoolStats(), events: () => this.#events.stats(), pending: () => this.#pending.size });
    this.metrics.addGauges(this.health.gauges());
  }

  /**
   * Syncs the informers (waiting for the API as long as it takes), loads the config, runs a first
   * pass and keeps the memberlist Secret. Rejects only if stopped before it synced.
   */
  async start(): Promise<void> {
    const { namespace } = this.#opts;
    this.#configMaps.on((ev, cm) => (ev === 'delete' ? this.#configDeleted() : this.#applyConfig(cm)));
    this.#services.on((_ev, svc) => {
      if (this.#config !== undefined) this.#queue.add(serviceKey(svc));
    });
    const signal = this.#abort.signal;
    // Services first: the config guard judges a new config against the IPs Services hold.
    await this.#services.start(signal);
    await Promise.all([this.#configMaps.start(signal), this.#secrets.start(signal)]);
    this.#started = true;
    this.#keeper.check();
    if (this.#config === undefined) {
      this.#log.warn({ op: 'config', namespace, configMap: this.#configName() }, 'no valid address-pool ConfigMap yet; idle until one exists');
    }
  }

  /** Stops watching and processing (also ends a start() still waiting for the API). */
  stop(): void {
    this.#abort.abort();
    this.#services.stop();
    this.#configMaps.stop();
    this.#secrets.stop();
    this.#keeper.stop();
    this.#queue.stop();
  }

  /** Ready once synced, while the API is reachable (see readiness() for the detail). */
  ready(): boolean {
    return this.readiness().ok;
  }

  /** /readyz: starting, ok, or degraded while the API is unreachable (the last state is kept). */
  readiness(): Readiness {
    const r = this.health.readiness();
    if (r.ok && !this.#started) return { ok: false, state: 'starting', detail: 'starting: loading the address-pool config' };
    return r;
  }

  /**
   * Liveness: true. Nothing a restart fixes goes wrong silently here: an unreachable API is a
   * readiness matter, and a restart would only drop the state the controller is keeping.
   */
  healthy(): boolean {
    return true;
  }

  /** Resolves when the work queue is empty (for tests and benchmarks). */
  async idle(): Promise<void> {
    await this.#queue.idle();
  }

  /** Services waiting for an IP, oldest first (tests, diagnostics). */
  pendingServices(): string[] {
    return this.#pending.oldestFirst();
  }

  #configName(): string {
    return this.#opts.configMapName ?? 'config';
  }

  async #write(fn: () => Promise<unknown>): Promise<void> {
    this.metrics.updates.inc();
    try {
      await fn();
    } catch (err) {
      this.metrics.updateErrors.inc();
      throw err;
    }
  }

  #onFailure(key: string, attempt: number, err: unknown): void {
    const kind = err === undefined ? 'retry' : 'error';
    this.metrics.reconcileFailures.inc({ kind });
    // A throw is a bug: always worth a (rate-limited) line. A 'retry' was logged by the reconciler.
    if (err === undefined) return;
    const suppressed = this.#failureLog.take(kind);
    if (suppressed !== undefined) this.#log.error({ op: 'reconcile', svc: key, attempt, err, suppressed }, 'reconcile threw; will retry');
  }

  async #work(key: string): Promise<'done' | 'retry'> {
    const [ns = '', name = ''] = key.split('/');
    const svc = this.#services.get(name, ns);
    const held = [...(this.allocator.allocationOf(key)?.addresses ?? [])];
    const verdict = await this.#reconciler.reconcile(key, svc);
    this.#track(key, this.#services.get(name, ns));
    if (held.length > 0) this.#handOut(held);
    return verdict === 'retry' ? 'retry' : 'done';
  }

  /** Keeps the pending set in step with what the allocator and the cache say about `key`. */
  #track(key: string, svc: V1Service | undefined): void {
    if (svc !== undefined && isHandled(svc, this.#opts.lbClass) && !isTerminating(svc) && this.allocator.allocationOf(key) === undefined) {
      this.#pending.add(key, createdMs(svc));
    } else {
      this.#pending.delete(key);
    }
  }

  /**
   * Offers IPs that were just freed to the Services waiting longest. Each try is an in-memory
   * allocation with no log, Event or API call; the walk stops once every freed IP is taken, so
   * the cost per freed IP does not grow with the number of waiting Services (unless the oldest
   * ones cannot use it). Winners are queued; their reconcile writes the status and the Event.
   */
  #handOut(ips: readonly string[]): void {
    const free = (): boolean => ips.some((ip) => this.allocator.usersOf(ip).length === 0 && this.allocator.poolOf(ip) !== undefined);
    if (this.#config === undefined || !free()) return;
    this.#pending.walk((key) => {
      const [ns = '', name = ''] = key.split('/');
      const svc = this.#services.get(name, ns);
      if (svc === undefined) {
        this.#pending.delete(key);
        return true;
      }
      if (this.#reconciler.claim(svc)) {
        this.#pending.delete(key);
        this.#queue.add(key);
      }
      return free();
    });
  }

  /**
   * Every Service, Services that hold IPs first: re-admit their IPs, then reconcile all, pending
   * ones in creation order (MetalLB's restart fix: nobody grabs an IP that is in use).
   */
  #fullPass(): void {
    if (this.#config === undefined) return;
    const withIP: V1Service[] = [];
    const pending: V1Service[] = [];
    for (const s of this.#services.list()) (ingressIPs(s).length > 0 ? withIP : pending).push(s);
    pending.sort((a, b) => createdMs(a) - createdMs(b) || serviceKey(a).localeCompare(serviceKey(b)));
    this.#reconciler.readmit(withIP);
    for (const s of [...withIP, ...pending]) this.#queue.add(serviceKey(s));
  }

  /** Services holding IPs in their status, oldest first: what a new config must not strip. */
  #holders(): Holder[] {
    const out: (Holder & { t: number })[] = [];
    for (const s of this.#services.list()) {
      if (!isHandled(s, this.#opts.lbClass)) continue;
      const ips = ingressIPs(s);
      if (ips.length === 0) continue;
      const rec = serviceRecord(s);
      if (rec.ok) out.push({ record: rec.record, ips, t: createdMs(s) });
    }
    return out.sort((a, b) => a.t - b.t || a.record.key.localeCompare(b.record.key));
  }

  #configEvent(cm: V1ConfigMap, type: 'Normal' | 'Warning', reason: string, message: string): void {
    void this.#events.record(
      { kind: 'ConfigMap', apiVersion: 'v1', namespace: cm.metadata?.namespace ?? this.#opts.namespace, name: cm.metadata?.name ?? '', uid: cm.metadata?.uid },
      type,
      reason,
      message,
    );
  }

  #applyConfig(cm: V1ConfigMap): void {
    const text = cm.data?.['config'];
    const allowText = cm.metadata?.annotations?.[MAX_RELEASE_ANNOTATION];
    const sig = `${allowText ?? ''}\u0000${text ?? '\u0000missing'}`;
    if (sig === this.#appliedSig) {
      // The ConfigMap is back to the config in force (e.g. a bad edit reverted): say it is fresh again.
      if (this.#stale) {
        this.#stale = false;
        this.#rejectedSig = undefined;
        this.metrics.configStale.set(0);
        this.#log.info({ op: 'config' }, 'the ConfigMap matches the config in force again');
        this.#configEvent(cm, 'Normal', 'ConfigLoaded', 'the ConfigMap matches the config in force again');
      }
      return;
    }
    if (sig === this.#rejectedSig) return; // same rejected content (only other metadata changed): said already
    if (text === undefined) return this.#reject(cm, sig, 'missingKey', 'the ConfigMap has no data key "config"');
    const parsed = parseConfig(text);
    if (isConfigError(parsed)) return this.#reject(cm, sig, 'invalid', parsed.message, parsed);
    if (parsed.blank) {
      return this.#reject(cm, sig, 'blank', 'the "config" key is empty (no YAML content); to remove every pool on purpose write "address-pools: []"');
    }
    const allow = parseMaxRelease(allowText);
    if (allow.problem !== undefined) this.#configEvent(cm, 'Warning', 'InvalidConfig', allow.problem);
    const holders = this.#holders();
    const stranded = strandedBy(parsed, this.#config, holders);
    const verdict = releaseVerdict(stranded, holders.length, allow.limit, { namespace: cm.metadata?.namespace ?? this.#opts.namespace, name: this.#configName() }, this.#opts.maxRelease ?? DEFAULT_MAX_RELEASE);
    if (!verdict.ok) return this.#reject(cm, sig, 'unsafeRelease', verdict.message ?? 'refused', undefined, 'ConfigRefused');

    this.#appliedSig = sig;
    this.#rejectedSig = undefined;
    this.#stale = false;
    this.#config = parsed;
    const evicted = this.allocator.setConfig(parsed);
    this.metrics.configStale.set(0);
    this.metrics.configLoaded.set(1);
    const names = parsed.pools.map((p) => p.name);
    this.#log.info({ op: 'config', pools: names.slice(0, 50), poolCount: names.length, evicted: evicted.slice(0, 50), evictedCount: evicted.length, stranded: stranded.length }, 'address-pool config loaded');
    const listed = names.slice(0, 20).map((n) => quote(n)).join(', ') + (names.length > 20 ? `, and ${names.length - 20} more` : '');
    this.#configEvent(cm, 'Normal', 'ConfigLoaded', `loaded ${names.length} address pool(s): ${listed || '(none)'}`);
    if (stranded.length > 0) {
      this.#configEvent(cm, 'Warning', 'IPsReleased', `this config took the IPs away from ${stranded.length} Service(s) (${stranded.slice(0, 5).join(', ')}${stranded.length > 5 ? ', …' : ''}); they get new IPs`);
    }
    for (const w of parsed.warnings.slice(0, 10)) {
      this.#log.warn({ op: 'config', warning: w }, 'address-pool config warning');
      this.#configEvent(cm, 'Warning', 'ConfigWarning', w);
    }
    this.#fullPass();
  }

  #reject(cm: V1ConfigMap, sig: string, why: ConfigRejection, message: string, parsed?: ConfigError, reason = 'InvalidConfig'): void {
    this.#rejectedSig = sig;
    this.#stale = true;
    this.metrics.configStale.set(1);
    this.metrics.configRejections.inc({ reason: why });
    const kept = this.#config === undefined ? 'no valid config was loaded before, staying idle' : 'keeping the last good config';
    // The log line carries the bounded error list, not an unbounded joined message.
    const fields = parsed === undefined ? { err: message } : { errors: parsed.errors, omitted: parsed.omitted };
    this.#log.error({ op: 'config', reason: why, configMap: cm.metadata?.name, ...fields }, `address-pool config not applied; ${kept}`);
    this.#configEvent(cm, 'Warning', reason, why === 'unsafeRelease' ? message : `invalid config, ${kept}: ${message}`);
  }

  #configDeleted(): void {
    this.#appliedSig = undefined;
    this.#rejectedSig = undefined;
    if (this.#config === undefined) return;
    this.#stale = true;
    this.metrics.configStale.set(1);
    this.#log.warn({ op: 'config', namespace: this.#opts.namespace }, 'address-pool ConfigMap deleted; keeping the last good config');
  }
}
