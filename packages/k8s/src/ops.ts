/** The operational HTTP endpoint of both processes: /metrics, /healthz (liveness), /readyz. */
import { type Server, createServer } from 'node:http';

/** What the ops server exposes. */
export interface OpsHandlers {
  metrics(): Promise<string>;
  metricsContentType: string;
  healthy(): boolean;
  ready(): boolean;
}

/** Starts the server; resolves once it listens. Port 0 picks a free one (see server.address()). */
export async function startOpsServer(host: string, port: number, h: OpsHandlers): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      h.metrics().then(
        (body) => {
          res.writeHead(200, { 'content-type': h.metricsContentType });
          res.end(body);
        },
        (err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
      return;
    }
    if (path === '/healthz' || path === '/readyz') {
      const ok = path === '/healthz' ? h.healthy() : h.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ok' : 'not ok');
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  server.unref();
  return server;
}
