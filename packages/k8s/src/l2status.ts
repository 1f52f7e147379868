/**
 * ServiceL2Status: who announces a Service, readable from the API (`kubectl get servicel2status`).
 * One object per announced Service, named like the Service, in the Service's namespace, with an
 * owner reference to the Service: the garbage collector removes it with the Service (an owner
 * reference may only point inside the dependent's namespace, hence the namespace; MetalLB keeps
 * them in its own namespace owned by the speaker Pod and cleans up by hand).
 *
 * The speaker calls `announce` when it starts announcing a Service and `withdraw` when it stops;
 * both only record the desired state, and a CoalescingWriter turns it into at most one write in
 * flight per Service (a flapping Service costs writes at the rate of its settled states, not of
 * its flaps). A takeover simply overwrites the object with the new node; a withdrawing node deletes
 * the object only if it still names that node (read, then delete with a resourceVersion
 * precondition), so a slow old announcer never removes the new announcer's record.
 */
import { CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { makeApiClient } from './clients.js';
import { CoalescingWriter, type CoalescingStats, type WriteOutcome } from './coalesce.js';
import { IRONLB_API_VERSION, IRONLB_GROUP, IRONLB_VERSION, PLURALS, type ServiceL2StatusFields, type ServiceL2StatusObject } from './crds.js';
import { type BackoffOptions, LogLimiter } from './health.js';

/** Label with the announcing node's name (when it fits a label value). */
export const L2STATUS_NODE_LABEL = 'ironlb.io/node';
/** Label with the Service's name. */
export const L2STATUS_SERVICE_LABEL = 'ironlb.io/service-name';

/** The Service an object is about. */
export interface ServiceRef {
  namespace: string;
  name: string;
  /** The Service's uid (the owner reference); without it no owner reference is written. */
  uid?: string | undefined;
}

/** What the speaker announces for one Service. */
export interface Announcement {
  node: string;
  /** Interfaces answered on; null means every eligible interface. */
  interfaces: readonly string[] | null;
  ips: readonly string[];
  /** When this node started announcing. */
  since: Date;
}

/** The API calls the writer makes; the real one is the API, a unit test records calls. */
export interface L2StatusSink {
  get(namespace: string, name: string): Promise<ServiceL2StatusObject | undefined>;
  create(namespace: string, body: ServiceL2StatusObject): Promise<void>;
  /** JSON merge patch; throws a 404 error when the object does not exist. */
  patch(namespace: string, name: string, body: Record<string, unknown>): Promise<void>;
  /** Deletes if the resourceVersion still matches; throws 409 when it does not, 404 when gone. */
  delete(namespace: string, name: string, resourceVersion: string): Promise<void>;
}

/** Options of a ServiceL2StatusWriter. */
export interface L2StatusWriterOptions {
  log: Logger;
  sink?: L2StatusSink;
  backoff?: BackoffOptions;
  /** Writes in flight at once (default 8). */
  concurrency?: number;
}

type Desired = { present: true; svc: ServiceRef; fields: ServiceL2StatusFields } | { present: false; svc: ServiceRef; node: string };

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const LABEL_VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function codeOf(err: unknown): number | undefined {
  const e = err as { code?: number; statusCode?: number } | null;
  return e?.code ?? e?.statusCode;
}

/** The API sink on one kubeconfig (shared keep-alive pool). */
export function apiL2StatusSink(kc: KubeConfig): L2StatusSink {
  const api = makeApiClient(kc, CustomObjectsApi);
  const base = { group: IRONLB_GROUP, version: IRONLB_VERSION, plural: PLURALS.ServiceL2Status };
  return {
    async get(namespace, name) {
      try {
        return (await api.getNamespacedCustomObject({ ...base, namespace, name })) as ServiceL2StatusObject;
      } catch (err) {
        if (codeOf(err) === 404) return undefined;
        throw err;
      }
    },
    async create(namespace, body) {
      await api.createNamespacedCustomObject({ ...base, namespace, body });
    },
    async patch(namespace, name, body) {
      await api.patchNamespacedCustomObject({ ...base, namespace, name, body }, mergePatch);
    },
    async delete(namespace, name, resourceVersion) {
      await api.deleteNamespacedCustomObject({ ...base, namespace, name, body: { preconditions: { resourceVersion } } });
    },
  };
}

/** The object's labels and owner reference for a Service. */
function metadataFor(svc: ServiceRef, node: string): Record<string, unknown> {
  const labels: Record<string, string> = { [L2STATUS_SERVICE_LABEL]: svc.name, 'app.kubernetes.io/managed-by': 'ironlb-speaker' };
  // Label values are at most 63 characters; node names may be longer (then only status.node says it).
  if (node.length <= 63 && LABEL_VALUE_RE.test(node)) labels[L2STATUS_NODE_LABEL] = node;
  const meta: Record<string, unknown> = { labels };
  if (svc.uid !== undefined && svc.uid !== '') {
    meta['ownerReferences'] = [{ apiVersion: 'v1', kind: 'Service', name: svc.name, uid: svc.uid, blockOwnerDeletion: false, controller: false }];
  }
  return meta;
}

/** Keeps ServiceL2Status objects in step with what this node announces. */
export class ServiceL2StatusWriter {
  readonly #sink: L2StatusSink;
  readonly #writer: CoalescingWriter<Desired>;
  readonly #limiter = new LogLimiter(30_000);

  constructor(kc: KubeConfig | undefined, o: L2StatusWriterOptions) {
    if (o.sink === undefined && kc === undefined) throw new Error('ServiceL2StatusWriter needs a kubeconfig or a sink');
    this.#sink = o.sink ?? apiL2StatusSink(kc as KubeConfig);
    this.#writer = new CoalescingWriter<Desired>({
      write: async (_key, d) => (d.present ? this.#put(d.svc, d.fields) : this.#remove(d.svc, d.node)),
      // `since` is part of the value: a new announcement period is a new record.
      same: (a, b) => JSON.stringify(a) === JSON.stringify(b),
      concurrency: o.concurrency ?? 8,
      ...(o.backoff !== undefined ? { backoff: o.backoff } : {}),
      onError: (key, err, attempt) => {
        const suppressed = this.#limiter.take('write');
        if (suppressed !== undefined) o.log.warn({ op: 'serviceL2Status', svc: key, err, attempt, suppressed }, 'cannot write ServiceL2Status; retrying');
      },
    });
  }

  /** Records that `a.node` announces the Service (creates or updates its ServiceL2Status). */
  announce(svc: ServiceRef, a: Announcement): void {
    const fields: ServiceL2StatusFields = {
      node: a.node,
      serviceName: svc.name,
      serviceNamespace: svc.namespace,
      interfaces: (a.interfaces ?? []).map((name) => ({ name })),
      ips: [...a.ips],
      since: a.since.toISOString(),
    };
    this.#writer.set(`${svc.namespace}/${svc.name}`, { present: true, svc: { ...svc }, fields });
  }

  /** Records that `node` stopped announcing the Service (deletes the object if it still names `node`). */
  withdraw(svc: ServiceRef, node: string): void {
    this.#writer.set(`${svc.namespace}/${svc.name}`, { present: false, svc: { ...svc }, node });
  }

  /** Resolves when every recorded change is written (tests, graceful stop). */
  async idle(): Promise<void> {
    await this.#writer.idle();
  }

  /** Write counters. */
  stats(): CoalescingStats {
    return this.#writer.stats();
  }

  /** Stops writing (pending changes are dropped). */
  stop(): void {
    this.#writer.stop();
  }

  async #put(svc: ServiceRef, fields: ServiceL2StatusFields): Promise<WriteOutcome> {
    const metadata = metadataFor(svc, fields.node);
    try {
      await this.#sink.patch(svc.namespace, svc.name, { metadata, status: fields });
      return 'done';
    } catch (err) {
      if (codeOf(err) !== 404) throw err;
    }
    try {
      await this.#sink.create(svc.namespace, {
        apiVersion: IRONLB_API_VERSION,
        kind: 'ServiceL2Status',
        metadata: { name: svc.name, namespace: svc.namespace, ...metadata },
        status: fields,
      });
    } catch (err) {
      // Created meanwhile (another speaker taking over at the same moment): the next set decides.
      if (codeOf(err) === 409) throw new Error('ServiceL2Status created concurrently; retrying', { cause: err });
      // The namespace is being deleted (or is gone): nothing left to record.
      if (codeOf(err) === 404 || codeOf(err) === 403) return 'gone';
      throw err;
    }
    return 'done';
  }

  async #remove(svc: ServiceRef, node: string): Promise<WriteOutcome> {
    for (let i = 0; i < 3; i++) {
      const cur = await this.#sink.get(svc.namespace, svc.name);
      if (cur === undefined || cur.status?.node !== node) return 'done'; // gone, or another node's now
      try {
        await this.#sink.delete(svc.namespace, svc.name, cur.metadata?.resourceVersion ?? '');
        return 'done';
      } catch (err) {
        const code = codeOf(err);
        if (code === 404) return 'done';
        if (code !== 409) throw err; // 409: changed under us (a takeover): read again
      }
    }
    throw new Error(`ServiceL2Status ${svc.namespace}/${svc.name} kept changing while being withdrawn`);
  }
}
