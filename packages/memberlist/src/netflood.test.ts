/**
 * Hostile input over real sockets on loopback (127.0.0.x, ports from the pid): a junk UDP
 * flood from another process, hundreds of idle TCP connections, and 20 MiB push/pulls. The
 * assertions are outcomes: no false failover, junk drained (counted) rather than dropped by
 * the kernel, connections closed, memory and log lines bounded. Flood rate and duration are
 * bounded; every child is killed in `after`.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { Keyring } from './crypto.js';
import { createMemberlist, type Memberlist } from './memberlist.js';
import type { Logger, MemberEvent } from './types.js';

const children = new Set<ChildProcess>();
const mls: Memberlist[] = [];
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(mls.map((m) => m.shutdown()));
});

const base = 21000 + (process.pid % 3000) * 3;

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}

function recorder(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const rec = (_o: object, msg: string): void => {
    lines.push(msg);
  };
  return { logger: { debug: () => undefined, info: () => undefined, warn: rec, error: rec }, lines };
}

/** Random-datagram flooder in its own process: rate pkt/s for `seconds`; prints the count sent. */
const FLOODER = `
const dgram = require('node:dgram');
const { randomBytes } = require('node:crypto');
const [host, port, rate, seconds, size] = process.argv.slice(1).map((v, i) => (i === 0 ? v : Number(v)));
const s = dgram.createSocket('udp4');
const bufs = Array.from({ length: 64 }, () => randomBytes(size));
let sent = 0;
const start = Date.now();
const t = setInterval(() => {
  const el = Date.now() - start;
  if (el >= seconds * 1000) { clearInterval(t); s.close(); process.stdout.write(String(sent)); return; }
  const target = Math.floor((rate * el) / 1000);
  while (sent < target) s.send(bufs[sent++ & 63], port, host);
}, 5);
`;

function flood(host: string, port: number, rate: number, seconds: number): Promise<number> {
  const c = spawn(process.execPath, ['-e', FLOODER, host, String(port), String(rate), String(seconds), '1500'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(c);
  let out = '';
  c.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) =>
    c.once('exit', () => {
      children.delete(c);
      resolve(Number(out));
    }),
  );
}

test('junk flood: 4k random 1500-byte datagrams/s for 8 s at one member cause no failover and are all drained', { timeout: 90_000 }, async (t) => {
  const key = new Keyring([new Uint8Array(32).fill(9)]);
  const events: MemberEvent[] = [];
  const { logger, lines } = recorder();
  const nodes: Memberlist[] = [];
  for (let i = 0; i < 3; i++) {
    const ml = createMemberlist({ name: `f${i}`, bindAddr: `127.0.0.${i + 5}`, bindPort: base + i, keyring: key, preset: 'fast', logger, onEvent: (e) => events.push(e) });
    mls.push(ml);
    nodes.push(ml);
    await ml.start();
  }
  const [victim, b, c] = nodes as [Memberlist, Memberlist, Memberlist];
  assert.equal(await b.join([`127.0.0.5:${base}`]), 1);
  assert.equal(await c.join([`127.0.0.5:${base}`]), 1);
  await waitFor('3 alive', () => nodes.every((m) => m.members().filter((x) => x.state === 'alive').length === 3), 10_000);
  await new Promise((r) => setTimeout(r, 1000));
  const mark = events.length;
  const lines0 = lines.length;
  const received0 = victim.stats().packetsReceived;
  const sent = await flood('127.0.0.5', base, 4000, 8);
  await new Promise((r) => setTimeout(r, 1000));
  const s = victim.stats();
  const junk = (s.dropped.decrypt ?? 0) + (s.dropped.plaintext ?? 0) + (s.dropped.label ?? 0);
  assert.ok(sent > 10_000, `flooder sent ${sent}`);
  assert.deepEqual(
    events.slice(mark).filter((e) => e.type === 'leave'),
    [],
    'no member was declared dead',
  );
  // Drained, not dropped by the kernel (a little slack for a host busy with other work).
  assert.ok(s.packetsReceived - received0 >= 0.8 * sent, `drained ${s.packetsReceived - received0} of ${sent} (the rest dropped by the kernel)`);
  assert.ok(junk >= 0.8 * sent, `counted ${junk} junk drops of ${sent}: ${JSON.stringify(s.dropped)}`);
  assert.ok(lines.length - lines0 <= 5, `no log line per junk packet: ${JSON.stringify(lines.slice(lines0, lines0 + 10))}`);
  t.diagnostic(`sent ${sent}, handled ${s.packetsReceived - received0}, counted junk ${junk}`);
  for (const m of nodes) await m.shutdown();
});

