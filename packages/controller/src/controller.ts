/**
 * The controller process wiring: informers on the address-pool ConfigMap, on Services and on the
 * memberlist Secret (and, when the ironlb.io CRDs are installed, on IPAddressPools,
 * L2Advertisements, Namespaces and Nodes) feed a keyed queue; the ServiceReconciler decides, the
 * ServiceWriter and EventRecorder act. The Kubernetes API may go away at any time: informers keep
 * their caches and retry forever, failed status writes are retried by the queue, /readyz says
 * "degraded" and /healthz stays OK; the controller catches up when the API returns.
 *
 * Configuration: the ConfigMap's config (legacy) and the ironlb.io objects are merged by core's
 * buildConfig (rules in packages/core/src/crd.ts). Every candidate config passes the mass-release
 * guard before it is put in force; a refused or invalid one changes nothing. The optional
 * admission webhook (webhook/) answers from the same caches with the same rules.
 */
import type { KubeConfig, V1ConfigMap, V1Namespace, V1Secret, V1Service } from '@kubernetes/client-node';
import { Allocator, type BuildResult, type Config, type ConfigError, type Labels, type NodeInfo, advertisementKey, isConfigError, parseConfig, poolKey, quote, unannouncedPools } from '@ironlb/core';
import {
  ApiHealth,
  type BackoffOptions,
  CoalescingWriter,
  ConfigObjects,
  type CrdMode,
  type Condition,
  EventRecorder,
  IRONLB_API_VERSION,
  IRONLB_GROUP,
  IRONLB_VERSION,
  LogLimiter,
  MEMBERLIST_SECRET,
  PLURALS,
  type Readiness,
  type ResilientInformer,
  ServiceWriter,
  configFromObjects,
  configMapInformer,
  makeApiClient,
  nodeInfo,
  secretInformer,
  serviceInformer,
} from '@ironlb/k8s';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { DEFAULT_MAX_RELEASE, type Holder, MAX_RELEASE_ANNOTATION, parseMaxRelease, releaseVerdict, strandedBy } from './config-guard.js';
import { type InForceSeed, InForcePublisher } from './in-force.js';
import { type ConfigRejection, ControllerMetrics } from './metrics.js';
import { advertisementStatus, poolStatus } from './object-status.js';
import { PendingServices } from './pending.js';
import { KeyedQueue } from './queue.js';
import { type ControllerPort, ServiceReconciler, isTerminating } from './reconciler.js';
import { MemberlistSecretKeeper } from './secret-keeper.js';
import { POOL_ANNOTATION, ingressIPs, isHandled, serviceKey, serviceRecord } from './service-record.js';
import { type CertTiming, WebhookCertificates } from './webhook/certs.js';
import { WebhookCertKeeper } from './webhook/cert-keeper.js';
import { WebhookServer } from './webhook/server.js';
import { type AdmissionContext, admit } from './webhook/validate.js';

/** The Service condition saying its IPs cannot be announced (absent while they can). */
export const ADVERTISED_CONDITION = 'ironlb.io/Advertised';

/** The admission webhook's settings (its configuration is in deploy/ironlb.yaml). */
export interface WebhookOptions {
  /** Listen address (default 0.0.0.0) and port (default 9443; 0 picks one). */
  host?: string;
  port?: number;
  /** Names and IPs the serving certificate covers (default the webhook Service's DNS names). */
  hosts?: readonly string[];
  /** The ValidatingWebhookConfiguration whose caBundle the controller keeps (default ironlb-webhook). */
  configName?: string;
  /** A change that takes IPs away from Services: warn (default) or refuse. */
  strandPolicy?: 'warn' | 'refuse';
  /** Rotation and injection check period (default 60 s). */
  checkIntervalMs?: number;
  timing?: Partial<CertTiming>;
}

/** Options of the controller. */
export interface ControllerOptions {
  kc: KubeConfig;
  log: Logger;
  /** Namespace of the ConfigMap, the ironlb.io objects and the memberlist Secret (default ironlb-system). */
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
  /** Read IPAddressPools and L2Advertisements: when installed (auto, default), always (on), never (off). */
  crds?: CrdMode;
  /** How often absent CRDs are looked for again (default 60 s). */
  crdRecheckMs?: number;
  /** Serve the admission webhook (off when undefined). */
  webhook?: WebhookOptions;
  /** At most one status write per IPAddressPool/L2Advertisement per this many ms (default 1000). */
  statusIntervalMs?: number;
  /** @deprecated Never called: the controller rides out API outages instead of exiting. */
  onFatal?: (err: Error) => void;
}

function createdMs(s: V1Service): number {
  return new Date(s.metadata?.creationTimestamp ?? 0).getTime();
}

