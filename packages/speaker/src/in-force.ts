/**
 * The speaker's read-only view of the config in force the controller publishes (ConfigMap
 * IN_FORCE_CONFIGMAP; core's in-force.ts says why it exists). The speaker seeds buildConfig's
 * `previous` from it at start, and adopts each new version the controller publishes, so that the
 * speaker and the controller agree on which of two overlapping pools holds the addresses and which
 * previous version of an invalid object stays, even after one of them restarted.
 *
 * Never in the way of announcing: the first list is awaited for a bounded time only (an old
 * install has no such ConfigMap, an API outage holds up the other informers anyway), and a
 * missing or invalid document just means "decide as before".
 */
import type { KubeConfig, V1ConfigMap } from '@kubernetes/client-node';
import { type Config, IN_FORCE_CONFIGMAP, IN_FORCE_KEY, decodeInForce, legacyPartOf } from '@ironlb/core';
import { type ResilientInformer, configMapInformer } from '@ironlb/k8s';
import type { Logger } from 'pino';

/** How long the speaker's start waits for the published config in force at most. */
export const IN_FORCE_START_WAIT_MS = 5000;

/** What buildConfig is seeded with. */
export interface SeededSources {
  /** The config an invalid object keeps its version from. */
  readonly previous: Config | undefined;
  /** The ConfigMap's last good config (used only while the ConfigMap is missing or invalid). */
  readonly lastGoodLegacy: Config | undefined;
}

/**
 * Pure: what to seed the next buildConfig with. `adopt` (at start, or when the controller
 * published a new version) prefers the published config in force over this process's own.
 */
export function seededSources(o: { own: Config | undefined; ownLegacy: Config | undefined; published: Config | undefined; adopt: boolean }): SeededSources {
  const previous = o.adopt ? (o.published ?? o.own) : (o.own ?? o.published);
  const lastGoodLegacy = o.ownLegacy ?? (o.published === undefined ? undefined : legacyPartOf(o.published));
  return { previous, lastGoodLegacy };
}

/** Watches the published config in force and keeps the last valid version. */
export class InForceView {
  readonly #informer: ResilientInformer<V1ConfigMap>;
  readonly #log: Logger;
  readonly #namespace: string;
  #config: Config | undefined;
  #text: string | undefined;
  #handler: (() => void) | undefined;

  constructor(o: { kc: KubeConfig; log: Logger; namespace: string }) {
    this.#log = o.log;
    this.#namespace = o.namespace;
    // No ApiHealth: readiness must not depend on a ConfigMap an old install does not have.
    this.#informer = configMapInformer({ kc: o.kc, log: o.log }, o.namespace, IN_FORCE_CONFIGMAP);
    this.#informer.on((ev, cm) => {
      if (ev === 'delete') return; // keep the last version: deleting the document changes nothing
      if (this.#take(cm)) this.#handler?.();
    });
  }

  /** The last valid published config in force, if any. */
  get config(): Config | undefined {
    return this.#config;
  }

  /** Calls `fn` whenever a new valid version arrives (register after start). */
  onChange(fn: () => void): void {
    this.#handler = fn;
  }

  /** Starts watching; resolves after the first list or after `maxWaitMs`, whichever is first. */
  async start(signal: AbortSignal, maxWaitMs = IN_FORCE_START_WAIT_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const started = this.#informer.start(signal).then(
      () => {
        const cm = this.#informer.get(IN_FORCE_CONFIGMAP, this.#namespace);
        if (cm === undefined) this.#log.info({ op: 'configInForce' }, `no ConfigMap ${IN_FORCE_CONFIGMAP} (yet): deciding the config in force as before`);
        else this.#take(cm);
      },
      () => undefined, // stopped
    );
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, maxWaitMs);
      timer.unref();
    });
    await Promise.race([started, waited]);
    if (timer !== undefined) clearTimeout(timer);
  }

  stop(): void {
    this.#informer.stop();
  }

  /** True when `cm` holds a new valid document. */
  #take(cm: V1ConfigMap): boolean {
    const text = cm.data?.[IN_FORCE_KEY];
    if (text === this.#text) return false;
    this.#text = text;
    const r = decodeInForce(text);
    if (!r.ok) {
      this.#log.warn({ op: 'configInForce', err: r.error.slice(0, 500) }, 'the published config in force is invalid; keeping the last valid one');
      return false;
    }
    this.#config = r.config;
    return true;
  }
}
