/**
 * Kubernetes Events: how users see why something happened to their Service or ConfigMap
 * (`kubectl describe`). Repeats of the same (object, type, reason, message) within 10 minutes
 * raise the count of the existing Event instead of creating a new one, as client-go's recorder
 * does. Writes for one Event are serialized and coalesced: while one write is in flight, further
 * repeats only raise the count the next write carries, so a burst of N repeats costs at most two
 * writes and never conflicts with itself. Repeats are merge patches of {count, lastTimestamp}:
 * no read, no resourceVersion, no 409 (RBAC: create + patch, nothing else). State is bounded
 * (least recently used keys are forgotten) and messages are cut to the size Events are meant for.
 */
import { type CoreV1Event, type KubeConfig, PatchStrategy, type V1ObjectReference, setHeaderOptions } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { apiClients } from './clients.js';
import { LogLimiter } from './health.js';

/** Normal or Warning, as Kubernetes defines them. */
export type EventType = 'Normal' | 'Warning';

/** What an Event is about. */
export interface EventTarget {
  kind: string;
  apiVersion: string;
  namespace: string;
  name: string;
  uid?: string | undefined;
}

/** The two writes the recorder makes; the real one is the API, a unit test records calls. */
export interface EventSink {
  create(namespace: string, body: CoreV1Event): Promise<void>;
  /** Merge-patches the Event's count and lastTimestamp. */
  patch(namespace: string, name: string, count: number, lastTimestamp: Date): Promise<void>;
}

/** Tuning and test hooks of an EventRecorder. */
export interface EventRecorderOptions {
  /** Replaces the API (unit tests). */
  sink?: EventSink;
  now?: () => number;
  /** Distinct Events remembered for aggregation (default 4096). */
  maxKeys?: number;
  /** Longest message written (default 1024, what client-go's events.k8s.io note allows). */
  maxMessage?: number;
}

/** Counters of what the recorder did. */
export interface EventStats {
  created: number;
  patched: number;
  /** Writes that failed (the log line is the fallback). */
  failed: number;
  /** Messages cut to maxMessage. */
  truncated: number;
}

const AGGREGATE_MS = 600_000;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

interface Entry {
  namespace: string;
  name: string;
  body: CoreV1Event;
  /** Occurrences recorded so far, and how many the API has been told about. */
  count: number;
  written: number;
  created: boolean;
  lastAt: number;
  flushing: Promise<void> | undefined;
}

/** Cuts `message` to `max` characters, saying so. */
export function truncateEventMessage(message: string, max: number, component: string): string {
  if (message.length <= max) return message;
  const tail = ` … (cut: ${message.length} characters in all; the ${component} log has the rest)`;
  return message.slice(0, Math.max(0, max - tail.length)) + tail;
}

/** Records Events for one component (e.g. "ironlb-controller"). */
export class EventRecorder {
  readonly #sink: EventSink;
  readonly #component: string;
  readonly #host: string | undefined;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #maxKeys: number;
  readonly #maxMessage: number;
  readonly #recent = new Map<string, Entry>();
  readonly #limiter: LogLimiter;
  readonly #stats: EventStats = { created: 0, patched: 0, failed: 0, truncated: 0 };

