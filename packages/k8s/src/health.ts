/**
 * How a process tells "the Kubernetes API is away" from "I am broken": informers report whether
 * they have synced and whether they are connected, and `ApiHealth` folds them into one state for
 * /readyz and metrics. An unreachable API degrades readiness, never liveness: the data plane keeps
 * its last known state (as client-go's informers do), and a restart would only lose that state.
 * Time and chance are injected so the policies below are tested without sockets or sleeps.
 */
import type { Logger } from 'pino';

/** Retry pacing: exponential from `initialMs`, capped at `maxMs`, jittered to [50%, 100%]. */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

/** The default pacing: first retry within 0.2 s, never more than 10 s apart once the API is back. */
export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ initialMs: 200, maxMs: 10_000 });

/**
 * Delay before retry number `attempt` (1-based). The cap bounds how long a process stays blind
 * after the API returns; the jitter keeps a fleet of speakers from reconnecting in lockstep.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const exp = Math.min(Math.max(attempt, 1) - 1, 30);
  const base = Math.min(opts.maxMs, opts.initialMs * 2 ** exp);
  return Math.round(base * (0.5 + random() * 0.5));
}

/**
 * Per-key log rate limiting: `take(key)` says whether to log now, and how many lines for that
 * key were suppressed since the last one (put it in the line). Keys are bounded: the oldest is
 * forgotten past `maxKeys`.
 */
export class LogLimiter {
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #maxKeys: number;
  readonly #last = new Map<string, { at: number; suppressed: number }>();

  constructor(intervalMs: number, now: () => number = Date.now, maxKeys = 1024) {
    this.#intervalMs = intervalMs;
    this.#now = now;
    this.#maxKeys = maxKeys;
  }

  /** Undefined: stay quiet. A number: log now, mentioning that many suppressed lines. */
  take(key: string): number | undefined {
    const now = this.#now();
    const e = this.#last.get(key);
    if (e !== undefined && now - e.at < this.#intervalMs) {
      e.suppressed++;
      return undefined;
    }
    const suppressed = e?.suppressed ?? 0;
    this.#last.delete(key);
    this.#last.set(key, { at: now, suppressed: 0 });
    if (this.#last.size > this.#maxKeys) this.#last.delete(this.#last.keys().next().value ?? '');
    return suppressed;
  }

  /** Forgets a key, so its next line is logged at once (e.g. after a recovery). */
  reset(key: string): void {
    this.#last.delete(key);
  }
}

/** Connection state of one API consumer (an informer). */
export interface ConnectionState {
  /** The first full list succeeded: the cache holds real data. */
  readonly synced: boolean;
  /** The last list or watch reached the API server and nothing failed since. */
  readonly connected: boolean;
  /** When the current run of failures began (epoch ms); undefined while connected. */
  readonly disconnectedSince: number | undefined;
  /** The last failure, for logs. */
  readonly lastError: unknown;
}

/** Something whose connection to the API is watched (ResilientInformer implements it). */
export interface HealthSource {
  /** A short name for logs ("services", "configmaps"). */
  readonly name: string;
  state(): ConnectionState;
  /** Calls `cb` after every change of `state()`. */
  onStateChange(cb: () => void): void;
}

/** What /readyz reports: ok, starting (never synced) or degraded (API unreachable). */
export interface Readiness {
  readonly ok: boolean;
  readonly state: 'ok' | 'starting' | 'degraded';
  /** One line for humans, also the /readyz body. */
  readonly detail: string;
}

/** A gauge to publish, described without depending on a metrics library. */
export interface GaugeDescriptor {
  readonly name: string;
  readonly help: string;
  value(): number;
}

/**
 * The process-wide view of the API: reachable when every source is connected. Logs once when the
 * API becomes unreachable and once when it returns (with how long it was away).
 */
export class ApiHealth {
  readonly #sources: HealthSource[] = [];
  readonly #log: Logger;
  readonly #now: () => number;
  #reachable = true;
  #everSynced = false;
  /** When the current outage began, for the "reachable again after N s" line. */
  #downSince: number | undefined;

