// Client-side HTTP probe for the failover bench, run inside the lab's client namespace:
// starts a GET to the URL every INTERVAL ms (new connection each time, so it follows ARP
// changes) and prints "<monotonic ms> <body>" whenever the answering node changes.
// CLOCK_MONOTONIC (process.hrtime) is shared by all processes, so the bench compares times.
import http from 'node:http';

const [url, intervalArg, durationArg] = process.argv.slice(2);
const interval = Number(intervalArg ?? 10);
const until = performance.now() + Number(durationArg ?? 3_600_000);
let last = '';
const agent = new http.Agent({ keepAlive: false });
const now = () => Number(process.hrtime.bigint() / 1000n) / 1000;
const timer = setInterval(() => {
  if (performance.now() > until) {
    clearInterval(timer);
    return;
  }
  const req = http.get(url, { agent, timeout: 300 }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c) => (body += c));
    res.on('end', () => {
      if (body !== last) {
        last = body;
        process.stdout.write(`${now()} ${body}\n`);
      }
    });
  });
  req.on('timeout', () => req.destroy());
  req.on('error', () => {});
}, interval);
process.on('SIGTERM', () => process.exit(0));
