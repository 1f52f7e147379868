// The lab's stand-in for a Service backend behind kube-proxy: answers HTTP on port 80 of every
// address of its network namespace (VIPs included, through the local route) with the node name.
import { createServer } from 'node:http';

const name = process.argv[2] ?? 'unknown';
const server = createServer((req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.setHeader('connection', 'close');
  res.end(name);
});
server.listen({ port: 80, host: '::', ipv6Only: false }, () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));
