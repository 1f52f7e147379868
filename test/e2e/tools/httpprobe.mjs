// Client-side HTTP prober for fault tests, run inside the lab's client namespace:
//   node httpprobe.mjs URL INTERVAL_MS TIMEOUT_MS MAX_DURATION_MS
// Starts a GET every INTERVAL_MS on a new connection (so it follows ARP changes), each with its
// own TIMEOUT_MS. On SIGTERM (or after MAX_DURATION_MS) it prints one JSON summary line:
// {sent, ok, failed, resets, byBody: {body: n}, failures: [[startMs, endMs, count]], changes: [[ms, body]]}.
// `resets`: failures that were a connection reset (ECONNRESET), counted among `failed`.
// Times are milliseconds since the prober started.
import http from 'node:http';

const [url, intervalArg, timeoutArg, durationArg] = process.argv.slice(2);
const interval = Number(intervalArg ?? 10);
const timeout = Number(timeoutArg ?? 1000);
const maxDuration = Number(durationArg ?? 900_000);
const t0 = performance.now();
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
const s = { sent: 0, ok: 0, failed: 0, resets: 0, byBody: {}, failures: [], changes: [] };
let last = '';
let inflight = 0;

function fail(at) {
  s.failed++;
  const w = s.failures[s.failures.length - 1];
  if (w !== undefined && at - w[1] < 500) {
    w[1] = at;
    w[2]++;
  } else if (s.failures.length < 1000) s.failures.push([at, at, 1]);
}

function once() {
  const at = Math.round(performance.now() - t0);
  s.sent++;
  inflight++;
  let done = false;
  const finish = (body) => {
    if (done) return;
    done = true;
    inflight--;
    if (body === undefined) return fail(at);
    s.ok++;
    s.byBody[body] = (s.byBody[body] ?? 0) + 1;
    if (body !== last && s.changes.length < 1000) s.changes.push([at, body]);
    last = body;
  };
  const req = http.get(url, { agent, timeout }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c) => (body += c));
    res.on('end', () => finish(res.statusCode === 200 ? body.trim() : undefined));
    res.on('error', () => finish(undefined));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (err) => {
    if (!done && err?.code === 'ECONNRESET') s.resets++;
    finish(undefined);
  });
}

const timer = setInterval(once, interval);
let ended = false;
function end() {
  if (ended) return;
  ended = true;
  clearInterval(timer);
  // Let requests in flight finish (they have their own timeout) so none is miscounted.
  const wait = setInterval(() => {
    if (inflight > 0 && performance.now() - t0 < maxDuration + timeout + 1000) return;
    clearInterval(wait);
    process.stdout.write(`${JSON.stringify(s)}\n`, () => process.exit(0));
  }, 20);
}
process.on('SIGTERM', end);
process.on('SIGINT', end);
setTimeout(end, maxDuration).unref();
process.stdout.write('ready\n');