  constructor(opts: { log: Logger; now?: () => number }) {
    this.#log = opts.log;
    this.#now = opts.now ?? Date.now;
  }

  /** Adds a source; its state changes are folded in from now on. */
  add(source: HealthSource): void {
    this.#sources.push(source);
    source.onStateChange(() => this.#update());
    this.#update();
  }

  /** True once every source has synced. */
  synced(): boolean {
    return this.#sources.every((s) => s.state().synced);
  }

  /** True while every source is connected. */
  reachable(): boolean {
    return this.#sources.every((s) => s.state().connected);
  }

  /** Since when (epoch ms) some source has been disconnected; undefined while reachable. */
  unreachableSince(): number | undefined {
    let since: number | undefined;
    for (const s of this.#sources) {
      const st = s.state();
      if (st.connected || st.disconnectedSince === undefined) continue;
      since = since === undefined ? st.disconnectedSince : Math.min(since, st.disconnectedSince);
    }
    return since;
  }

  /** The /readyz verdict. */
  readiness(): Readiness {
    if (!this.synced()) {
      const since = this.unreachableSince();
      const why = since === undefined ? 'waiting for the first list from the Kubernetes API' : `Kubernetes API unreachable for ${this.#secondsSince(since)} s`;
      return { ok: false, state: 'starting', detail: `starting: ${why}` };
    }
    if (this.reachable()) return { ok: true, state: 'ok', detail: 'ok' };
    const since = this.unreachableSince() ?? this.#now();
    const down = this.#sources.filter((s) => !s.state().connected).map((s) => s.name);
    return {
      ok: false,
      state: 'degraded',
      detail: `degraded: Kubernetes API unreachable for ${this.#secondsSince(since)} s (${down.join(', ')}); serving the last known state and retrying`,
    };
  }

  /** `ironlb_api_reachable` (1/0) and `ironlb_api_unreachable_since_seconds` (0 while reachable). */
  gauges(): GaugeDescriptor[] {
    return [
      { name: 'ironlb_api_reachable', help: '1 while every watch of the Kubernetes API is connected, 0 while some are retrying', value: () => (this.reachable() ? 1 : 0) },
      {
        name: 'ironlb_api_unreachable_since_seconds',
        help: 'Seconds since the Kubernetes API became unreachable (0 while reachable); the process keeps its last known state meanwhile',
        value: () => {
          const since = this.unreachableSince();
          return since === undefined ? 0 : Math.max(0, (this.#now() - since) / 1000);
        },
      },
    ];
  }

  #secondsSince(t: number): number {
    return Math.max(0, Math.round((this.#now() - t) / 1000));
  }

  #update(): void {
    const reachable = this.reachable();
    const synced = this.synced();
    if (synced) this.#everSynced = true;
    if (reachable === this.#reachable) return;
    this.#reachable = reachable;
    if (!reachable) {
      const since = this.unreachableSince();
      const failing = this.#sources.filter((s) => !s.state().connected);
      // Until the first sync every source starts "not connected": say so only once it failed.
      if (since === undefined) {
        this.#reachable = true;
        return;
      }
      const err = failing.map((s) => s.state().lastError).find((e) => e !== undefined);
      this.#log.warn(
        { op: 'apiHealth', sources: failing.map((s) => s.name), err },
        this.#everSynced ? 'Kubernetes API unreachable; keeping the last known state and retrying' : 'Kubernetes API unreachable; waiting for it before starting',
      );
      this.#downSince = since;
    } else {
      const downMs = this.#downSince === undefined ? 0 : this.#now() - this.#downSince;
      this.#log.info({ op: 'apiHealth', downMs }, `Kubernetes API reachable again after ${Math.round(downMs / 1000)} s`);
      this.#downSince = undefined;
    }
  }
}
