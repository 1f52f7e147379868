/**
 * The controller's side of the published config in force (core's in-force.ts says why it exists):
 * it reads the ConfigMap IN_FORCE_CONFIGMAP at start, so a restarted controller seeds buildConfig's
 * `previous` (and the ConfigMap's part, if that ConfigMap is gone or invalid) from what was in
 * force before, and it writes the ConfigMap whenever the config in force changes.
 *
 * Writes go through a CoalescingWriter: latest value wins, retried with backoff through API
 * outages and conflicts, never awaited by allocation. The ConfigMap is re-created if someone
 * deletes it and rewritten if someone edits it. A missing or corrupt document at start is logged
 * (and a corrupt one gets a Warning Event): the controller then decides afresh, as before.
 */
import { createHash } from 'node:crypto';
import { CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { type Config, IN_FORCE_CONFIGMAP, IN_FORCE_KEY, decodeInForce, encodeInForce, legacyPartOf } from '@ironlb/core';
import { type BackoffOptions, CoalescingWriter, type EventRecorder, type InformerContext, LogLimiter, type ResilientInformer, configMapInformer, makeApiClient } from '@ironlb/k8s';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from 'pino';

/** Annotation with a short digest of the document (to compare components' views at a glance). */
export const IN_FORCE_DIGEST_ANNOTATION = 'ironlb.io/config-in-force-sha256';
/** Annotation with the time the controller last changed the document. */
export const IN_FORCE_TIME_ANNOTATION = 'ironlb.io/config-in-force-updated';
/** Why a start-up read of the document gave no seed (a metric label). */
export type SeedOutcome = 'seeded' | 'missing' | 'invalid';

/** What a restart starts from: the config in force before it, and the ConfigMap's part of it. */
export interface InForceSeed {
  readonly config: Config;
  /** The legacy ConfigMap's pools in force (to stand in for a ConfigMap that is gone or invalid). */
  readonly legacy: Config | undefined;
}

/** Options of InForcePublisher. */
export interface InForcePublisherOptions {
  kc: KubeConfig;
  log: Logger;
  namespace: string;
  /** The informer context of the controller (health, backoff). */
  ctx: InformerContext;
  events: EventRecorder;
  registry: Registry;
  backoff?: BackoffOptions | undefined;
  now?: () => Date;
}

/** A short hex digest of a document. */
export function inForceDigest(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** Reads the published config in force at start, and keeps it published. */
export class InForcePublisher {
  /** Watches the one ConfigMap (the controller's Role already lists and watches ConfigMaps by name). */
  readonly informer: ResilientInformer<V1ConfigMap>;
  readonly #o: InForcePublisherOptions;
  readonly #writer: CoalescingWriter<string>;
  readonly #core: CoreV1Api;
  readonly #writes: Counter<'result'>;
  readonly #seeds: Counter<'outcome'>;
  readonly #logLimit = new LogLimiter(30_000);
  /** The document the controller wants published (undefined until a config is in force). */
  #desired: string | undefined;
  #started = false;

  constructor(o: InForcePublisherOptions) {
    this.#o = o;
    this.#core = makeApiClient(o.kc, CoreV1Api);
    this.informer = configMapInformer(o.ctx, o.namespace, IN_FORCE_CONFIGMAP);
    this.#writes = new Counter({ name: 'ironlb_config_in_force_writes_total', help: 'Writes of the config-in-force ConfigMap, by result', labelNames: ['result'], registers: [o.registry] });
    this.#seeds = new Counter({ name: 'ironlb_config_in_force_seeds_total', help: 'Start-up reads of the config-in-force ConfigMap, by outcome', labelNames: ['outcome'], registers: [o.registry] });
    this.#writer = new CoalescingWriter<string>({
      concurrency: 1,
      ...(o.backoff !== undefined ? { backoff: o.backoff } : {}),
      write: async (_key, text) => this.#write(text),
      onError: (_key, err) => {
        this.#writes.inc({ result: 'failed' });
        const suppressed = this.#logLimit.take('write');
        if (suppressed !== undefined) o.log.warn({ op: 'configInForce', err, suppressed }, `cannot write ConfigMap ${IN_FORCE_CONFIGMAP}; retrying`);
      },
    });
    this.informer.on((ev, cm) => {
      if (!this.#started || this.#desired === undefined) return;
      // Deleted or edited by someone else: publish again (the writer skips what it wrote last).
      if (ev === 'delete' || cm.data?.[IN_FORCE_KEY] !== this.#desired) {
        this.#writer.forget('doc');
        this.#writer.set('doc', this.#desired);
      }
    });
  }

  /**
   * The seed from the cached ConfigMap (call after the informer synced). Undefined when it is
   * missing or invalid; an invalid one is logged and reported with a Warning Event.
   */
  seed(): InForceSeed | undefined {
    const { log, namespace } = this.#o;
    const cm = this.informer.get(IN_FORCE_CONFIGMAP, namespace);
    if (cm === undefined) {
      this.#seeds.inc({ outcome: 'missing' });
      log.info({ op: 'configInForce' }, `no ConfigMap ${IN_FORCE_CONFIGMAP} yet (first start or an older version): deciding the config in force afresh`);
      return undefined;
    }
    const r = decodeInForce(cm.data?.[IN_FORCE_KEY]);
    if (!r.ok) {
      this.#seeds.inc({ outcome: 'invalid' });
      const message =
        `ConfigMap ${namespace}/${IN_FORCE_CONFIGMAP} (data key ${IN_FORCE_KEY}) is not a valid config-in-force document: ${r.error}. ` +
        `Ignored: which pool keeps contested addresses, and which previous versions of invalid objects stay, is decided afresh; the controller rewrites it. It is written by the controller only: do not edit it.`;
      log.warn({ op: 'configInForce', err: r.error.slice(0, 2000) }, 'the published config in force is invalid; ignoring it');
      void this.#o.events.record({ kind: 'ConfigMap', apiVersion: 'v1', namespace, name: IN_FORCE_CONFIGMAP, uid: cm.metadata?.uid }, 'Warning', 'InvalidConfigInForce', message);
      return undefined;
    }
    this.#seeds.inc({ outcome: 'seeded' });
    log.info({ op: 'configInForce', pools: r.config.pools.length, digest: inForceDigest(cm.data?.[IN_FORCE_KEY] ?? '') }, 'seeded the config in force from the published one');
    return { config: r.config, legacy: legacyPartOf(r.config) };
  }

  /** Publishes `config` as the config in force (asynchronously; the latest call wins). */
  publish(config: Config): void {
    this.#started = true;
    this.#desired = encodeInForce(config);
    this.#writer.set('doc', this.#desired);
  }

  /** Resolves when no write is owed (tests). */
  async idle(): Promise<void> {
    await this.#writer.idle();
  }

  /** Stops writing and watching. */
  stop(): void {
    this.#writer.stop();
    this.informer.stop();
  }

  /** Create or update with the resourceVersion read: a conflict throws and is retried. */
  async #write(text: string): Promise<'done'> {
    const { namespace } = this.#o;
    const annotations = { [IN_FORCE_DIGEST_ANNOTATION]: inForceDigest(text), [IN_FORCE_TIME_ANNOTATION]: (this.#o.now?.() ?? new Date()).toISOString() };
    const labels = { 'app.kubernetes.io/name': 'ironlb', 'app.kubernetes.io/managed-by': 'ironlb-controller' };
    let cur: V1ConfigMap | undefined;
    try {
      cur = await this.#core.readNamespacedConfigMap({ name: IN_FORCE_CONFIGMAP, namespace });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
    if (cur === undefined) {
      await this.#core.createNamespacedConfigMap({ namespace, body: { metadata: { name: IN_FORCE_CONFIGMAP, namespace, labels, annotations }, data: { [IN_FORCE_KEY]: text } } });
      this.#writes.inc({ result: 'created' });
      return 'done';
    }
    if (cur.data?.[IN_FORCE_KEY] === text && Object.keys(cur.data).length === 1) return 'done';
    const body: V1ConfigMap = {
      ...cur,
      metadata: { ...cur.metadata, labels: { ...cur.metadata?.labels, ...labels }, annotations: { ...cur.metadata?.annotations, ...annotations } },
      data: { [IN_FORCE_KEY]: text },
    };
    delete body.binaryData;
    await this.#core.replaceNamespacedConfigMap({ name: IN_FORCE_CONFIGMAP, namespace, body });
    this.#writes.inc({ result: 'updated' });
    return 'done';
  }
}
