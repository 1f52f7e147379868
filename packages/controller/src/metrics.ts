/**
 * Prometheus metrics of the controller (names mirror MetalLB's, with the ironlb_ prefix). Values
 * that live elsewhere (pool usage, API health, Event counts) are read when scraped, so their cost
 * is per scrape and bounded by the config limits, never per reconcile.
 */
import type { PoolStats } from '@ironlb/core';
import type { EventStats, GaugeDescriptor } from '@ironlb/k8s';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** Why a ConfigMap's config (or a change of IPAddressPools) was not put in force. */
export type ConfigRejection = 'invalid' | 'blank' | 'missingKey' | 'unsafeRelease';

/** The controller's metrics in their own registry. */
export class ControllerMetrics {
  readonly registry = new Registry();
  #pools: () => readonly PoolStats[] = () => [];
  #events: () => EventStats = () => ({ created: 0, patched: 0, failed: 0, truncated: 0 });
  #pending: () => number = () => 0;

  readonly addressesTotal: Gauge;
  readonly addressesInUse: Gauge;
  readonly servicesAllocated: Gauge;
  readonly configLoaded = new Gauge({
    name: 'ironlb_k8s_client_config_loaded_bool',
    help: '1 while a valid address-pool config is in force (the allocator uses it), 0 before the first one',
    registers: [this.registry],
  });
  readonly configStale = new Gauge({
    name: 'ironlb_k8s_client_config_stale_bool',
    help: '1 while the config in force differs from what the ConfigMap says (rejected, refused, empty, key missing or ConfigMap deleted); 0 when they match',
    registers: [this.registry],
  });
  readonly configRejections = new Counter({
    name: 'ironlb_k8s_client_config_rejections_total',
    help: 'ConfigMap contents not put in force, by reason (invalid, blank, missingKey, unsafeRelease)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly updates = new Counter({ name: 'ironlb_k8s_client_updates_total', help: 'Service status/annotation writes', registers: [this.registry] });
  readonly updateErrors = new Counter({ name: 'ironlb_k8s_client_update_errors_total', help: 'Failed Service status/annotation writes (each is retried)', registers: [this.registry] });
  readonly webhookRequests = new Counter({
    name: 'ironlb_webhook_requests_total',
    help: 'Admission webhook requests by object kind and result: allowed, denied, or why the request was dropped (notFound, badMethod, tooLarge, malformed, error)',
    labelNames: ['kind', 'result'],
    registers: [this.registry],
  });
  readonly invalidObjects = new Gauge({
    name: 'ironlb_config_invalid_objects',
    help: 'IPAddressPools, L2Advertisements and ConfigMap pools not in force as written (invalid, overlapping, or refused), by kind',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly statusWrites = new Counter({
    name: 'ironlb_k8s_client_status_writes_total',
    help: 'Status writes of IPAddressPools and L2Advertisements, and Service conditions, by result (ok, failed)',
    labelNames: ['kind', 'result'],
    registers: [this.registry],
  });
  readonly reconcileFailures = new Counter({
    name: 'ironlb_controller_reconcile_failures_total',
    help: 'Reconciles scheduled for a retry: kind="retry" (a write failed), kind="error" (the reconcile threw)',
    labelNames: ['kind'],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'ironlb_controller_' });
    // collect() runs with the metric as `this`; these arrows read the controller's sources.
    const pools = (): readonly PoolStats[] => this.#pools();
    const pending = (): number => this.#pending();
    const events = (): EventStats => this.#events();
    const poolGauge = (name: string, help: string, pick: (s: PoolStats) => number): Gauge =>
      new Gauge({
        name,
        help,
        labelNames: ['pool'],
        registers: [this.registry],
        collect(this: Gauge) {
          this.reset();
          for (const s of pools()) this.set({ pool: s.pool }, pick(s));
        },
      });
    // A /64 pool has 2^64 addresses: a gauge is a float64, so very large pools lose precision, not meaning.
    this.addressesTotal = poolGauge('ironlb_allocator_addresses_total', 'Allocatable addresses per pool', (s) => Number(s.total));
    this.addressesInUse = poolGauge('ironlb_allocator_addresses_in_use_total', 'Addresses in use per pool', (s) => s.inUse);
    this.servicesAllocated = poolGauge('ironlb_allocator_services_allocated_total', 'Services holding an IP from the pool', (s) => s.servicesAllocated);
    new Gauge({
      name: 'ironlb_controller_pending_services',
      help: 'Handled Services waiting for an IP',
      registers: [this.registry],
      collect(this: Gauge) {
        this.set(pending());
      },
    });
    new Counter({
      name: 'ironlb_k8s_client_events_total',
      help: 'Kubernetes Event writes: result="created", "patched" (a repeat raised the count), "failed"',
      labelNames: ['result'],
      registers: [this.registry],
      collect(this: Counter) {
        const s = events();
        this.reset();
        this.inc({ result: 'created' }, s.created);
        this.inc({ result: 'patched' }, s.patched);
        this.inc({ result: 'failed' }, s.failed);
      },
    });
  }

  /** Where pool usage, Event counters and the pending count are read at scrape time. */
  bind(sources: { pools: () => readonly PoolStats[]; events: () => EventStats; pending: () => number }): void {
    this.#pools = sources.pools;
    this.#events = sources.events;
    this.#pending = sources.pending;
  }

  /** Publishes gauges described elsewhere (ApiHealth's), read at scrape time. */
  addGauges(gauges: readonly GaugeDescriptor[]): void {
    for (const g of gauges) {
      if (this.registry.getSingleMetric(g.name) !== undefined) continue;
      new Gauge({
        name: g.name,
        help: g.help,
        registers: [this.registry],
        collect(this: Gauge) {
          this.set(g.value());
        },
      });
    }
  }

  /**
   * Publishes pool usage now.
   * @deprecated Pool usage is read at scrape time from the source given to `bind`; kept for callers that push.
   */
  setPools(stats: readonly PoolStats[]): void {
    const copy = [...stats];
    this.#pools = () => copy;
  }
}
