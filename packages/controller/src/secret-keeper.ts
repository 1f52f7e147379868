/**
 * Keeps the memberlist Secret in existence: created at start if absent, and created again (with a
 * new random key) whenever it is deleted, with a log line and a Normal Event on the new Secret.
 * An existing Secret is never touched: an operator may rotate its key on purpose. Driven by a
 * namespace-scoped informer on that one name, so a deletion is seen at once; creation failures
 * (API down, RBAC) are retried with capped backoff.
 */
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import {
  type BackoffOptions,
  DEFAULT_BACKOFF,
  type EventRecorder,
  LogLimiter,
  MEMBERLIST_SECRET,
  MEMBERLIST_SECRET_KEY,
  type ResilientInformer,
  backoffDelay,
  createMemberlistSecret,
} from '@ironlb/k8s';
import type { Logger } from 'pino';

/** Options of the keeper. */
export interface SecretKeeperOptions {
  kc: KubeConfig;
  namespace: string;
  log: Logger;
  events: EventRecorder;
  /** An informer on the Secret's namespace restricted to its name (`secretInformer`). */
  informer: ResilientInformer<V1Secret>;
  backoff?: BackoffOptions;
  /** Replaces the API create (unit tests). */
  create?: (kc: KubeConfig, namespace: string) => Promise<V1Secret | undefined>;
}

/** Re-creates the memberlist Secret when it is missing. */
export class MemberlistSecretKeeper {
  readonly #o: SecretKeeperOptions;
  readonly #limiter = new LogLimiter(60_000);
  #stopped = false;
  #busy = false;
  #again = false;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Whether a Secret was seen (or made) before: a later absence is a deletion. */
  #seen = false;
  #created = 0;
  #warnedRV = '';

  constructor(o: SecretKeeperOptions) {
    this.#o = o;
    o.informer.on((ev, secret) => {
      if (ev === 'delete') {
        this.#o.log.warn({ op: 'memberlistSecret', namespace: o.namespace }, 'memberlist Secret deleted; creating a new one');
        this.check();
      } else {
        this.#seen = true;
        this.#checkKey(secret);
      }
    });
  }

  /** Secrets this keeper created so far. */
  created(): number {
    return this.#created;
  }

  /** Makes sure the Secret exists (call once the informer has synced; deletions call it again). */
  check(): void {
    if (this.#stopped) return;
    if (this.#busy) {
      this.#again = true;
      return;
    }
    this.#busy = true;
    void this.#ensure().finally(() => {
      this.#busy = false;
      if (this.#again) {
        this.#again = false;
        this.check();
      }
    });
  }

  /** Stops retrying. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  async #ensure(): Promise<void> {
    const { informer, namespace, log } = this.#o;
    if (!informer.synced() || informer.get(MEMBERLIST_SECRET, namespace) !== undefined) return;
    const again = this.#seen;
    try {
      const made = await (this.#o.create ?? createMemberlistSecret)(this.#o.kc, namespace);
      this.#failures = 0;
      if (made === undefined) return; // someone else created it meanwhile: keep theirs
      this.#created++;
      this.#seen = true;
      const message = again ? 'the memberlist Secret was deleted; created it again with a new random key' : 'created the memberlist Secret with a new random key';
      log.info({ op: 'memberlistSecret', namespace, recreated: again }, message);
      void this.#o.events.record(
        { kind: 'Secret', apiVersion: 'v1', namespace, name: MEMBERLIST_SECRET, uid: made.metadata?.uid },
        'Normal',
        again ? 'MemberlistSecretRecreated' : 'MemberlistSecretCreated',
        message,
      );
    } catch (err) {
      this.#failures++;
      const delay = backoffDelay(this.#failures, this.#o.backoff ?? DEFAULT_BACKOFF);
      const suppressed = this.#limiter.take('create');
      if (suppressed !== undefined) log.warn({ op: 'memberlistSecret', namespace, err, retryMs: delay, suppressed }, 'cannot create the memberlist Secret; retrying');
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.check(), delay);
      this.#timer.unref();
    }
  }

  /** A Secret without the key is the operator's business; say so once per version. */
  #checkKey(secret: V1Secret): void {
    const rv = secret.metadata?.resourceVersion ?? '';
    if ((secret.data?.[MEMBERLIST_SECRET_KEY] ?? '') !== '' || rv === this.#warnedRV) return;
    this.#warnedRV = rv;
    this.#o.log.warn(
      { op: 'memberlistSecret', namespace: this.#o.namespace },
      `memberlist Secret has no "${MEMBERLIST_SECRET_KEY}" key; leaving it as it is (speakers gossip unencrypted or fail to start)`,
    );
  }
}