/** A signature of what the allocator and speakers use of a config (pools in order, advertisements). */
function configSignature(c: Config): string {
  return JSON.stringify([c.pools.map(poolKey), (c.l2Advertisements ?? []).map(advertisementKey)]);
}

type StatusValue = { kind: 'IPAddressPool' | 'L2Advertisement'; name: string; status: Record<string, unknown> };

/** Why a candidate config is being considered. */
type Cause = { kind: 'configmap'; cm: V1ConfigMap; sig: string; legacy: Config; allowText: string | undefined } | { kind: 'objects' };

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

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
  readonly #objects: ConfigObjects;
  readonly #statusWriter: CoalescingWriter<StatusValue>;
  readonly #pending = new PendingServices();
  readonly #failureLog = new LogLimiter(30_000);
  readonly #abort = new AbortController();
  /** The merged config in force, the ConfigMap's part of it, and the (annotation, text) it came from. */
  #config: Config | undefined;
  #configSig = '';
  #legacy: Config | undefined;
  #build: BuildResult | undefined;
  #appliedSig: string | undefined;
  #rejectedSig: string | undefined;
  #stale = false;
  #started = false;
  /** Set once the config sources are synced: before that a partial view must not be applied. */
  #sourcesReady = false;
  #recomputeScheduled = false;
  #announceScheduled: NodeJS.Timeout | undefined;
  #statusScheduled: NodeJS.Timeout | undefined;
  /** A change of objects the mass-release guard refused (until a later change is accepted). */
  #refused: { pools: Set<string>; message: string; sig: string } | undefined;
  /** Pools whose IPs no node may announce now (CRD mode only). */
  #unannounced = new Map<string, 'noAdvertisement' | 'noSelectedNodes'>();
  /** Last status value set per object, for lastTransitionTime. */
  readonly #lastStatus = new Map<string, StatusValue>();
  /** Last Event text per object, so a recompute does not repeat the same Warning. */
  readonly #objectEvents = new Map<string, string>();
  #webhookServer: WebhookServer | undefined;
  #certKeeper: WebhookCertKeeper | undefined;
  /** Publishes the config in force (ConfigMap ironlb-config-in-force) and reads it back at start. */
  readonly #inForce: InForcePublisher;
  /** What was in force before this process started: `previous` until a config is put in force here. */
  #seed: InForceSeed | undefined;
  #webhookAddress: { address: string; port: number } | undefined;

  constructor(opts: ControllerOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.metrics = opts.metrics ?? new ControllerMetrics();
    this.health = new ApiHealth({ log: opts.log.child({ component: 'api' }) });
    this.#writer = new ServiceWriter(opts.kc);
    this.#events = new EventRecorder(opts.kc, 'ironlb-controller', opts.log);
    const port: ControllerPort = {
      setStatus: async (svc, ips, pool) => this.#write(() => this.#writer.setStatus(svc.metadata?.namespace ?? '', svc.metadata?.name ?? '', ips, { [POOL_ANNOTATION]: pool })),
      event: (svc, type, reason, message) => {
        void this.#events.record({ kind: 'Service', apiVersion: 'v1', namespace: svc.metadata?.namespace ?? '', name: svc.metadata?.name ?? '', uid: svc.metadata?.uid }, type, reason, message);
      },
    };
    this.#reconciler = new ServiceReconciler({
      allocator: this.allocator,
      port,
      log: opts.log.child({ component: 'reconciler' }),
      lbClass: opts.lbClass,
      record: (svc) => serviceRecord(svc, this.#namespaceLabels(svc.metadata?.namespace)),
    });
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
    this.#objects = new ConfigObjects({
      kc: opts.kc,
      log: opts.log.child({ component: 'crds' }),
      namespace: opts.namespace,
      mode: opts.crds ?? 'auto',
      health: this.health,
      backoff: opts.backoff,
      ...(opts.crdRecheckMs !== undefined ? { recheckMs: opts.crdRecheckMs } : {}),
    });
    this.#inForce = new InForcePublisher({
      kc: opts.kc,
      log: opts.log.child({ component: 'inForce' }),
      namespace: opts.namespace,
      ctx,
      events: this.#events,
      registry: this.metrics.registry,
      backoff: opts.backoff,
    });
    const custom = makeApiClient(opts.kc, CustomObjectsApi);
    const statusLog = new LogLimiter(30_000);
    this.#statusWriter = new CoalescingWriter<StatusValue>({
      minIntervalMs: opts.statusIntervalMs ?? 1000,
      concurrency: 4,
      ...(opts.backoff !== undefined ? { backoff: opts.backoff } : {}),
      write: async (_key, v) => {
        const plural = v.kind === 'IPAddressPool' ? PLURALS.IPAddressPool : PLURALS.L2Advertisement;
        try {
          await custom.patchNamespacedCustomObjectStatus({ group: IRONLB_GROUP, version: IRONLB_VERSION, namespace: opts.namespace, plural, name: v.name, body: { status: v.status } }, mergePatch);
          this.metrics.statusWrites.inc({ kind: v.kind, result: 'ok' });
          return 'done';
        } catch (err) {
          if ((err as { code?: number }).code === 404) return 'gone';
          this.metrics.statusWrites.inc({ kind: v.kind, result: 'failed' });
          throw err;
        }
      },
      onError: (key, err) => {
        const suppressed = statusLog.take('status');
        if (suppressed !== undefined) this.#log.warn({ op: 'objectStatus', obj: key, err, suppressed }, 'cannot write object status; retrying');
      },
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
    await this.#startWebhook();
    this.#configMaps.on((ev, cm) => {
      if (!this.#sourcesReady) return; // applied once every source has synced (below)
      if (ev === 'delete') this.#configDeleted();
      else this.#applyConfig(cm);
    });
    this.#services.on((_ev, svc) => {
      if (this.#config !== undefined) this.#queue.add(serviceKey(svc));
    });
    this.#objects.on((change, old, obj) => this.#onObjectChange(change, old, obj));
    const signal = this.#abort.signal;
    // Services first: the config guard judges a new config against the IPs Services hold.
    await this.#services.start(signal);
    await Promise.all([this.#configMaps.start(signal), this.#secrets.start(signal), this.#objects.start(), this.#inForce.informer.start(signal)]);
    if (signal.aborted) throw new Error('controller stopped before it synced');
    this.#sourcesReady = true;
    const cm = this.#configMaps.get(this.#configName(), namespace);
    this.#seedFromInForce(cm);
    if (cm !== undefined) this.#applyConfig(cm);
    // A ConfigMap refused at start leaves the objects (and the ConfigMap's seeded part) to decide.
    if (cm === undefined || this.#config === undefined) this.#recompute({ kind: 'objects' });
    this.#refreshAnnounceability();
    this.#started = true;
    this.#keeper.check();
    if (this.#config === undefined) {
      const what = this.#objects.informers === undefined ? 'ConfigMap' : 'ConfigMap or IPAddressPool';
      this.#log.warn({ op: 'config', namespace, configMap: this.#configName() }, `no valid address-pool ${what} yet; idle until one exists`);
    }
  }

  /** Stops watching and processing (also ends a start() still waiting for the API). */
  stop(): void {
    this.#abort.abort();
    this.#services.stop();
    this.#configMaps.stop();
    this.#secrets.stop();
    this.#objects.stop();
    this.#inForce.stop();
    this.#keeper.stop();
    this.#queue.stop();
    this.#statusWriter.stop();
    this.#certKeeper?.stop();
    void this.#webhookServer?.close();
    for (const t of [this.#announceScheduled, this.#statusScheduled]) if (t !== undefined) clearTimeout(t);
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

  /** Resolves when pending object status writes are done (tests). */
  async statusIdle(): Promise<void> {
    await this.#statusWriter.idle();
  }

  /** Services waiting for an IP, oldest first (tests, diagnostics). */
  pendingServices(): string[] {
    return this.#pending.oldestFirst();
  }

  /** The config in force (tests, diagnostics). */
  config(): Config | undefined {
    return this.#config;
  }

  /** Where the admission webhook listens (undefined when off). */
  webhookAddress(): { address: string; port: number } | undefined {
    return this.#webhookAddress;
  }

  /** The webhook CA bundle the controller injects (tests). */
  webhookCertKeeper(): WebhookCertKeeper | undefined {
    return this.#certKeeper;
  }

  #configName(): string {
    return this.#opts.configMapName ?? 'config';
  }

  async #startWebhook(): Promise<void> {
    const w = this.#opts.webhook;
    if (w === undefined) return;
    const ns = this.#opts.namespace;
    const hosts = w.hosts ?? [`ironlb-webhook.${ns}.svc`, `ironlb-webhook.${ns}.svc.cluster.local`];
    const certs = new WebhookCertificates({ hosts, ...(w.timing !== undefined ? { timing: w.timing } : {}) });
    await certs.rotate();
    const serving = certs.current();
    if (serving === undefined) throw new Error('webhook certificate was not issued');
    const server = new WebhookServer({
      host: w.host ?? '0.0.0.0',
      port: w.port ?? 9443,
      serving,
      log: this.#log.child({ component: 'webhook' }),
      decide: (req) => admit(req, this.#admissionContext()),
      onResult: (kind, result) => this.metrics.webhookRequests.inc({ kind: kind === '' ? 'none' : kind, result }),
    });
    let addr;
    try {
      addr = await server.start();
    } catch (err) {
      // The webhook is optional (failurePolicy Ignore; schemas and the controller still check
      // everything): a taken port must not keep the controller from allocating IPs.
      this.#log.error({ op: 'webhook', err, port: w.port ?? 9443 }, 'cannot listen for the admission webhook; running without it');
      return;
    }
    this.#webhookServer = server;
    this.#webhookAddress = { address: addr.address, port: addr.port };
    this.#certKeeper = new WebhookCertKeeper({
      kc: this.#opts.kc,
      configName: w.configName ?? 'ironlb-webhook',
      certs,
      server,
      log: this.#log.child({ component: 'webhook' }),
      ...(w.checkIntervalMs !== undefined ? { intervalMs: w.checkIntervalMs } : {}),
      ...(this.#opts.backoff !== undefined ? { backoff: this.#opts.backoff } : {}),
    });
    this.#certKeeper.start();
    this.#log.info({ op: 'webhook', address: `${addr.address}:${addr.port}`, hosts }, 'admission webhook listening');
  }

  #admissionContext(): AdmissionContext {
    const inf = this.#objects.informers;
    return {
      namespace: this.#opts.namespace,
      configMapName: this.#configName(),
      strandPolicy: this.#opts.webhook?.strandPolicy ?? 'warn',
      synced: this.#started,
      pools: inf?.pools.list() ?? [],
      advertisements: inf?.advertisements.list() ?? [],
      legacy: this.#legacy,
      config: this.#config,
      holders: this.#holders(),
      nodes: inf?.nodes === undefined ? undefined : inf.nodes.list().map(nodeInfo),
      maxRelease: this.#opts.maxRelease ?? DEFAULT_MAX_RELEASE,
      allowance: this.#objectsAllowance(),
    };
  }

  #namespaceLabels(ns: string | undefined): Labels | undefined {
    const inf = this.#objects.informers;
    if (inf === undefined || ns === undefined) return undefined;
    return inf.namespaces?.get(ns)?.metadata?.labels ?? {};
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
    const now = this.#services.get(name, ns);
    this.#track(key, now);
    if (held.length > 0) this.#handOut(held);
    this.#scheduleStatus();
    if (verdict === 'retry') return 'retry';
    return (await this.#checkAdvertised(key, now)) ? 'done' : 'retry';
  }

  /**
   * Keeps the Service's ironlb.io/Advertised condition (and a Warning Event) in step with whether
   * any node may announce its IPs: MetalLB users meet "IP assigned, nobody answers" silently
   * (metallb#1154). Only with ironlb.io objects in use; writes only when the condition changes.
   */
  async #checkAdvertised(key: string, svc: V1Service | undefined): Promise<boolean> {
    if (svc === undefined || this.#objects.informers === undefined || !isHandled(svc, this.#opts.lbClass)) return true;
    const alloc = this.allocator.allocationOf(key);
    const cur = (svc.status?.conditions ?? []).find((c) => c.type === ADVERTISED_CONDITION);
    const why = alloc === undefined || ingressIPs(svc).length === 0 ? undefined : this.#unannounced.get(alloc.pool);
    const namespace = svc.metadata?.namespace ?? '';
    const name = svc.metadata?.name ?? '';
    try {
      if (why !== undefined && alloc !== undefined) {
        const reason = why === 'noAdvertisement' ? 'NoL2Advertisement' : 'NoSelectedNodes';
        if (cur?.status === 'False' && cur.reason === reason) return true;
        const detail = why === 'noAdvertisement' ? `no L2Advertisement covers pool ${quote(alloc.pool)}` : `the L2Advertisements covering pool ${quote(alloc.pool)} select no node`;
        const message = `IP ${alloc.addresses.join(', ')} is allocated but no node announces it: ${detail} (see kubectl ironlb explain svc/${name} -n ${namespace})`;
        await this.#writer.setCondition(namespace, name, { type: ADVERTISED_CONDITION, status: 'False', reason, message, lastTransitionTime: new Date().toISOString() });
        this.metrics.statusWrites.inc({ kind: 'Service', result: 'ok' });
        void this.#events.record({ kind: 'Service', apiVersion: 'v1', namespace, name, uid: svc.metadata?.uid }, 'Warning', 'NotAdvertised', message);
      } else if (cur !== undefined) {
        await this.#writer.setCondition(namespace, name, { type: ADVERTISED_CONDITION, remove: true });
        this.metrics.statusWrites.inc({ kind: 'Service', result: 'ok' });
      }
      return true;
    } catch (err) {
      this.metrics.statusWrites.inc({ kind: 'Service', result: 'failed' });
      const suppressed = this.#failureLog.take('condition');
      if (suppressed !== undefined) this.#log.warn({ op: 'serviceCondition', svc: key, err, suppressed }, 'cannot write the Service condition; will retry');
      return false;
    }
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
      const rec = serviceRecord(s, this.#namespaceLabels(s.metadata?.namespace));
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

  /** An Event on an ironlb.io object, unless the same text was recorded for it last time. */
  #objectEvent(kind: 'IPAddressPool' | 'L2Advertisement', name: string, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const key = `${kind}/${name}/${reason}`;
    if (this.#objectEvents.get(key) === message) return;
    this.#objectEvents.set(key, message);
    if (this.#objectEvents.size > 4096) this.#objectEvents.delete(this.#objectEvents.keys().next().value ?? '');
    const inf = this.#objects.informers;
    const obj = kind === 'IPAddressPool' ? inf?.pools.get(name, this.#opts.namespace) : inf?.advertisements.get(name, this.#opts.namespace);
    void this.#events.record({ kind, apiVersion: IRONLB_API_VERSION, namespace: this.#opts.namespace, name, uid: obj?.metadata?.uid }, type, reason, message);
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
    this.#recompute({ kind: 'configmap', cm, sig, legacy: parsed, allowText });
  }

  /** Called on any change of ironlb.io objects (or their informers starting). */
  #onObjectChange(change: string, old: unknown, obj: unknown): void {
    if (!this.#sourcesReady) return;
    if (change === 'nodes') return this.#scheduleAnnounceability();
    if (change === 'namespaces') {
      const before = (old as V1Namespace | undefined)?.metadata?.labels ?? {};
      const after = (obj as V1Namespace | undefined)?.metadata?.labels ?? {};
      if (JSON.stringify(before) === JSON.stringify(after)) return;
      // Only namespaceSelectors read namespace labels: re-reconcile that namespace's Services.
      if (!(this.#config?.pools ?? []).some((p) => (p.serviceAllocation?.namespaceSelectors.length ?? 0) > 0)) return;
      const ns = (obj as V1Namespace | undefined)?.metadata?.name;
      for (const s of this.#services.list()) if (s.metadata?.namespace === ns) this.#queue.add(serviceKey(s));
      return;
    }
    if (change === 'started') {
      this.#recompute({ kind: 'objects' });
      this.#refreshAnnounceability();
      return;
    }
    this.#scheduleRecompute();
  }

  #scheduleRecompute(): void {
    if (this.#recomputeScheduled) return;
    this.#recomputeScheduled = true;
    // One recompute per burst of watch events (a `kubectl apply -f` of many objects).
    setImmediate(() => {
      this.#recomputeScheduled = false;
      this.#recompute({ kind: 'objects' });
    });
  }

  /** The allowance of the mass-release guard for a change of objects: the largest annotation. */
  #objectsAllowance(): number | undefined {
    let best: number | undefined;
    const texts = [this.#configMaps.get(this.#configName(), this.#opts.namespace)?.metadata?.annotations?.[MAX_RELEASE_ANNOTATION]];
    for (const p of this.#objects.informers?.pools.list() ?? []) texts.push(p.metadata?.annotations?.[MAX_RELEASE_ANNOTATION]);
    for (const t of texts) {
      const l = parseMaxRelease(t).limit;
      if (l !== undefined) best = Math.max(best ?? 0, l);
    }
    return best;
  }

  /** Merges the sources, runs the guard, and puts the result in force (or refuses it). */
  #recompute(cause: Cause): void {
    if (!this.#sourcesReady) return;
    const legacy = cause.kind === 'configmap' ? cause.legacy : this.#legacy;
    const inf = this.#objects.informers;
    let next: Config | undefined = legacy;
    let build: BuildResult | undefined;
    if (inf !== undefined) {
      build = configFromObjects({ pools: inf.pools.list(), advertisements: inf.advertisements.list(), legacy, previous: this.#config ?? this.#seed?.config });
      const anything = legacy !== undefined || inf.pools.list().length > 0 || inf.advertisements.list().length > 0;
      next = anything ? build.config : undefined;
      this.#reportObjects(build);
    }
    this.#build = build;
    if (next === undefined) {
      this.#scheduleStatus();
      return;
    }
    const sig = configSignature(next);
    if (cause.kind === 'objects' && this.#config !== undefined && sig === this.#configSig) {
      // Nothing the allocator uses changed (a status write, a label): only statuses may differ.
      if (this.#refused !== undefined) this.#clearRefusal();
      this.#scheduleStatus();
      return;
    }
    if (cause.kind === 'objects' && this.#refused?.sig === sig) return; // refused already, said so

    const holders = this.#holders();
    const stranded = strandedBy(next, this.#config, holders);
    const allow = cause.kind === 'configmap' ? parseMaxRelease(cause.allowText) : { limit: this.#objectsAllowance() };
    // A bad annotation is ignored, not the config: a ConfigWarning, so the change gets one verdict.
    if (cause.kind === 'configmap' && 'problem' in allow && allow.problem !== undefined) this.#configEvent(cause.cm, 'Warning', 'ConfigWarning', allow.problem);
    const changedPools = this.#changedPools(next);
    // Tell the user an object that exists to annotate: a changed pool, else any pool, else the ConfigMap.
    const existing = (this.#objects.informers?.pools.list() ?? []).map((p) => p.metadata?.name ?? '');
    const target = changedPools.find((p) => existing.includes(p)) ?? existing[0];
    const where =
      cause.kind === 'configmap' || target === undefined
        ? { namespace: this.#opts.namespace, name: this.#configName() }
        : { namespace: this.#opts.namespace, name: target, kind: 'ipaddresspool' as const };
    const verdict = releaseVerdict(stranded, holders.length, allow.limit, where, this.#opts.maxRelease ?? DEFAULT_MAX_RELEASE);
    if (!verdict.ok) {
      if (cause.kind === 'configmap') return this.#reject(cause.cm, cause.sig, 'unsafeRelease', verdict.message ?? 'refused', undefined, 'ConfigRefused');
      return this.#refuseObjects(sig, changedPools, verdict.message ?? 'refused');
    }

    if (cause.kind === 'configmap') {
      this.#appliedSig = cause.sig;
      this.#rejectedSig = undefined;
      this.#stale = false;
      this.#legacy = cause.legacy;
    }
    if (this.#refused !== undefined) this.#clearRefusal();
    // Which pool each stranded Service held (the allocator still has the old config): the
    // IPsReleased Event goes to the object whose change released it.
    const releasedFrom = new Map<string, string[]>();
    if (stranded.length > 0) {
      const ipsOf = new Map(holders.map((h) => [h.record.key, h.ips] as const));
      for (const key of stranded) {
        const ip = ipsOf.get(key)?.[0];
        const pool = (ip === undefined ? undefined : this.allocator.poolOf(ip)) ?? '';
        releasedFrom.set(pool, [...(releasedFrom.get(pool) ?? []), key]);
      }
    }
    this.#config = next;
    this.#configSig = sig;
    this.#inForce.publish(next);
    const evicted = this.allocator.setConfig(next);
    this.metrics.configStale.set(this.#stale ? 1 : 0);
    this.metrics.configLoaded.set(1);
    const names = next.pools.map((p) => p.name);
    this.#log.info(
      { op: 'config', pools: names.slice(0, 50), poolCount: names.length, evicted: evicted.slice(0, 50), evictedCount: evicted.length, stranded: stranded.length },
      'address-pool config loaded',
    );
    if (cause.kind === 'configmap') {
      const own = cause.legacy.pools.map((p) => p.name);
      const listed =
        own
          .slice(0, 20)
          .map((n) => quote(n))
          .join(', ') + (own.length > 20 ? `, and ${own.length - 20} more` : '');
      // A ConfigMap pool refused by the merge already got InvalidConfig: one verdict per change.
      if (!(build?.problems ?? []).some((p) => p.kind === 'ConfigMap')) this.#configEvent(cause.cm, 'Normal', 'ConfigLoaded', `loaded ${own.length} address pool(s): ${listed || '(none)'}`);
      if (stranded.length > 0) {
        this.#configEvent(
          cause.cm,
          'Warning',
          'IPsReleased',
          `this config took the IPs away from ${stranded.length} Service(s) (${stranded.slice(0, 5).join(', ')}${stranded.length > 5 ? ', …' : ''}); each gets a new IP if it can (see its Events)`,
        );
      }
      for (const w of cause.legacy.warnings.slice(0, 10)) {
        this.#log.warn({ op: 'config', warning: w }, 'address-pool config warning');
        this.#configEvent(cause.cm, 'Warning', 'ConfigWarning', w);
      }
    } else if (stranded.length > 0) {
      const objects = new Set((this.#objects.informers?.pools.list() ?? []).map((p) => p.metadata?.name ?? ''));
      for (const [pool, keys] of [...releasedFrom].slice(0, 10)) {
        const message = `this change took the IPs away from ${keys.length} Service(s) (${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', …' : ''}); each gets a new IP if it can (see its Events)`;
        // The pool that held them (changed or deleted); a ConfigMap pool no object names: the changed pools.
        const targets = pool !== '' && (objects.has(pool) || changedPools.includes(pool)) ? [pool] : changedPools.slice(0, 10);
        for (const p of targets) this.#objectEvent('IPAddressPool', p, 'Warning', 'IPsReleased', message);
      }
    }
    this.#fullPass();
    this.#refreshAnnounceability();
    this.#scheduleStatus();
  }

  /** Pools whose definition differs between the config in force and `next` (or that left it). */
  #changedPools(next: Config): string[] {
    const before = new Map((this.#config?.pools ?? []).map((p) => [p.name, poolKey(p)] as const));
    const after = new Map(next.pools.map((p) => [p.name, poolKey(p)] as const));
    const out: string[] = [];
    for (const [n, k] of before) if (after.get(n) !== k) out.push(n);
    for (const n of after.keys()) if (!before.has(n)) out.push(n);
    const existing = new Set((this.#objects.informers?.pools.list() ?? []).map((p) => p.metadata?.name ?? ''));
    // Name an object that still exists first: the refusal message tells the user which one to annotate.
    return out.sort((a, b) => Number(existing.has(b)) - Number(existing.has(a)));
  }

  #refuseObjects(sig: string, pools: readonly string[], message: string): void {
    this.#refused = { pools: new Set(pools), message, sig };
    this.#stale = true;
    this.metrics.configStale.set(1);
    this.metrics.configRejections.inc({ reason: 'unsafeRelease' });
    this.#log.error({ op: 'config', reason: 'unsafeRelease', pools: pools.slice(0, 20), err: message }, 'IPAddressPool change not applied; keeping the config in force');
    for (const p of pools.slice(0, 10)) this.#objectEvent('IPAddressPool', p, 'Warning', 'ConfigRefused', message);
    this.#scheduleStatus();
  }

  #clearRefusal(): void {
    this.#refused = undefined;
    if (this.#rejectedSig === undefined && this.#appliedSig !== undefined) this.#stale = false;
    this.metrics.configStale.set(this.#stale ? 1 : 0);
  }

  /** Warning Events for invalid objects and per-object warnings, once per distinct text. */
  #reportObjects(build: BuildResult): void {
    const counts: Record<string, number> = { IPAddressPool: 0, L2Advertisement: 0, ConfigMap: 0 };
    for (const p of build.problems) {
      counts[p.kind] = (counts[p.kind] ?? 0) + 1;
      const kept = p.keptPrevious ? 'its previous version stays in force' : 'it is not in force';
      const message = `${p.errors.join('; ')} (${kept})`;
      if (p.kind === 'ConfigMap') {
        const cm = this.#configMaps.get(this.#configName(), this.#opts.namespace);
        if (cm !== undefined) this.#configEvent(cm, 'Warning', 'InvalidConfig', message);
      } else this.#objectEvent(p.kind, p.name, 'Warning', 'InvalidConfig', message);
      if (this.#failureLog.take(`obj/${p.kind}/${p.name}`) !== undefined)
        this.#log.warn({ op: 'config', kind: p.kind, obj: p.name, errors: p.errors.slice(0, 10), keptPrevious: p.keptPrevious }, 'configuration object not applied as written');
    }
    for (const [kind, n] of Object.entries(counts)) this.metrics.invalidObjects.set({ kind }, n);
    for (const w of build.objectWarnings) if (w.kind !== 'ConfigMap') this.#objectEvent(w.kind, w.name, 'Warning', 'ConfigWarning', w.message);
  }

  /** Recomputes which pools cannot be announced; re-checks the Services of pools that changed. */
  #refreshAnnounceability(): void {
    const inf = this.#objects.informers;
    const next = inf?.nodes === undefined || this.#config === undefined ? new Map<string, 'noAdvertisement' | 'noSelectedNodes'>() : unannouncedPools(this.#config, inf.nodes.list().map(nodeInfo));
    const changed = new Set<string>();
    for (const [p, why] of next) if (this.#unannounced.get(p) !== why) changed.add(p);
    for (const p of this.#unannounced.keys()) if (!next.has(p)) changed.add(p);
    this.#unannounced = next;
    if (changed.size === 0) return;
    for (const key of this.allocator.allocatedKeys()) {
      const pool = this.allocator.allocationOf(key)?.pool;
      if (pool !== undefined && changed.has(pool)) this.#queue.add(key);
    }
    this.#scheduleStatus();
  }

  #scheduleAnnounceability(): void {
    if (this.#announceScheduled !== undefined) return;
    // Node heartbeats update Nodes every few seconds: fold them into one check.
    this.#announceScheduled = setTimeout(() => {
      this.#announceScheduled = undefined;
      this.#refreshAnnounceability();
    }, 200);
  }

  #scheduleStatus(): void {
    if (this.#statusScheduled !== undefined || this.#objects.informers === undefined) return;
    this.#statusScheduled = setTimeout(() => {
      this.#statusScheduled = undefined;
      this.#refreshStatuses();
    }, 100);
  }

  /** Sets the desired status of every IPAddressPool and L2Advertisement; the writer sends changes only. */
  #refreshStatuses(): void {
    const inf = this.#objects.informers;
    if (inf === undefined) return;
    const now = new Date();
    const nodes: NodeInfo[] = (inf.nodes?.list() ?? []).map(nodeInfo);
    const refused = this.#refused === undefined ? undefined : { pools: this.#refused.pools, message: this.#refused.message };
    for (const p of inf.pools.list()) {
      const name = p.metadata?.name ?? '';
      const key = `IPAddressPool/${name}`;
      const previous = (this.#lastStatus.get(key)?.status['conditions'] as Condition[] | undefined) ?? p.status?.conditions;
      const status = poolStatus({
        name,
        generation: p.metadata?.generation,
        build: this.#build,
        config: this.#config,
        stats: this.allocator.poolStats(name),
        unannounced: this.#unannounced.get(name),
        refused,
        previous,
        now,
      });
      const v: StatusValue = { kind: 'IPAddressPool', name, status: status as Record<string, unknown> };
      this.#lastStatus.set(key, v);
      this.#statusWriter.set(key, v);
    }
    for (const a of inf.advertisements.list()) {
      const name = a.metadata?.name ?? '';
      const key = `L2Advertisement/${name}`;
      const previous = (this.#lastStatus.get(key)?.status['conditions'] as Condition[] | undefined) ?? a.status?.conditions;
      const status = advertisementStatus({ name, generation: a.metadata?.generation, build: this.#build, config: this.#config, nodes, previous, now });
      const v: StatusValue = { kind: 'L2Advertisement', name, status: status as Record<string, unknown> };
      this.#lastStatus.set(key, v);
      this.#statusWriter.set(key, v);
    }
    // Forget objects that are gone, so the maps stay bounded by what exists.
    const live = new Set([...inf.pools.list().map((p) => `IPAddressPool/${p.metadata?.name ?? ''}`), ...inf.advertisements.list().map((a) => `L2Advertisement/${a.metadata?.name ?? ''}`)]);
    for (const k of this.#lastStatus.keys()) {
      if (!live.has(k)) {
        this.#lastStatus.delete(k);
        this.#statusWriter.forget(k);
      }
    }
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
    this.#ghostPoolsEvent('was deleted');
  }

  /** Resolves when the config in force is published (tests). */
  async inForceIdle(): Promise<void> {
    await this.#inForce.idle();
  }

  /**
   * Seeds `previous` from the published config in force, so this start decides as the last
   * process did; with the ConfigMap gone or invalid, its pools in force stand in for it.
   */
  #seedFromInForce(cm: V1ConfigMap | undefined): void {
    this.#seed = this.#inForce.seed();
    const legacy = this.#seed?.legacy;
    if (legacy === undefined) return;
    const text = cm?.data?.['config'];
    const parsed = text === undefined ? undefined : parseConfig(text);
    if (parsed !== undefined && !isConfigError(parsed) && !parsed.blank) return; // the ConfigMap speaks for itself
    this.#legacy = legacy;
    this.#stale = true;
    this.metrics.configStale.set(1);
    if (cm === undefined) this.#ghostPoolsEvent('does not exist');
  }

  /**
   * Says that the ConfigMap's pools stay in force without the ConfigMap, and how to really remove
   * them: dropping them silently would strand every IP they handed out.
   */
  #ghostPoolsEvent(what: string): void {
    const pools = (this.#legacy?.pools ?? []).filter((p) => this.#config === undefined || this.#config.pools.some((q) => q.name === p.name && q.source !== 'crd')).map((p) => p.name);
    if (pools.length === 0) return;
    const listed =
      pools
        .slice(0, 10)
        .map((n) => quote(n))
        .join(', ') + (pools.length > 10 ? `, and ${pools.length - 10} more` : '');
    const ns = this.#opts.namespace;
    const name = this.#configName();
    const message =
      `ConfigMap ${ns}/${name} ${what}, but its address pool(s) ${listed} stay in force: dropping them would take the IPs they handed out away from Services. ` +
      `To remove them for real, create the ConfigMap again with config "address-pools: []" (with the ${MAX_RELEASE_ANNOTATION} annotation if Services hold their IPs), ` +
      `or first move them to IPAddressPools (kubectl ironlb migrate).`;
    this.#log.warn({ op: 'config', pools: pools.slice(0, 20) }, 'ConfigMap pools stay in force without their ConfigMap');
    void this.#events.record({ kind: 'ConfigMap', apiVersion: 'v1', namespace: ns, name }, 'Warning', 'ConfigMapPoolsKept', message);
  }
}
