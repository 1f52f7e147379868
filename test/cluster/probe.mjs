// Client-side HTTP probe of the cluster tests, run inside the client namespace: starts a GET to
// URL every INTERVAL ms (a new connection each time, so it follows ARP changes) for at most
// DURATION ms, and prints one JSON line per event on stdout:
//   {"t": ms, "node": NAME}            the answering node changed (the echo backend names it)
//   {"t": ms, "fail": REASON}           a request failed or took longer than TIMEOUT ms
//   {"done": true, "ok": N, "fail": M, "maxLagMs": L}  on SIGTERM or at the end
// t is CLOCK_MONOTONIC in ms (process.hrtime), the same clock the test reads. A request fails on an
// error (refused, reset, unreachable) or with no answer within TIMEOUT ms (default 3000: a lost SYN
// is retransmitted after 1 s, which a client sees as latency, not as a failure; and on a busy
// machine this process itself may stall for a second). maxLagMs is the longest the probe's own
// timer was late: a stall of the probe, not of the network.
import http from 'node:http';

const [url, intervalArg, durationArg, timeoutArg] = process.argv.slice(2);
const interval = Number(intervalArg ?? 10);
const timeout = Number(timeoutArg ?? 3000);
const until = performance.now() + Number(durationArg ?? 600_000);
const agent = new http.Agent({ keepAlive: false });
const now = () => Number(process.hrtime.bigint() / 1000n) / 1000;
let last = '';
let ok = 0;
let fail = 0;
let inflight = 0;
let maxLag = 0;
let lastTick = performance.now();
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const finish = () => {
  out({ done: true, ok, fail, maxLagMs: Math.round(maxLag) });
  process.exit(0);
};
const timer = setInterval(() => {
  const tick = performance.now();
  maxLag = Math.max(maxLag, tick - lastTick - interval);
  lastTick = tick;
  if (performance.now() > until) {
    clearInterval(timer);
    const wait = setInterval(() => inflight === 0 && (clearInterval(wait), finish()), 20);
    return;
  }
  const t = now();
  inflight++;
  let settled = false;
  const settle = (err) => {
    if (settled) return;
    settled = true;
    inflight--;
    if (err !== undefined) {
      fail++;
      out({ t, fail: err });
    }
  };
  const req = http.get(url, { agent, timeout }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c) => (body += c));
    res.on('end', () => {
      const node = /node=(\S+)/.exec(body)?.[1];
      if (res.statusCode !== 200 || node === undefined) return settle(`status ${res.statusCode}`);
      ok++;
      settle();
      if (node !== last) {
        last = node;
        out({ t, node });
      }
    });
    res.on('error', (e) => settle(e.code ?? e.message));
  });
  req.on('timeout', () => {
    settle('timeout');
    req.destroy();
  });
  req.on('error', (e) => settle(e.code ?? e.message));
}, interval);
process.on('SIGTERM', finish);
