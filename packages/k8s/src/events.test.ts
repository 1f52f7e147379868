/**
 * The EventRecorder against a recording sink: repeats aggregate into one Event whose count is
 * patched, concurrent repeats never race (one writer per Event, later ones ride on the next
 * write), state and message size are bounded, an expired Event is re-created. The real API is
 * in test/integration/events.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CoreV1Event, KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { EventRecorder, type EventSink, type EventTarget } from './events.js';

class Sink implements EventSink {
  readonly calls: string[] = [];
  readonly events = new Map<string, CoreV1Event>();
  inflight = 0;
  maxInflightPerEvent = 0;
  delayMs = 5;
  fail: ((op: string) => Error | undefined) | undefined;
  readonly #perEvent = new Map<string, number>();

  async create(namespace: string, body: CoreV1Event): Promise<void> {
    const name = body.metadata?.name ?? '';
    await this.#io(`create ${namespace}/${name} count=${body.count}`, name);
    this.events.set(name, structuredClone(body));
  }

  async patch(namespace: string, name: string, count: number): Promise<void> {
    await this.#io(`patch ${namespace}/${name} count=${count}`, name);
    const ev = this.events.get(name);
    if (ev === undefined) throw Object.assign(new Error('not found'), { code: 404 });
    ev.count = count;
  }

  async #io(call: string, name: string): Promise<void> {
    this.calls.push(call);
    const n = (this.#perEvent.get(name) ?? 0) + 1;
    this.#perEvent.set(name, n);
    this.maxInflightPerEvent = Math.max(this.maxInflightPerEvent, n);
    try {
      await new Promise((r) => setTimeout(r, this.delayMs));
      const err = this.fail?.(call);
      if (err !== undefined) throw err;
    } finally {
      this.#perEvent.set(name, (this.#perEvent.get(name) ?? 1) - 1);
    }
  }
}

const svc = (name: string): EventTarget => ({ kind: 'Service', apiVersion: 'v1', namespace: 'ns', name, uid: `uid-${name}` });

function recorder(sink: Sink, opts: { maxKeys?: number; now?: () => number } = {}): { rec: EventRecorder; warns: string[] } {
  const warns: string[] = [];
  const log = pino({ level: 'warn' }, { write: (l: string) => void warns.push(l) });
  return { rec: new EventRecorder(new KubeConfig(), 'ironlb-controller', log, undefined, { sink, ...opts }), warns };
}

void describe('EventRecorder', { timeout: 30_000 }, () => {
  void it('creates once, then patches the count; never two writes of one Event at a time', async () => {
    const sink = new Sink();
    const { rec } = recorder(sink);
    await Promise.all(Array.from({ length: 100 }, async () => rec.record(svc('a'), 'Warning', 'AllocationFailed', 'no available IPs')));
    const [ev] = [...sink.events.values()];
    assert.equal(sink.events.size, 1);
    assert.equal(ev?.count, 100, 'every occurrence counted');
    assert.equal(sink.maxInflightPerEvent, 1, 'writes of one Event are serialized');
    assert.ok(sink.calls.length <= 3, `coalesced: ${sink.calls.join(' | ')}`);
    assert.match(sink.calls[0] ?? '', /^create ns\/a\.[0-9a-f]+ count=1$/);
    assert.equal(ev?.reason, 'AllocationFailed');
    assert.equal(ev?.involvedObject.uid, 'uid-a');
    assert.equal(ev?.reportingComponent, 'ironlb-controller');
  });

  void it('different objects or messages are different Events; the remembered set is bounded', async () => {
    const sink = new Sink();
    sink.delayMs = 0;
    const { rec } = recorder(sink, { maxKeys: 50 });
    for (let i = 0; i < 200; i++) await rec.record(svc(`s${i}`), 'Warning', 'AllocationFailed', 'no available IPs');
    assert.equal(sink.events.size, 200);
    assert.equal(rec.size(), 50);
    await rec.record(svc('s199'), 'Warning', 'AllocationFailed', 'no available IPs');
    assert.equal(sink.calls.at(-1)?.startsWith('patch ns/s199.'), true, 'a recent one is still aggregated');
    await rec.record(svc('s0'), 'Warning', 'AllocationFailed', 'no available IPs');
    assert.equal(sink.calls.at(-1)?.startsWith('create ns/s0.'), true, 'a forgotten one starts a new Event');
    await rec.record(svc('s199'), 'Warning', 'AllocationFailed', 'something else');
    assert.equal(sink.calls.at(-1)?.startsWith('create ns/s199.'), true);
  });

  void it('starts a new Event after ten quiet minutes', async () => {
    const sink = new Sink();
    sink.delayMs = 0;
    let now = 1_000_000;
    const { rec } = recorder(sink, { now: () => now });
    await rec.record(svc('a'), 'Normal', 'IPAllocated', 'x');
    now += 9 * 60_000;
    await rec.record(svc('a'), 'Normal', 'IPAllocated', 'x');
    now += 10 * 60_000;
    await rec.record(svc('a'), 'Normal', 'IPAllocated', 'x');
    assert.deepEqual(
      sink.calls.map((c) => c.split(' ')[0]),
      ['create', 'patch', 'create'],
    );
  });

  void it('cuts long messages, and says so', async () => {
    const sink = new Sink();
    sink.delayMs = 0;
    const { rec } = recorder(sink);
    await rec.record(svc('a'), 'Warning', 'InvalidConfig', 'x'.repeat(40_000_000 / 1000));
    const [ev] = [...sink.events.values()];
    assert.equal(ev?.message?.length, 1024);
    assert.match(ev?.message ?? '', / … \(cut: 40000 characters in all; the ironlb-controller log has the rest\)$/);
    assert.equal(rec.stats().truncated, 1);
  });

  void it('re-creates an Event that expired on the server', async () => {
    const sink = new Sink();
    sink.delayMs = 0;
    const { rec } = recorder(sink);
    await rec.record(svc('a'), 'Normal', 'IPAllocated', 'x');
    sink.events.clear(); // the API server's one-hour TTL
    await rec.record(svc('a'), 'Normal', 'IPAllocated', 'x');
    assert.deepEqual(
      sink.calls.map((c) => c.split(' ')[0]),
      ['create', 'patch', 'create'],
    );
    assert.equal([...sink.events.values()][0]?.count, 2);
  });

  void it('a failing API costs one rate-limited log line, never a throw', async () => {
    const sink = new Sink();
    sink.delayMs = 0;
    sink.fail = () => Object.assign(new Error('forbidden'), { code: 403 });
    const { rec, warns } = recorder(sink);
    for (let i = 0; i < 20; i++) await rec.record(svc(`s${i}`), 'Warning', 'X', 'y');
    assert.equal(rec.stats().failed, 20);
    assert.equal(warns.length, 1);
    sink.fail = undefined;
    await rec.record(svc('s0'), 'Warning', 'X', 'y');
    assert.equal(rec.stats().created, 1, 'the next occurrence starts afresh');
  });
});
