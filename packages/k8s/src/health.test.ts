/** Backoff, log rate limiting and the ApiHealth aggregate, with an injected clock. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { ApiHealth, type ConnectionState, type HealthSource, LogLimiter, backoffDelay } from './health.js';

class Source implements HealthSource {
  #state: ConnectionState = { synced: false, connected: false, disconnectedSince: undefined, lastError: undefined };
  readonly #cbs: (() => void)[] = [];
  constructor(readonly name: string) {}
  state(): ConnectionState {
    return this.#state;
  }
  onStateChange(cb: () => void): void {
    this.#cbs.push(cb);
  }
  set(s: Partial<ConnectionState>): void {
    this.#state = { ...this.#state, ...s };
    for (const cb of this.#cbs) cb();
  }
}

void describe('backoffDelay', { timeout: 10_000 }, () => {
  void it('doubles from the initial delay, caps, and jitters within [50%, 100%]', () => {
    const opts = { initialMs: 100, maxMs: 1000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 50].map((n) => backoffDelay(n, opts, () => 1)),
      [100, 200, 400, 800, 1000, 1000, 1000],
    );
    assert.equal(
      backoffDelay(3, opts, () => 0),
      200,
    );
    assert.equal(
      backoffDelay(0, opts, () => 1),
      100,
      'attempt numbers below 1 count as the first',
    );
    assert.equal(
      backoffDelay(10_000, opts, () => 1),
      1000,
      'no overflow for huge attempt counts',
    );
  });
});

void describe('LogLimiter', { timeout: 10_000 }, () => {
  void it('lets one line per interval through and counts the rest', () => {
    let now = 0;
    const l = new LogLimiter(1000, () => now, 2);
    assert.equal(l.take('a'), 0);
    assert.equal(l.take('a'), undefined);
    assert.equal(l.take('a'), undefined);
    now = 1000;
    assert.equal(l.take('a'), 2, 'two suppressed since the last line');
    assert.equal(l.take('b'), 0, 'keys are independent');
    l.take('c'); // a third key evicts the oldest (a)
    assert.equal(l.take('a'), 0);
    l.reset('a');
    assert.equal(l.take('a'), 0, 'reset lets the next line through at once');
  });
});

void describe('ApiHealth', { timeout: 10_000 }, () => {
  const setup = (): { h: ApiHealth; a: Source; b: Source; lines: { level: number; msg: string; downMs?: number }[]; clock: { now: number } } => {
    const lines: { level: number; msg: string; downMs?: number }[] = [];
    const clock = { now: 1_000_000 };
    const h = new ApiHealth({ log: pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as { level: number; msg: string }) }), now: () => clock.now });
    const a = new Source('services');
    const b = new Source('configmaps');
    h.add(a);
    h.add(b);
    return { h, a, b, lines, clock };
  };

  void it('starting, then ok, then degraded during an outage, then ok: one log line each way', () => {
    const { h, a, b, lines, clock } = setup();
    assert.equal(h.readiness().state, 'starting');
    assert.equal(h.readiness().ok, false);
    assert.equal(lines.length, 0, 'not synced yet is not an outage');
    a.set({ synced: true, connected: true });
    b.set({ synced: true, connected: true });
    assert.deepEqual(h.readiness(), { ok: true, state: 'ok', detail: 'ok' });
    const gauges = Object.fromEntries(h.gauges().map((g) => [g.name, g]));
    assert.equal(gauges['ironlb_api_reachable']?.value(), 1);
    assert.equal(gauges['ironlb_api_unreachable_since_seconds']?.value(), 0);

    a.set({ connected: false, disconnectedSince: clock.now, lastError: new Error('ECONNREFUSED') });
    b.set({ connected: false, disconnectedSince: clock.now + 500 });
    clock.now += 42_000;
    const r = h.readiness();
    assert.equal(r.state, 'degraded');
    assert.equal(r.ok, false);
    assert.match(r.detail, /^degraded: Kubernetes API unreachable for 42 s \(services, configmaps\); serving the last known state/);
    assert.equal(gauges['ironlb_api_reachable']?.value(), 0);
    assert.equal(gauges['ironlb_api_unreachable_since_seconds']?.value(), 42);
    assert.equal(h.unreachableSince(), 1_000_000, 'the earliest disconnection');

    a.set({ connected: true, disconnectedSince: undefined });
    assert.equal(h.readiness().state, 'degraded', 'one source still down');
    clock.now += 3000;
    b.set({ connected: true, disconnectedSince: undefined });
    assert.equal(h.readiness().state, 'ok');
    assert.deepEqual(
      lines.map((l) => `${String(l.level)} ${String(l.msg)}`),
      ['40 Kubernetes API unreachable; keeping the last known state and retrying', '30 Kubernetes API reachable again after 45 s'],
    );
    assert.equal(lines[1]?.downMs, 45_000);
  });

  void it('says it is waiting when the API is away at start', () => {
    const { h, a, lines, clock } = setup();
    a.set({ disconnectedSince: clock.now });
    clock.now += 5000;
    assert.equal(h.readiness().detail, 'starting: Kubernetes API unreachable for 5 s');
    assert.equal(lines[0]?.msg, 'Kubernetes API unreachable; waiting for it before starting');
  });
});
