/** The ops server on real loopback sockets: probes for everyone, /metrics only where configured. */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { type OpsHandlers, startOpsServer } from './ops.js';

async function get(host: string, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

const handlers = (ready: OpsHandlers['ready'] = () => true): OpsHandlers => ({
  metrics: async () => Promise.resolve('ironlb_up 1\n'),
  metricsContentType: 'text/plain; version=0.0.4',
  healthy: () => true,
  ready,
});

void describe('ops server', { timeout: 30_000 }, () => {
  void it('by default: probes on every address, /metrics on loopback 127.0.0.1 only, one port', async () => {
    const srv = await startOpsServer({ healthPort: 0, handlers: handlers() });
    try {
      assert.equal(srv.health.port, srv.metrics.port);
      const port = srv.health.port;
      assert.equal((await get('127.0.0.1', port, '/healthz')).status, 200);
      assert.equal((await get('127.0.0.2', port, '/healthz')).status, 200, 'a probe from another address works');
      assert.deepEqual(await get('127.0.0.1', port, '/metrics'), { status: 200, body: 'ironlb_up 1\n' });
      const other = await get('127.0.0.2', port, '/metrics');
      assert.equal(other.status, 403, 'not served on any other address');
      assert.match(other.body, /metrics are served on 127\.0\.0\.1 only/);
      assert.equal((await get('127.0.0.1', port, '/nope')).status, 404);
    } finally {
      await srv.close();
    }
  });

  void it('an opt-in metrics address serves everyone, as before', async () => {
    const srv = await startOpsServer({ healthPort: 0, metricsHost: '0.0.0.0', handlers: handlers() });
    try {
      assert.equal((await get('127.0.0.2', srv.metrics.port, '/metrics')).status, 200);
    } finally {
      await srv.close();
    }
  });

  void it('separate ports get separate listeners', async () => {
    const srv = await startOpsServer({ healthHost: '127.0.0.1', healthPort: 0, metricsHost: '127.0.0.1', metricsPort: 0, handlers: handlers() });
    try {
      // Port 0 twice means "one free port", shared; ask for two distinct ones explicitly instead.
      assert.equal(srv.health.port, srv.metrics.port);
    } finally {
      await srv.close();
    }
    const probe = await startOpsServer({ healthHost: '127.0.0.1', healthPort: 0, handlers: handlers() });
    const port = probe.health.port;
    await probe.close();
    const split = await startOpsServer({ healthHost: '127.0.0.1', healthPort: port, metricsHost: '127.0.0.1', metricsPort: 0, handlers: handlers() });
    try {
      assert.notEqual(split.metrics.port, port);
      assert.equal((await get('127.0.0.1', port, '/metrics')).status, 404, 'the health listener has no /metrics');
      assert.equal((await get('127.0.0.1', split.metrics.port, '/metrics')).status, 200);
      assert.equal((await get('127.0.0.1', port, '/readyz')).status, 200);
    } finally {
      await split.close();
    }
  });

  void it('/readyz carries the readiness detail and 503 when not ready', async () => {
    let r: ReturnType<OpsHandlers['ready']> = { ok: false, state: 'degraded', detail: 'degraded: Kubernetes API unreachable for 3 s' };
    const srv = await startOpsServer({ healthPort: 0, handlers: handlers(() => r) });
    try {
      assert.deepEqual(await get('127.0.0.1', srv.health.port, '/readyz'), { status: 503, body: 'degraded: Kubernetes API unreachable for 3 s\n' });
      assert.equal((await get('127.0.0.1', srv.health.port, '/healthz')).status, 200, 'liveness is separate');
      r = true;
      assert.equal((await get('127.0.0.1', srv.health.port, '/readyz')).status, 200);
    } finally {
      await srv.close();
    }
  });

  void it('the legacy form still serves everything on one address', async () => {
    const s = await startOpsServer('127.0.0.1', 0, handlers());
    try {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      assert.equal((await get('127.0.0.1', port, '/metrics')).status, 200);
    } finally {
      await new Promise((r) => s.close(() => r(undefined)));
    }
  });
});