  constructor(kc: KubeConfig, component: string, log: Logger, host?: string, opts: EventRecorderOptions = {}) {
    this.#component = component;
    this.#host = host;
    this.#log = log;
    this.#now = opts.now ?? Date.now;
    this.#maxKeys = opts.maxKeys ?? 4096;
    this.#maxMessage = opts.maxMessage ?? 1024;
    this.#limiter = new LogLimiter(30_000, this.#now);
    if (opts.sink !== undefined) {
      this.#sink = opts.sink;
    } else {
      const { core } = apiClients(kc);
      this.#sink = {
        create: async (namespace, body) => void (await core.createNamespacedEvent({ namespace, body })),
        patch: async (namespace, name, count, lastTimestamp) => void (await core.patchNamespacedEvent({ namespace, name, body: { count, lastTimestamp: lastTimestamp.toISOString() } }, mergePatch)),
      };
    }
  }

  /** Counters since start. */
  stats(): EventStats {
    return { ...this.#stats };
  }

  /** Distinct Events currently remembered (bounded by maxKeys). */
  size(): number {
    return this.#recent.size;
  }

  /**
   * Records an Event; never throws (an Event is best effort, the log line is the fallback).
   * Resolves once this occurrence has been written or has failed.
   */
  async record(target: EventTarget, type: EventType, reason: string, message: string): Promise<void> {
    const now = this.#now();
    const text = truncateEventMessage(message, this.#maxMessage, this.#component);
    if (text !== message) this.#stats.truncated++;
    const key = `${target.namespace}/${target.name}/${target.uid ?? ''}/${type}/${reason}/${text}`;
    let e = this.#recent.get(key);
    if (e !== undefined && now - e.lastAt >= AGGREGATE_MS) e = undefined; // a new Event after a quiet spell
    if (e === undefined) {
      e = this.#entry(target, type, reason, text, now);
    } else {
      this.#recent.delete(key); // most recently used goes last
    }
    this.#recent.set(key, e);
    while (this.#recent.size > this.#maxKeys) this.#recent.delete(this.#recent.keys().next().value ?? '');
    e.count++;
    e.lastAt = now;
    await this.#flush(e, key);
  }

  #entry(target: EventTarget, type: EventType, reason: string, message: string, now: number): Entry {
    const involved: V1ObjectReference = { kind: target.kind, apiVersion: target.apiVersion, namespace: target.namespace, name: target.name };
    if (target.uid !== undefined) involved.uid = target.uid;
    const at = new Date(now);
    const body: CoreV1Event = {
      metadata: { namespace: target.namespace },
      involvedObject: involved,
      type,
      reason,
      message,
      firstTimestamp: at,
      lastTimestamp: at,
      source: this.#host !== undefined ? { component: this.#component, host: this.#host } : { component: this.#component },
      reportingComponent: this.#component,
      reportingInstance: this.#host ?? this.#component,
    };
    return { namespace: target.namespace, name: this.#eventName(target.name, now), body, count: 0, written: 0, created: false, lastAt: now, flushing: undefined };
  }

  #eventName(objectName: string, now: number): string {
    // Object names go up to 253 characters; leave room for the suffix.
    return `${objectName.slice(0, 200)}.${now.toString(16)}${randomBytes(4).toString('hex')}`;
  }

  /** Writes the entry's count; one writer per entry, later occurrences ride on the next write. */
  async #flush(e: Entry, key: string): Promise<void> {
    if (e.flushing !== undefined) return e.flushing;
    e.flushing = this.#drain(e, key).finally(() => {
      e.flushing = undefined;
      // An occurrence recorded between the last write and this line still needs its write.
      if (e.written < e.count) void this.#flush(e, key);
    });
    return e.flushing;
  }

  async #drain(e: Entry, key: string): Promise<void> {
    let recreated = false;
    while (e.written < e.count) {
      const count = e.count;
      const last = new Date(e.lastAt);
      try {
        if (!e.created) {
          await this.#sink.create(e.namespace, { ...e.body, metadata: { ...e.body.metadata, name: e.name }, count, lastTimestamp: last });
          e.created = true;
          this.#stats.created++;
        } else {
          await this.#sink.patch(e.namespace, e.name, count, last);
          this.#stats.patched++;
        }
        e.written = count;
      } catch (err) {
        const status = (err as { code?: number; statusCode?: number } | null)?.code ?? (err as { statusCode?: number } | null)?.statusCode;
        if (e.created && status === 404 && !recreated) {
          // The Event expired (the API server keeps them an hour) or was deleted: start a new one.
          recreated = true;
          e.created = false;
          e.name = this.#eventName(e.body.involvedObject.name ?? 'event', this.#now());
          continue;
        }
        this.#stats.failed++;
        e.written = e.count; // these occurrences are lost; the next one starts afresh
        if (this.#recent.get(key) === e) this.#recent.delete(key);
        const suppressed = this.#limiter.take('fail');
        if (suppressed !== undefined) {
          this.#log.warn({ op: 'event', err, reason: e.body.reason, obj: `${e.namespace}/${e.body.involvedObject.name ?? ''}`, suppressed }, 'could not record event');
        }
        return;
      }
    }
  }
}
