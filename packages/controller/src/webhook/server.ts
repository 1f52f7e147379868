/**
 * The admission webhook endpoint: HTTPS (the API server verifies it with the caBundle the
 * controller injects), POST /validate with an AdmissionReview v1, answered from the controller's
 * caches in microseconds. Input is hostile until proven otherwise: the body is capped before it is
 * parsed, slow clients are cut off, junk gets a 400, and every request ends in a counted result
 * (allowed, denied, or a typed drop reason). The serving certificate is swapped in place when
 * rotated (`setSecureContext`), without dropping the listener.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { LogLimiter } from '@ironlb/k8s';
import type { ServingCert } from './certs.js';
import type { AdmissionRequest, AdmissionVerdict } from './validate.js';

/** How one request ended. */
export type WebhookResult = 'allowed' | 'denied' | 'notFound' | 'badMethod' | 'tooLarge' | 'malformed' | 'error';

/** Options of the webhook server. */
export interface WebhookServerOptions {
  host: string;
  port: number;
  /** The serving material at start (later ones through `reload`). */
  serving: ServingCert;
  decide: (req: AdmissionRequest) => AdmissionVerdict;
  log: Logger;
  /** Counts every request by object kind and result (metrics). */
  onResult?: (kind: string, result: WebhookResult) => void;
  /** Largest accepted body (default 4 MiB: an AdmissionReview of a 1 MiB ConfigMap carries it twice). */
  maxBodyBytes?: number;
}

const REVIEW_API = 'admission.k8s.io/v1';

/** The HTTPS admission endpoint. */
export class WebhookServer {
  readonly #o: WebhookServerOptions;
  readonly #server: Server;
  readonly #limiter = new LogLimiter(30_000);

  constructor(o: WebhookServerOptions) {
    this.#o = o;
    this.#server = createServer({ cert: o.serving.certPem, key: o.serving.keyPem, minVersion: 'TLSv1.2' }, (req, res) => this.#handle(req, res));
    // The API server's default webhook timeout is 10 s; nothing here should take a fraction of that.
    this.#server.requestTimeout = 10_000;
    this.#server.headersTimeout = 5_000;
    this.#server.keepAliveTimeout = 30_000;
  }

  /** Listens; resolves with the bound address (port 0 picks a free one). */
  async start(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#o.port, this.#o.host === '' ? undefined : this.#o.host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    return this.#server.address() as AddressInfo;
  }

  /** Serves a new certificate from the next TLS handshake on. */
  reload(serving: ServingCert): void {
    this.#server.setSecureContext({ cert: serving.certPem, key: serving.keyPem, minVersion: 'TLSv1.2' });
  }

  /** Stops listening and closes idle connections. */
  async close(): Promise<void> {
    this.#server.closeIdleConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  #count(kind: string, result: WebhookResult): void {
    try {
      this.#o.onResult?.(kind, result);
    } catch {
      // metrics must never break an answer
    }
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/validate') {
      this.#count('', 'notFound');
      res.writeHead(404).end();
      return;
    }
    if (req.method !== 'POST') {
      this.#count('', 'badMethod');
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    const max = this.#o.maxBodyBytes ?? 4 * 1024 * 1024;
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > max) {
      this.#count('', 'tooLarge');
      res.writeHead(413, { connection: 'close' }).end();
      req.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let dropped = false;
    req.on('data', (c: Buffer) => {
      if (dropped) return;
      size += c.length;
      if (size > max) {
        dropped = true;
        this.#count('', 'tooLarge');
        res.writeHead(413, { connection: 'close' }).end();
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!dropped) this.#answer(Buffer.concat(chunks), res);
    });
    req.on('error', () => undefined);
  }

  #answer(body: Buffer, res: ServerResponse): void {
    let review: { apiVersion?: unknown; kind?: unknown; request?: AdmissionRequest };
    try {
      review = JSON.parse(body.toString('utf8')) as typeof review;
    } catch {
      this.#count('', 'malformed');
      res.writeHead(400, { 'content-type': 'text/plain' }).end('body is not JSON\n');
      return;
    }
    const r = review?.request;
    if (review?.kind !== 'AdmissionReview' || review.apiVersion !== REVIEW_API || typeof r !== 'object' || r === null || typeof r.uid !== 'string' || typeof r.kind?.kind !== 'string') {
      this.#count('', 'malformed');
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`expected an ${REVIEW_API} AdmissionReview with a request\n`);
      return;
    }
    let v: AdmissionVerdict;
    try {
      v = this.#o.decide(r);
      this.#count(r.kind.kind, v.allowed ? 'allowed' : 'denied');
    } catch (err) {
      // A bug here must not block the user: allow, say so, and log it.
      this.#count(r.kind.kind, 'error');
      const suppressed = this.#limiter.take('decide');
      if (suppressed !== undefined) this.#o.log.error({ op: 'webhook', err, kind: r.kind.kind, suppressed }, 'webhook check threw; allowing the request');
      v = { allowed: true, warnings: ['ironlb could not check this object (internal error); the controller checks it again'] };
    }
    const response: Record<string, unknown> = { uid: r.uid, allowed: v.allowed };
    if (!v.allowed) response['status'] = { code: 422, reason: 'Invalid', message: v.message ?? 'refused by ironlb' };
    if (v.warnings.length > 0) response['warnings'] = v.warnings;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ apiVersion: REVIEW_API, kind: 'AdmissionReview', response }));
  }
}
