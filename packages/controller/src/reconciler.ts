/**
 * The controller's decision logic: one handler per Service returning a verdict, with every side
 * effect behind a small port (status, annotation, Event) so unit tests use a recording fake and
 * integration tests the real API server. Allocator calls are synchronous and happen before any
 * await, so the allocator is consistent whatever reconciles are in flight.
 *
 * A failure is reported (log line + Warning Event) when it is new for the Service, or after
 * REPORT_AGAIN_MS: re-evaluating 500 pending Services must not write 500 Events each time.
 */
import type { V1Service } from '@kubernetes/client-node';
import { type Allocation, type AllocationFailure, type Allocator, type ServiceRecord, quote } from '@ironlb/core';
import { LogLimiter } from '@ironlb/k8s';
import type { Logger } from 'pino';
import { ANNOTATION_PREFIXES, POOL_ANNOTATION, type RecordResult, ingressIPs, isHandled, serviceKey, serviceRecord } from './service-record.js';

/** What to do after a reconcile (MetalLB's SyncState); reprocessAll: this Service freed IPs. */
export type Verdict = 'success' | 'retry' | 'noRetry' | 'reprocessAll';

/** Side effects of the controller. */
export interface ControllerPort {
  /** Sets status.loadBalancer.ingress to exactly these IPs ([] clears) and the pool annotation (null removes it), in one write. */
  setStatus(svc: V1Service, ips: readonly string[], pool: string | null): Promise<void>;
  /** Records a Kubernetes Event on the Service (best effort, never throws). */
  event(svc: V1Service, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

/** The same failure is reported again after this long (an Event lives one hour on the server). */
export const REPORT_AGAIN_MS = 600_000;

/**
 * The Warning for a Service that keeps IPs its pool's serviceAllocation no longer serves: which
 * rule fails (the allocator's message), that the IP is kept, and the one command that moves it
 * (asking for a pool is a user request, which the allocator honours by re-allocating; the
 * annotation may be removed afterwards, the new IP stays). `serving`: the pools the rules would
 * pick now, best first. Pure, for table tests; bounded (names are quoted and cut).
 */
export function ruleMismatchMessage(svc: V1Service, alloc: Allocation, mismatch: AllocationFailure, serving: readonly string[]): string {
  const ns = svc.metadata?.namespace ?? '';
  const name = svc.metadata?.name ?? '';
  // Annotate under the prefix the Service already uses: two prefixes that disagree are refused.
  const prefix = ANNOTATION_PREFIXES.find((p) => svc.metadata?.annotations?.[`${p}address-pool`] !== undefined) ?? ANNOTATION_PREFIXES[0];
  const target = serving.find((p) => p !== alloc.pool);
  const move =
    target === undefined
      ? `no other pool's rules serve this Service now; to get an IP by the current rules, delete and re-create the Service`
      : `to move it to pool ${quote(target)} (the first whose rules serve it): kubectl -n ${ns.slice(0, 63)} annotate service ${name.slice(0, 63)} --overwrite ${prefix}address-pool=${target.slice(0, 253)} (the annotation may be removed after the move; the new IP stays)`;
  return `Kept IP ${alloc.addresses.join(', ')} of pool ${quote(alloc.pool)} although ${mismatch.message}. Rules apply to new allocations only; ${move}`;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** True while the Service is being deleted (a finalizer holds it). */
export function isTerminating(svc: V1Service): boolean {
  return svc.metadata?.deletionTimestamp !== undefined && svc.metadata.deletionTimestamp !== null;
}

/** Reconciles Services against the allocator. */
export class ServiceReconciler {
  readonly #alloc: Allocator;
  readonly #port: ControllerPort;
  readonly #log: Logger;
  readonly #lbClass: string | undefined;
  readonly #now: () => number;
  readonly #record: (svc: V1Service) => RecordResult;
  /** Last failure reported per Service, so a repeat is quiet. Entries go when the Service does. */
  readonly #reported = new Map<string, { message: string; at: number }>();
  /** Last AllocationRuleMismatch warning per Service (same policy). Entries go with the mismatch or the Service. */
  readonly #mismatched = new Map<string, { message: string; at: number }>();
  readonly #writeLog: LogLimiter;

  constructor(opts: {
    allocator: Allocator;
    port: ControllerPort;
    log: Logger;
    lbClass?: string | undefined;
    now?: () => number;
    /** Builds the allocator record (default serviceRecord; the controller adds namespace labels). */
    record?: (svc: V1Service) => RecordResult;
  }) {
    this.#alloc = opts.allocator;
    this.#record = opts.record ?? ((svc) => serviceRecord(svc));
    this.#port = opts.port;
    this.#log = opts.log;
    this.#lbClass = opts.lbClass;
    this.#now = opts.now ?? Date.now;
    this.#writeLog = new LogLimiter(30_000, this.#now);
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
      const rec = this.#record(svc);
      if (!rec.ok) continue;
      const r = this.#alloc.assign(rec.record, ips);
      if (!r.ok) this.#log.info({ op: 'readmit', svc: key, ip: ips, reason: r.failure.reason }, 'current IP not re-admitted; will reassign');
    }
  }

  /**
   * Gives a waiting Service an IP in memory if one is free for it now; no log, Event or write
   * (the caller queues the Service, whose reconcile writes the status). True if it got one.
   */
  claim(svc: V1Service): boolean {
    if (!isHandled(svc, this.#lbClass) || isTerminating(svc)) return false;
    const rec = this.#record(svc);
    return rec.ok && this.#alloc.allocate(rec.record).ok;
  }

  /** Reconciles one Service; `svc` undefined means it was deleted. */
  async reconcile(key: string, svc: V1Service | undefined): Promise<Verdict> {
    if (svc === undefined) {
      this.#reported.delete(key);
      this.#mismatched.delete(key);
      return this.#alloc.release(key) ? 'reprocessAll' : 'success';
    }
    if (!isHandled(svc, this.#lbClass)) {
      this.#reported.delete(key);
      this.#mismatched.delete(key);
      return this.#unhandled(key, svc);
    }
    const rec = this.#record(svc);
    if (!rec.ok) {
      // A contradictory request never costs the Service an IP it already has.
      this.#report(svc, key, 'LoadBalancerFailed', rec.message);
      return 'noRetry';
    }
    const ingress = ingressIPs(svc);
    let current = this.#alloc.allocationOf(key);
    if (current === undefined && ingress.length > 0) {
      const r = this.#alloc.assign(rec.record, ingress);
      if (r.ok) current = r.allocation;
      else if (r.failure.reason !== 'requestMismatch' && !isTerminating(svc)) {
        // Not a user's change of request: the IP became invalid (pool shrunk, conflict). Say so.
        this.#port.event(svc, 'Warning', 'ClearAssignment', `current IP ${ingress.join(', ')} cannot be kept (${r.failure.message}); a new one is allocated if possible`);
      }
    }
    if (isTerminating(svc)) {
      // Being deleted: keep what it holds until it is gone, never hand it a new IP (a freed IP
      // belongs to the Services still waiting).
      return 'success';
    }
    const before = current === undefined ? [] : [...current.addresses];
    const result = this.#alloc.allocate(rec.record);
    if (!result.ok) {
      this.#report(svc, key, 'AllocationFailed', `Failed to allocate IP for "${key}": ${result.failure.message}`, result.failure.reason);
      try {
        if (ingress.length > 0 || svc.metadata?.annotations?.[POOL_ANNOTATION] !== undefined) await this.#port.setStatus(svc, [], null);
      } catch (err) {
        this.#writeFailed('clearStatus', key, err);
        return 'retry';
      }
      return before.length > 0 ? 'reprocessAll' : 'noRetry';
    }
    this.#reported.delete(key);
    const alloc = result.allocation;
    const ips = [...alloc.addresses];
    const newIPs = !sameSet(ips, ingress);
    try {
      if (newIPs || svc.metadata?.annotations?.[POOL_ANNOTATION] !== alloc.pool) await this.#port.setStatus(svc, ips, alloc.pool);
    } catch (err) {
      this.#writeFailed('updateStatus', key, err);
      return 'retry';
    }
    if (newIPs) {
      this.#log.info({ op: 'setBalancer', svc: key, ip: ips, pool: alloc.pool }, 'assigned IP');
      this.#port.event(svc, 'Normal', 'IPAllocated', `Assigned IP ${JSON.stringify(ips)} from pool ${quote(alloc.pool)}`);
    }
    if (result.ruleMismatch === undefined) this.#mismatched.delete(key);
    else this.#warnMismatch(svc, key, rec.record, alloc, result.ruleMismatch);
    return before.length > 0 && !sameSet(before, ips) ? 'reprocessAll' : 'success';
  }

  /** Warns (once per distinct text, again after REPORT_AGAIN_MS) that a Service keeps IPs its pool's rules no longer serve. */
  #warnMismatch(svc: V1Service, key: string, record: ServiceRecord, alloc: Allocation, mismatch: AllocationFailure): void {
    const message = ruleMismatchMessage(svc, alloc, mismatch, this.#alloc.servingPools(record));
    const now = this.#now();
    const last = this.#mismatched.get(key);
    if (last !== undefined && last.message === message && now - last.at < REPORT_AGAIN_MS) return;
    this.#mismatched.set(key, { message, at: now });
    this.#log.warn(
      { op: 'allocate', svc: key, ip: alloc.addresses, pool: alloc.pool, reason: 'ruleMismatch', err: mismatch.message },
      "kept IP although the pool's serviceAllocation no longer serves the Service",
    );
    this.#port.event(svc, 'Warning', 'AllocationRuleMismatch', message);
  }

  /** Logs and records a failure once per distinct message (again after REPORT_AGAIN_MS). */
  #report(svc: V1Service, key: string, reason: string, message: string, why?: string): void {
    const now = this.#now();
    const last = this.#reported.get(key);
    if (last !== undefined && last.message === message && now - last.at < REPORT_AGAIN_MS) {
      this.#log.debug({ op: 'allocate', svc: key, reason: why ?? reason }, 'still failing (reported before)');
      return;
    }
    this.#reported.set(key, { message, at: now });
    this.#log.warn({ op: 'allocate', svc: key, reason: why ?? reason, err: message }, reason === 'AllocationFailed' ? 'allocation failed' : 'invalid load-balancer request');
    this.#port.event(svc, 'Warning', reason, message);
  }

  #writeFailed(op: string, key: string, err: unknown): void {
    const suppressed = this.#writeLog.take(op);
    if (suppressed !== undefined) this.#log.warn({ op, svc: key, err, suppressed }, 'status write failed; will retry');
    else this.#log.debug({ op, svc: key, err }, 'status write failed; will retry');
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
        this.#writeFailed('clearAssignment', key, err);
        return 'retry';
      }
    }
    return released ? 'reprocessAll' : 'success';
  }
}