test('idle TCP connections: 300 are closed within the TCP timeout, with a handful of log lines', { timeout: 60_000 }, async () => {
  const { logger, lines } = recorder();
  const ml = createMemberlist({ name: 'idle', bindAddr: '127.0.0.8', bindPort: base + 3, preset: 'fast', logger });
  mls.push(ml);
  await ml.start();
  const socks: Socket[] = [];
  let closed = 0;
  for (let i = 0; i < 300; i++) {
    const s = connect({ host: '127.0.0.8', port: base + 3 });
    s.on('error', () => undefined);
    s.on('close', () => closed++);
    s.resume();
    socks.push(s);
  }
  const took = await waitFor('all closed by the server', () => closed === 300, 15_000);
  const d = ml.stats().dropped;
  assert.equal((d.streamLimit ?? 0) + (d.streamTimeout ?? 0), 300, JSON.stringify(d));
  assert.ok(took < 10_000, `closed after ${took} ms`);
  assert.ok(lines.length <= 6, `log lines: ${JSON.stringify(lines)}`);
  for (const s of socks) s.destroy();
  await ml.shutdown();
});

/** Opens `n` connections and writes a 20 MiB push/pull on each (a 1-member state with a 20 MiB Meta). */
const BIG_PUSHER = `
const net = require('node:net');
const [host, port, n] = process.argv.slice(1).map((v, i) => (i === 0 ? v : Number(v)));
const meta = 20 * 1024 * 1024;
const head = Buffer.concat([Buffer.from([6, 0x83, 0xa4]), Buffer.from('Join'), Buffer.from([0xc2, 0xa5]), Buffer.from('Nodes'), Buffer.from([1, 0xac]), Buffer.from('UserStateLen'), Buffer.from([0, 0x82, 0xa4]), Buffer.from('Name'), Buffer.from([0xa1, 0x78, 0xa4]), Buffer.from('Meta'), Buffer.from([0xdb, meta >>> 24, (meta >>> 16) & 255, (meta >>> 8) & 255, meta & 255])]);
const chunk = Buffer.alloc(64 * 1024, 0x41);
let done = 0, written = 0;
for (let i = 0; i < n; i++) {
  const s = net.connect({ host, port });
  let sent = 0, over = false;
  const finish = () => { if (over) return; over = true; s.destroy(); if (++done === n) { process.stdout.write(String(written)); process.exit(0); } };
  const pump = () => { while (sent < meta) { sent += chunk.length; written += chunk.length; if (!s.write(chunk)) return s.once('drain', pump); } s.end(); };
  s.on('connect', () => { s.write(head); pump(); });
  s.on('error', finish); s.on('close', finish);
}
setTimeout(() => { process.stdout.write(String(written)); process.exit(0); }, 30000);
`;

test('20 MiB push/pulls: cut at the 1 MiB stream cap, memory bounded', { timeout: 90_000 }, async (t) => {
  const ml = createMemberlist({ name: 'big', bindAddr: '127.0.0.9', bindPort: base + 4, preset: 'fast' });
  mls.push(ml);
  await ml.start();
  const mem0 = process.memoryUsage();
  let peak = 0;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peak = Math.max(peak, m.arrayBuffers - mem0.arrayBuffers);
  }, 20);
  const c = spawn(process.execPath, ['-e', BIG_PUSHER, '127.0.0.9', String(base + 4), '20'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(c);
  let out = '';
  c.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => c.once('exit', resolve));
  children.delete(c);
  clearInterval(sampler);
  const d = ml.stats().dropped;
  assert.equal((d.tooLarge ?? 0) + (d.streamLimit ?? 0), 20, JSON.stringify(d));
  assert.ok((d.tooLarge ?? 0) >= 8, JSON.stringify(d));
  const written = Number(out);
  assert.ok(written < 20 * 20 * 1024 * 1024, `the pusher could not write it all (${written} bytes)`);
  // 8 streams per address × (1 MiB cap + 256 KiB read-ahead), doubled for the growable buffer.
  assert.ok(peak < 40 * 1024 * 1024, `arrayBuffers grew by ${(peak / 1048576).toFixed(1)} MiB`);
  t.diagnostic(`drops ${JSON.stringify(d)}; the pusher wrote ${(written / 1048576).toFixed(1)} MiB of 400; arrayBuffers peak +${(peak / 1048576).toFixed(1)} MiB`);
  await ml.shutdown();
});
