/** A loopback TCP proxy a test can cut (drop every connection, refuse new ones) and restore. */
import { type Server, type Socket, createConnection, createServer } from 'node:net';

/** The proxy handle. */
export interface TcpProxy {
  port: number;
  /** TCP connections accepted so far (each is one TLS handshake to the API server). */
  connections(): number;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

/** Forwards 127.0.0.1:<port> to 127.0.0.1:<targetPort>. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let open = true;
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    accepted++;
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr !== null ? addr.port : 0,
    connections: () => accepted,
    cut(): void {
      open = false;
      for (const s of sockets) s.destroy();
    },
    restore(): void {
      open = true;
    },
    async close(): Promise<void> {
      open = false;
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
