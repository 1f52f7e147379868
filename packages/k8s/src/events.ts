/**
 * Kubernetes Events: how users see why something happened to their Service or ConfigMap
 * (`kubectl describe`). Repeats of the same (object, type, reason, message) within 10 minutes
 * bump the count of the existing Event instead of creating a new one, as client-go's recorder does.
 */
import { CoreV1Api, type CoreV1Event, type KubeConfig, type V1ObjectReference } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';

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

/** Records Events for one component (e.g. "ironlb-controller"). */
export class EventRecorder {
  readonly #core: CoreV1Api;
  readonly #component: string;
  readonly #host: string | undefined;
  readonly #log: Logger;
  readonly #recent = new Map<string, { name: string; namespace: string; count: number; at: number }>();

  constructor(kc: KubeConfig, component: string, log: Logger, host?: string) {
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#component = component;
    this.#host = host;
    this.#log = log;
  }

  /** Records an Event; never throws (an Event is best effort, the log line is the fallback). */
  async record(target: EventTarget, type: EventType, reason: string, message: string): Promise<void> {
    const now = new Date();
    const key = `${target.namespace}/${target.name}/${target.uid ?? ''}/${type}/${reason}/${message}`;
    const seen = this.#recent.get(key);
    try {
      if (seen !== undefined && now.getTime() - seen.at < 600_000) {
        seen.count++;
        seen.at = now.getTime();
        const ev = await this.#core.readNamespacedEvent({ name: seen.name, namespace: seen.namespace });
        ev.count = seen.count;
        ev.lastTimestamp = now;
        await this.#core.replaceNamespacedEvent({ name: seen.name, namespace: seen.namespace, body: ev });
        return;
      }
      const involved: V1ObjectReference = { kind: target.kind, apiVersion: target.apiVersion, namespace: target.namespace, name: target.name };
      if (target.uid !== undefined) involved.uid = target.uid;
      const name = `${target.name}.${now.getTime().toString(16)}${randomBytes(2).toString('hex')}`;
      const body: CoreV1Event = {
        metadata: { name, namespace: target.namespace },
        involvedObject: involved,
        type,
        reason,
        message,
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        source: this.#host !== undefined ? { component: this.#component, host: this.#host } : { component: this.#component },
        reportingComponent: this.#component,
        reportingInstance: this.#host ?? this.#component,
      };
      await this.#core.createNamespacedEvent({ namespace: target.namespace, body });
      this.#recent.set(key, { name, namespace: target.namespace, count: 1, at: now.getTime() });
      if (this.#recent.size > 5000) this.#recent.delete(this.#recent.keys().next().value ?? '');
    } catch (err) {
      this.#recent.delete(key);
      this.#log.warn({ op: 'event', err, reason, obj: `${target.namespace}/${target.name}` }, 'could not record event');
    }
  }
}
