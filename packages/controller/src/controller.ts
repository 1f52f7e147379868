/**
 * The controller process wiring: informers on the address-pool ConfigMap and on Services feed a
 * keyed queue; the ServiceReconciler decides, the ServiceWriter and EventRecorder act.
 */
import type { KubeConfig, V1ConfigMap, V1Service } from '@kubernetes/client-node';
import { Allocator, type Config, isConfigError, parseConfig } from '@ironlb/core';
import { EventRecorder, type ResilientInformer, ServiceWriter, configMapInformer, ensureMemberlistSecret, serviceInformer, withKeepAlive } from '@ironlb/k8s';
import type { Logger } from 'pino';
import { ControllerMetrics } from './metrics.js';
import { KeyedQueue } from './queue.js';
import { type ControllerPort, ServiceReconciler } from './reconciler.js';
import { POOL_ANNOTATION, ingressIPs, serviceKey } from './service-record.js';

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
  /** Called when the API server stays unreachable (the process should exit non-zero). */
  onFatal?: (err: Error) => void;
}

/** The running controller. */
export class Controller {
  readonly metrics: ControllerMetrics;
  readonly allocator = new Allocator();
  readonly #opts: ControllerOptions;
  readonly #log: Logger;
  readonly #writer: ServiceWriter;
  readonly #events: EventRecorder;
  readonly #reconciler: ServiceReconciler;
  readonly #queue: KeyedQueue;
  readonly #services: ResilientInformer<V1Service>;
  readonly #configMaps: ResilientInformer<V1ConfigMap>;
  #configText: string | undefined;
  #config: Config | undefined;
  #passScheduled = false;
  #started = false;

  constructor(opts: ControllerOptions) {
    withKeepAlive(opts.kc);
    this.#opts = opts;
    this.#log = opts.log;
    this.metrics = opts.metrics ?? new ControllerMetrics();
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
    this.#queue = new KeyedQueue(async (key) => this.#work(key), opts.concurrency ?? 32);
    const ctx = { kc: opts.kc, log: opts.log, onFatal: opts.onFatal };
    this.#configMaps = configMapInformer(ctx, opts.namespace, opts.configMapName ?? 'config');
    this.#services = serviceInformer(ctx);
  }

  /** Ensures the memberlist Secret, syncs the informers, loads the config and runs a first pass. */
  async start(): Promise<void> {
    const { namespace } = this.#opts;
    const created = await ensureMemberlistSecret(this.#opts.kc, namespace);
    this.#log.info({ op: 'memberlistSecret', created, namespace }, created ? 'created memberlist Secret' : 'memberlist Secret present');
    this.#configMaps.on((ev, cm) => (ev === 'delete' ? this.#configDeleted() : this.#applyConfig(cm)));
    this.#services.on((_ev, svc) => {
      if (this.#config !== undefined) this.#queue.add(serviceKey(svc));
    });
    await this.#services.start();
    await this.#configMaps.start();
    this.#started = true;
    if (this.#config === undefined) {
      this.#log.warn({ op: 'config', namespace, configMap: this.#opts.configMapName ?? 'config' }, 'no valid address-pool ConfigMap yet; idle until one exists');
    }
  }

  /** Stops watching and processing. */
  stop(): void {
    this.#services.stop();
    this.#configMaps.stop();
    this.#queue.stop();
  }

  /** Ready once both informers have synced. */
  ready(): boolean {
    return this.#started;
  }

  /** Alive while the informers are healthy. */
  healthy(): boolean {
    return !this.#started || (this.#services.healthy() && this.#configMaps.healthy());
  }

  /** Resolves when the work queue is empty (for tests and benchmarks). */
  async idle(): Promise<void> {
    await this.#queue.idle();
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

  async #work(key: string): Promise<'done' | 'retry'> {
    const [ns = '', name = ''] = key.split('/');
    const verdict = await this.#reconciler.reconcile(key, this.#services.get(name, ns));
    this.metrics.setPools(this.allocator.allPoolStats());
    if (verdict === 'reprocessAll') this.#schedulePass();
    return verdict === 'retry' ? 'retry' : 'done';
  }

  #schedulePass(): void {
    if (this.#passScheduled) return;
    this.#passScheduled = true;
    setImmediate(() => {
      this.#passScheduled = false;
      this.#fullPass();
    });
  }

  /**
   * Every Service, Services that hold IPs first: re-admit their IPs, then reconcile all, pending
   * ones in creation order (MetalLB's restart fix: nobody grabs an IP that is in use).
   */
  #fullPass(): void {
    if (this.#config === undefined) return;
    const all = this.#services.list();
    const created = (s: V1Service): number => new Date(s.metadata?.creationTimestamp ?? 0).getTime();
    const withIP: V1Service[] = [];
    const pending: V1Service[] = [];
    for (const s of all) (ingressIPs(s).length > 0 ? withIP : pending).push(s);
    pending.sort((a, b) => created(a) - created(b) || serviceKey(a).localeCompare(serviceKey(b)));
    this.#reconciler.readmit(withIP);
    for (const s of [...withIP, ...pending]) this.#queue.add(serviceKey(s));
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
    if (text === this.#configText && text !== undefined) return;
    const parsed = text === undefined ? undefined : parseConfig(text);
    if (parsed === undefined || isConfigError(parsed)) {
      const why = parsed === undefined ? 'the ConfigMap has no data key "config"' : parsed.message;
      this.metrics.configStale.set(1);
      const kept = this.#config === undefined ? 'no valid config was loaded before, staying idle' : 'keeping the last good config';
      this.#log.error({ op: 'config', err: why, configMap: cm.metadata?.name }, `invalid address-pool config; ${kept}`);
      this.#configEvent(cm, 'Warning', 'InvalidConfig', `invalid config, ${kept}: ${why}`);
      return;
    }
    this.#configText = text;
    this.#config = parsed;
    const evicted = this.allocator.setConfig(parsed);
    this.metrics.configStale.set(0);
    this.metrics.configLoaded.set(1);
    this.metrics.setPools(this.allocator.allPoolStats());
    this.#log.info({ op: 'config', pools: parsed.pools.map((p) => p.name), evicted }, 'address-pool config loaded');
    this.#configEvent(cm, 'Normal', 'ConfigLoaded', `loaded ${parsed.pools.length} address pool(s): ${parsed.pools.map((p) => p.name).join(', ') || '(none)'}`);
    this.#fullPass();
  }

  #configDeleted(): void {
    this.#configText = undefined;
    this.#log.warn({ op: 'config', namespace: this.#opts.namespace }, 'address-pool ConfigMap deleted; keeping the last good config');
  }
}
