/** Prometheus metrics of the controller (names mirror MetalLB's, with the ironlb_ prefix). */
import type { PoolStats } from '@ironlb/core';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** The controller's metrics in their own registry. */
export class ControllerMetrics {
  readonly registry = new Registry();
  readonly addressesTotal = new Gauge({ name: 'ironlb_allocator_addresses_total', help: 'Allocatable addresses per pool', labelNames: ['pool'], registers: [this.registry] });
  readonly addressesInUse = new Gauge({ name: 'ironlb_allocator_addresses_in_use_total', help: 'Addresses in use per pool', labelNames: ['pool'], registers: [this.registry] });
  readonly servicesAllocated = new Gauge({ name: 'ironlb_allocator_services_allocated_total', help: 'Services holding an IP from the pool', labelNames: ['pool'], registers: [this.registry] });
  readonly configLoaded = new Gauge({ name: 'ironlb_k8s_client_config_loaded_bool', help: '1 once a valid config has been loaded', registers: [this.registry] });
  readonly configStale = new Gauge({ name: 'ironlb_k8s_client_config_stale_bool', help: '1 while the ConfigMap holds a config that was rejected (the last good one stays in force)', registers: [this.registry] });
  readonly updates = new Counter({ name: 'ironlb_k8s_client_updates_total', help: 'Service status/annotation writes', registers: [this.registry] });
  readonly updateErrors = new Counter({ name: 'ironlb_k8s_client_update_errors_total', help: 'Failed Service status/annotation writes', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'ironlb_controller_' });
  }

  /** Publishes pool usage; pools that vanished from the config are dropped. */
  setPools(stats: readonly PoolStats[]): void {
    this.addressesTotal.reset();
    this.addressesInUse.reset();
    this.servicesAllocated.reset();
    for (const s of stats) {
      // A /64 pool has 2^64 addresses: a gauge is a float64, so very large pools lose precision, not meaning.
      this.addressesTotal.set({ pool: s.pool }, Number(s.total));
      this.addressesInUse.set({ pool: s.pool }, s.inUse);
      this.servicesAllocated.set({ pool: s.pool }, s.servicesAllocated);
    }
  }
}
