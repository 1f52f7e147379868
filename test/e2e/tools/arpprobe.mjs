// Client-side ARP prober for split-brain tests, run inside the lab's client namespace:
//   node arpprobe.mjs IFNAME VIP INTERVAL_MS MAX_DURATION_MS
// Broadcasts an ARP request for VIP every INTERVAL_MS from this host (real sender IP) and records
// which MACs answer each request (replies arriving before the next request count for it). On
// SIGTERM (or after MAX_DURATION_MS) it prints one JSON summary line:
// {requests, unanswered, dual, byMac: {mac: n}, duals: [ms...], silent: [ms...], flips: [[ms, answered]]}
// (times since start, at most 1000 entries each; flips: when requests went from unanswered to
// answered or back). Uses ironlb's own AF_PACKET addon, so it needs CAP_NET_RAW.
import { readFileSync } from 'node:fs';
import { arpRequestFrame, decodeArpFrame, ARP_REPLY, openPacketPort } from '@ironlb/layer2';

const [ifname, vip, intervalArg, durationArg] = process.argv.slice(2);
const interval = Number(intervalArg ?? 100);
const maxDuration = Number(durationArg ?? 900_000);
const ifindex = Number(readFileSync(`/sys/class/net/${ifname}/ifindex`, 'utf8'));
const mac = readFileSync(`/sys/class/net/${ifname}/address`, 'utf8').trim();
const ownIp = process.env.PROBE_SENDER_IP ?? '0.0.0.0';
const t0 = performance.now();
const s = { requests: 0, unanswered: 0, dual: 0, byMac: {}, duals: [], silent: [], flips: [] };
let lastAnswered;
let current = new Set();
let currentAt = 0;

function close() {
  if (s.requests === 0) return;
  const answered = current.size > 0;
  if (answered !== lastAnswered && s.flips.length < 1000) s.flips.push([currentAt, answered]);
  lastAnswered = answered;
  if (current.size === 0) {
    s.unanswered++;
    if (s.silent.length < 1000) s.silent.push(currentAt);
  } else if (current.size > 1) {
    s.dual++;
    if (s.duals.length < 1000) s.duals.push(currentAt);
  }
}

const port = openPacketPort(ifindex, 'arp');
port.onFrame((frame) => {
  const f = decodeArpFrame(frame);
  if (!('arp' in f)) return;
  const p = f.arp;
  if (p.op !== ARP_REPLY || p.senderIp !== vip) return;
  current.add(p.senderMac);
  s.byMac[p.senderMac] = (s.byMac[p.senderMac] ?? 0) + 1;
});

function tick() {
  close();
  current = new Set();
  currentAt = Math.round(performance.now() - t0);
  s.requests++;
  try {
    port.send(arpRequestFrame(mac, ownIp, vip));
  } catch {
    // counted as unanswered
  }
}
const timer = setInterval(tick, interval);
tick();
let ended = false;
function end() {
  if (ended) return;
  ended = true;
  clearInterval(timer);
  setTimeout(
    () => {
      close();
      port.close();
      process.stdout.write(`${JSON.stringify(s)}\n`, () => process.exit(0));
    },
    Math.min(interval, 200),
  );
}
process.on('SIGTERM', end);
process.on('SIGINT', end);
setTimeout(end, maxDuration).unref();
process.stdout.write('ready\n');
