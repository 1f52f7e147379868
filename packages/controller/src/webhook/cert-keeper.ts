/**
 * Keeps the webhook's TLS in order: rotates the certificates when due (certs.ts), reloads the
 * HTTPS server, and injects the CA bundle into every webhook of the ValidatingWebhookConfiguration
 * (`caBundle`), as MetalLB's cert-rotator does. The configuration is read and patched by name only
 * (RBAC: get and patch on that one object). A strategic merge patch updates `caBundle` of each
 * webhook by its name and leaves everything else (rules, timeouts, the Service reference) as the
 * manifest says. Checked at start and every `intervalMs`, so a re-applied manifest that wiped the
 * bundle is repaired within a minute; failures are retried with backoff and logged rate-limited.
 */
import { AdmissionregistrationV1Api, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { type BackoffOptions, DEFAULT_BACKOFF, LogLimiter, backoffDelay, makeApiClient } from '@ironlb/k8s';
import type { Logger } from 'pino';
import type { WebhookCertificates } from './certs.js';
import type { WebhookServer } from './server.js';

/** Options of the keeper. */
export interface CertKeeperOptions {
  kc: KubeConfig;
  /** Name of the ValidatingWebhookConfiguration (deploy/ironlb.yaml: ironlb-webhook). */
  configName: string;
  certs: WebhookCertificates;
  server: WebhookServer;
  log: Logger;
  /** Period of the rotation and injection check (default 60 s). */
  intervalMs?: number;
  backoff?: BackoffOptions;
}

const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

/** Rotation and caBundle injection loop. */
export class WebhookCertKeeper {
  readonly #o: CertKeeperOptions;
  readonly #api: AdmissionregistrationV1Api;
  readonly #limiter = new LogLimiter(60_000);
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #failures = 0;
  #running: Promise<void> | undefined;
  #injections = 0;
  #missingLogged = false;

  constructor(o: CertKeeperOptions) {
    this.#o = o;
    this.#api = makeApiClient(o.kc, AdmissionregistrationV1Api);
  }

  /** Times the caBundle was written (tests). */
  injections(): number {
    return this.#injections;
  }

  /** Starts the loop (the first check runs now, in the background). */
  start(): void {
    this.#schedule(0);
  }

  /** Runs one check now and resolves when it is done (tests). */
  async checkNow(): Promise<void> {
    this.#running ??= this.#check().finally(() => (this.#running = undefined));
    await this.#running;
  }

  /** Stops the loop. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.checkNow().finally(() => {
        const next = this.#failures > 0 ? backoffDelay(this.#failures, this.#o.backoff ?? DEFAULT_BACKOFF) : (this.#o.intervalMs ?? 60_000);
        this.#schedule(next);
      });
    }, ms);
    // A periodic check must not keep a stopping process alive.
    this.#timer.unref();
  }

  async #check(): Promise<void> {
    const { certs, server, log, configName } = this.#o;
    try {
      const changed = await certs.rotate();
      const serving = certs.current();
      if (changed.cert && serving !== undefined) {
        server.reload(serving);
        log.info({ op: 'webhookCert', notAfter: serving.notAfter.toISOString() }, 'webhook serving certificate issued');
      }
      await this.#inject(certs.caBundlePem());
      this.#failures = 0;
    } catch (err) {
      this.#failures++;
      const suppressed = this.#limiter.take('inject');
      if (suppressed !== undefined) log.warn({ op: 'webhookCert', err, configuration: configName, failures: this.#failures, suppressed }, 'cannot inject the webhook CA bundle; retrying');
    }
  }

  async #inject(bundlePem: string): Promise<void> {
    const { configName, certs, log } = this.#o;
    const want = Buffer.from(bundlePem).toString('base64');
    let cfg;
    try {
      cfg = await this.#api.readValidatingWebhookConfiguration({ name: configName });
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 404 || code === 403) {
        // Not installed (the manifest's webhook objects not applied, so no RBAC either): nothing to inject.
        if (!this.#missingLogged) {
          log.info(
            { op: 'webhookCert', configuration: configName, code },
            'no ValidatingWebhookConfiguration of that name (or no RBAC to read it): the webhook serves but nobody calls it; checking again every minute',
          );
        }
        this.#missingLogged = true;
        return;
      }
      throw err;
    }
    this.#missingLogged = false;
    const stale = (cfg.webhooks ?? []).filter((w) => w.clientConfig.caBundle !== want).map((w) => w.name);
    if (stale.length > 0) {
      await this.#api.patchValidatingWebhookConfiguration({ name: configName, body: { webhooks: stale.map((name) => ({ name, clientConfig: { caBundle: want } })) } }, strategic);
      this.#injections++;
      log.info({ op: 'webhookCert', configuration: configName, webhooks: stale }, 'injected the webhook CA bundle');
    }
    certs.markPublished(bundlePem);
  }
}
