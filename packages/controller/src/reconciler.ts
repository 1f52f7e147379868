/**
 * The controller's decision logic: one handler per Service returning a verdict, with every side
 * effect behind a small port (status, annotation, Event) so unit tests use a recording fake and
 * integration tests the real API server. Allocator calls are synchronous and happen before any
 * await, so the allocator is consistent whatever reconciles are in flight.
 */
import type { V1Service } from '@kubernetes/client-node';
import type { Allocator } from '@ironlb/core';
import type { Logger } from 'pino';
import { POOL_ANNOTATION, ingressIPs, isHandled, serviceKey, serviceRecord } from './service-record.js';

/** What to do after a reconcile (MetalLB's SyncState). */
export type Verdict = 'success' | 'retry' | 'noRetry' | 'reprocessAll';

/** Side effects of the controller. */
export interface ControllerPort {
  /** Sets status.loadBalancer.ingress to exactly these IPs ([] clears) and the pool annotation (null removes it), in one write. */
  setStatus(svc: V1Service, ips: readonly string[], pool: string | null): Promise<void>;
  /** Records a Kubernetes Event on the Service (best effort, never throws). */
  event(svc: V1Service, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** Reconciles Services against the allocator. */
export class ServiceReconciler {
  readonly #alloc: Allocator;
  readonly #port: ControllerPort;
  readonly #log: Logger;
  readonly #lbClass: string | undefined;

  constructor(opts: { allocator: Allocator; port: ControllerPort; log: Logger; lbClass?: string | undefined }) {
    this.#alloc = opts.allocator;
    this.#port = opts.port;
    this.#log = opts.log;
    this.#lbClass = opts.lbClass;
  }

  /**
   * Phase one of a full pass (start-up, config change): re-admit every handled Service's current
   * IPs before anything is allocated, so a pending Service can never take an IP in use. Services
   * whose IPs no longer fit are left for the second phase (reconcile), which reassigns them.
   */
  readmit(services: readonly V1Service[]): void {
    for (const svc of services) {
      const key = serviceKey(svc);
      if (!isHandled(svc, this.#lbClass) || this.#alloc.allocationOf(key) !== undefined) continue;
      const ips = ingressIPs(svc);
      if (ips.length === 0) continue;
      const rec = serviceRecord(svc);
      if (!rec.ok) continue;
      const r = this.#alloc.assign(rec.record, ips);
      if (!r.ok) this.#log.info({ op: 'readmit', svc: key, ip: ips, reason: r.failure.reason }, 'current IP not re-admitted; will reassign');
    }
  }

  /** Reconciles one Service; `svc` undefined means it was deleted. */
  async reconcile(key: string, svc: V1Service | undefined): Promise<Verdict> {
    if (svc === undefined) return this.#alloc.release(key) ? 'reprocessAll' : 'success';
    if (!isHandled(svc, this.#lbClass)) return this.#unhandled(key, svc);
    const rec = serviceRecord(svc);
    if (!rec.ok) {
      // A contradictory request never costs the Service an IP it already has.
      this.#port.event(svc, 'Warning', 'LoadBalancerFailed', rec.message);
      return 'noRetry';
    }
    const ingress = ingressIPs(svc);
    let current = this.#alloc.allocationOf(key);
    if (current === undefined && ingress.length > 0) {
      const r = this.#alloc.assign(rec.record, ingress);
      if (r.ok) current = r.allocation;
      else if (r.failure.reason !== 'requestMismatch') {
        // Not a user's change of request: the IP became invalid (pool shrunk, conflict). Say so.
        this.#port.event(svc, 'Warning', 'ClearAssignment', `current IP ${ingress.join(', ')} cannot be kept (${r.failure.message}); assigning a new one`);
      }
    }
    const before = current === undefined ? [] : [...current.addresses];
    const result = this.#alloc.allocate(rec.record);
    if (!result.ok) {
      this.#log.warn({ op: 'allocate', svc: key, reason: result.failure.reason, err: result.failure.message }, 'allocation failed');
      this.#port.event(svc, 'Warning', 'AllocationFailed', `Failed to allocate IP for "${key}": ${result.failure.message}`);
      try {
        if (ingress.length > 0 || svc.metadata?.annotations?.[POOL_ANNOTATION] !== undefined) await this.#port.setStatus(svc, [], null);
      } catch (err) {
        this.#log.warn({ op: 'clearStatus', svc: key, err }, 'clearing status failed');
        return 'retry';
      }
      return before.length > 0 ? 'reprocessAll' : 'noRetry';
    }
    const alloc = result.allocation;
    const ips = [...alloc.addresses];
    const newIPs = !sameSet(ips, ingress);
    try {
      if (newIPs || svc.metadata?.annotations?.[POOL_ANNOTATION] !== alloc.pool) await this.#port.setStatus(svc, ips, alloc.pool);
    } catch (err) {
      this.#log.warn({ op: 'updateStatus', svc: key, err }, 'status update failed; will retry');
      return 'retry';
    }
    if (newIPs) {
      this.#log.info({ op: 'setBalancer', svc: key, ip: ips, pool: alloc.pool }, 'assigned IP');
      this.#port.event(svc, 'Normal', 'IPAllocated', `Assigned IP ${JSON.stringify(ips)} from pool "${alloc.pool}"`);
    }
    return before.length > 0 && !sameSet(before, ips) ? 'reprocessAll' : 'success';
  }

  async #unhandled(key: string, svc: V1Service): Promise<Verdict> {
    const released = this.#alloc.release(key);
    const ours = svc.metadata?.annotations?.[POOL_ANNOTATION] !== undefined;
    if (released || ours) {
      try {
        // Changing the type away from LoadBalancer makes the API server wipe status.loadBalancer
        // itself; a class change does not, so clear what we wrote.
        if (ingressIPs(svc).length > 0 || ours) await this.#port.setStatus(svc, [], null);
        this.#log.info({ op: 'clearAssignment', svc: key }, 'service no longer handled by ironlb; released its IP');
      } catch (err) {
        this.#log.warn({ op: 'clearAssignment', svc: key, err }, 'clearing status failed; will retry');
        return 'retry';
      }
    }
    return released ? 'reprocessAll' : 'success';
  }
}
