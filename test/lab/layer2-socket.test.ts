/**
 * Real packets on real interfaces: the layer2 responder (AF_PACKET addon + Announcer) runs in a
 * "speaker" namespace, and an unmodified Linux kernel in a "client" namespace on the other end of
 * a veth pair resolves VIPs through it. The speaker namespace is set up like a node with
 * kube-proxy: a `local` route for the VIP range (so it accepts traffic to them) with
 * arp_ignore=1 / arp_announce=2 (so its kernel never answers ARP for them; for IPv6 the kernel
 * does not answer NS for local-route-only addresses). Every ARP/NDP answer the client gets for a
 * VIP therefore comes from our code.
 *
 * Needs root and a built addon (node packages/layer2/scripts/build-native.mjs); skipped otherwise.
 * Both namespaces carry the pid in their names and are always deleted in after().
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

/** Repo root: this file runs from test/lab (tsx) or test/dist/lab (compiled). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'packages', 'layer2', 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

const ROOT = repoRoot();
const ADDON = join(ROOT, 'packages/layer2/build/ironlb_packet.node');
const RESPOND_TS = join(ROOT, 'packages/layer2/src/cli/respond.ts');
const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces, AF_PACKET)' : !existsSync(ADDON) ? 'addon not built: node packages/layer2/scripts/build-native.mjs' : false;

const ID = `${process.pid % 100000}`;
const SPEAKER = `ironlb-l2s-${ID}`;
const CLIENT = `ironlb-l2c-${ID}`;
const VETH_S = `l2s${ID}`; // renamed to eth0 inside its namespace; ≤ 15 characters
const VETH_C = `l2c${ID}`;

const SPEAKER_V4 = '198.51.100.1';
const CLIENT_V4 = '198.51.100.2';
const SPEAKER_V6 = '2001:db8::1';
const CLIENT_V6 = '2001:db8::2';
const VIP4 = '198.51.100.10';
const VIP4_UNANNOUNCED = '198.51.100.11';
const VIP4_GARP = '198.51.100.12';
const VIP6 = '2001:db8::10';
const VIP6_UNANNOUNCED = '2001:db8::11';
const VIP6_GARP = '2001:db8::12';
const DECOY_MAC = '02:00:00:00:00:99';
const LOCAL_RANGE_V4 = '198.51.100.8/29'; // holds every VIP4 above
const LOCAL_RANGE_V6 = '2001:db8::10/124'; // holds every VIP6 above
const TCP_PORT = 8080;

function sh(args: string[], netns?: string): string {
  const argv = netns ? ['netns', 'exec', netns, ...args] : args;
  const [cmd, ...rest] = netns ? ['ip', ...argv] : argv;
  return execFileSync(cmd ?? 'ip', rest, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

function ip(...args: string[]): string {
  return sh(['ip', ...args]);
}

function trySh(fn: () => unknown): void {
  try {
    fn();
  } catch {
    // Teardown: the thing may already be gone.
  }
}

/** Makes the client's kernel resolve `addr` by sending one UDP datagram to it (no ping needed). */
function poke(addr: string): void {
  const family = addr.includes(':') ? 'udp6' : 'udp4';
  sh([process.execPath, '-e', `const s=require('dgram').createSocket('${family}');s.send('x',9,'${addr}',()=>s.close())`], CLIENT);
}

/** Connects from the client to `addr`:TCP_PORT and returns what the server says ('' on failure). */
function tcpFromClient(addr: string): string {
  const js = `const s=require('net').connect({host:'${addr}',port:${TCP_PORT},timeout:1500});` + `s.on('data',(d)=>process.stdout.write(d));s.on('timeout',()=>s.destroy());s.on('error',()=>{})`;
  try {
    return sh([process.execPath, '-e', js], CLIENT);
  } catch {
    return '';
  }
}

/** The client's neighbour entry for `addr`: its MAC (or null) and NUD state. */
function neigh(addr: string): { mac: string | null; state: string; raw: string } {
  const raw = ip('-n', CLIENT, addr.includes(':') ? '-6' : '-4', 'neigh', 'show', addr, 'dev', 'eth0').trim();
  const mac = /lladdr ([0-9a-f:]{17})/.exec(raw)?.[1] ?? null;
  const state = raw.split(/\s+/).pop() ?? '';
  return { mac, state, raw };
}

/** Polls `fn` every 50 ms until it returns a value or `ms` passes. */
async function waitFor<T>(what: string, ms: number, fn: () => T | null | undefined | false): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The responder child (packages/layer2/src/cli/respond.ts) running inside the speaker namespace. */
class Responder {
  readonly proc: ChildProcessWithoutNullStreams;
  readonly lines: Record<string, unknown>[] = [];
  stderr = '';

  constructor() {
    this.proc = spawn('ip', ['netns', 'exec', SPEAKER, process.execPath, '--import', 'tsx', RESPOND_TS, '--allow', 'eth0'], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    createInterface({ input: this.proc.stdout }).on('line', (l) => {
      try {
        this.lines.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        this.lines.push({ event: 'garbage', line: l });
      }
    });
    this.proc.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
  }

  async next(event: string, ms = 5000): Promise<Record<string, unknown>> {
    return waitFor(`"${event}" from the responder (stderr: ${this.stderr.slice(-500)})`, ms, () => {
      const i = this.lines.findIndex((l) => l.event === event || l.event === 'error');
      if (i < 0) return null;
      const [l] = this.lines.splice(i, 1);
      if (l?.event === 'error') assert.fail(`responder error: ${JSON.stringify(l)}`);
      return l;
    });
  }

  async command(line: string): Promise<Record<string, unknown>> {
    this.proc.stdin.write(`${line}\n`);
    return this.next(line.startsWith('stats') ? 'stats' : 'ok');
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.stdin.end('quit\n');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }
}

/** Deletes our namespaces (and with them the veth pair); safe to call more than once. */
function teardown(): void {
  trySh(() => ip('netns', 'del', SPEAKER));
  trySh(() => ip('netns', 'del', CLIENT));
  trySh(() => ip('link', 'del', VETH_S)); // in case setup failed before the move
}

describe('layer2 responder on a veth pair between two namespaces', { skip, timeout: 120_000 }, () => {
  let responder: Responder | undefined;
  let speakerMac = '';
  let server: ReturnType<typeof spawn> | undefined;
  // after() covers failures; this covers a runner timeout or Ctrl-C killing us mid-test.
  const onSignal = (sig: NodeJS.Signals): void => {
    responder?.proc.kill('SIGKILL');
    server?.kill('SIGKILL');
    teardown();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };

  before(async () => {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    ip('netns', 'add', SPEAKER);
    ip('netns', 'add', CLIENT);
    ip('link', 'add', VETH_S, 'type', 'veth', 'peer', 'name', VETH_C);
    ip('link', 'set', VETH_S, 'netns', SPEAKER);
    ip('link', 'set', VETH_C, 'netns', CLIENT);
    for (const [ns, dev, v4, v6] of [
      [SPEAKER, VETH_S, SPEAKER_V4, SPEAKER_V6],
      [CLIENT, VETH_C, CLIENT_V4, CLIENT_V6],
    ] as const) {
      ip('-n', ns, 'link', 'set', dev, 'name', 'eth0');
      ip('-n', ns, 'addr', 'add', `${v4}/25`, 'dev', 'eth0');
      ip('-n', ns, 'addr', 'add', `${v6}/64`, 'dev', 'eth0', 'nodad');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
    }
    // The kube-proxy emulation (see the file comment).
    ip('-n', SPEAKER, 'link', 'set', 'lo', 'up');
    ip('-n', SPEAKER, 'route', 'add', 'local', LOCAL_RANGE_V4, 'dev', 'lo');
    ip('-n', SPEAKER, '-6', 'route', 'add', 'local', LOCAL_RANGE_V6, 'dev', 'lo');
    sh(['sysctl', '-q', '-w', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2'], SPEAKER);
    // A TCP service on every VIP of the node, like a Service behind kube-proxy.
    server = spawn('ip', ['netns', 'exec', SPEAKER, process.execPath, '-e', `require('net').createServer((s) => s.end('speaker')).listen(${TCP_PORT}, '::')`], { stdio: 'ignore' });
    speakerMac = /link\/ether ([0-9a-f:]{17})/.exec(ip('-n', SPEAKER, 'link', 'show', 'eth0'))?.[1] ?? '';
    assert.notEqual(speakerMac, '');
    // The responder's NDP side needs the link-local address, which appears after link-local DAD.
    await waitFor(
      'a link-local address on the speaker eth0',
      5000,
      () => /inet6 fe80::.* scope link\s*$/m.test(ip('-n', SPEAKER, '-6', 'addr', 'show', 'dev', 'eth0')) && !/tentative/.test(ip('-n', SPEAKER, '-6', 'addr', 'show', 'dev', 'eth0')),
    );
    responder = new Responder();
    const ready = await responder.next('ready', 10_000);
    assert.deepEqual(ready.responders, ['arp/eth0', 'ndp/eth0']);
  });

  after(async () => {
    await responder?.stop().catch(() => {});
    server?.kill('SIGKILL');
    teardown();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  });

  it('IPv4: the client kernel resolves an announced VIP to the speaker MAC by ARP', async () => {
    const r = responder ?? assert.fail('no responder');
    await r.command(`announce ${VIP4}`);
    poke(VIP4);
    const n = await waitFor(`a neighbour entry for ${VIP4}`, 3000, () => {
      const e = neigh(VIP4);
      return e.mac ? e : null;
    });
    assert.equal(n.mac, speakerMac, n.raw);
    assert.match(n.state, /REACHABLE|STALE|DELAY|PROBE/);
  });

  it('IPv4: TCP to the VIP reaches the speaker namespace', async () => {
    await waitFor('the TCP server to answer on the VIP', 3000, () => tcpFromClient(VIP4) === 'speaker');
  });

  it('IPv4: an unannounced VIP gets no answer', async () => {
    const r = responder ?? assert.fail('no responder');
    const before = await r.command('stats');
    poke(VIP4_UNANNOUNCED);
    // The kernel sends its first request at once; give the responder ample time to (not) answer.
    await new Promise((res) => setTimeout(res, 700));
    const n = neigh(VIP4_UNANNOUNCED);
    assert.equal(n.mac, null, n.raw);
    const after = await r.command('stats');
    const drops = (s: Record<string, unknown>): number => (s.drops as Record<string, number>).notAnnounced ?? 0;
    assert.ok(drops(after) > drops(before), 'the request reached the responder and was dropped as notAnnounced');
  });

  it("IPv4: a gratuitous ARP moves the client's existing entry to the speaker MAC", async () => {
    const r = responder ?? assert.fail('no responder');
    ip('-n', CLIENT, 'neigh', 'replace', VIP4_GARP, 'lladdr', DECOY_MAC, 'dev', 'eth0', 'nud', 'stale');
    // Linux ignores ARP updates within neigh locktime (1 s) of the last change to an entry.
    await new Promise((res) => setTimeout(res, 1100));
    assert.equal(neigh(VIP4_GARP).mac, DECOY_MAC);
    await r.command(`announce ${VIP4_GARP}`);
    const n = await waitFor(`the ${VIP4_GARP} entry to switch MAC`, 2000, () => (neigh(VIP4_GARP).mac === speakerMac ? neigh(VIP4_GARP) : null));
    assert.equal(n.mac, speakerMac);
  });

  it('IPv4: after withdraw the VIP is no longer answered', async () => {
    const r = responder ?? assert.fail('no responder');
    await r.command(`withdraw ${VIP4}`);
    ip('-n', CLIENT, 'neigh', 'flush', 'to', VIP4, 'dev', 'eth0');
    poke(VIP4);
    await new Promise((res) => setTimeout(res, 700));
    assert.equal(neigh(VIP4).mac, null, neigh(VIP4).raw);
  });

  it('IPv6: the client kernel resolves an announced VIP to the speaker MAC by NDP', async () => {
    const r = responder ?? assert.fail('no responder');
    await r.command(`announce ${VIP6}`);
    poke(VIP6);
    const n = await waitFor(`a neighbour entry for ${VIP6}`, 3000, () => {
      const e = neigh(VIP6);
      return e.mac ? e : null;
    });
    assert.equal(n.mac, speakerMac, n.raw);
  });

  it('IPv6: TCP to the VIP reaches the speaker namespace', async () => {
    await waitFor('the TCP server to answer on the VIP', 3000, () => tcpFromClient(VIP6) === 'speaker');
  });

  it('IPv6: a unicast NUD probe is answered (MetalLB #2920)', async () => {
    const r = responder ?? assert.fail('no responder');
    const before = await r.command('stats');
    // Force the entry into PROBE: the kernel then sends unicast NS to the cached MAC.
    ip('-n', CLIENT, '-6', 'neigh', 'replace', VIP6, 'lladdr', speakerMac, 'dev', 'eth0', 'nud', 'probe');
    const n = await waitFor(`${VIP6} to be confirmed REACHABLE`, 3000, () => (neigh(VIP6).state === 'REACHABLE' ? neigh(VIP6) : null));
    assert.equal(n.mac, speakerMac);
    const after = await r.command('stats');
    assert.ok((after.repliesSent as number) > (before.repliesSent as number));
  });

  it('IPv6: an unannounced VIP gets no answer', async () => {
    poke(VIP6_UNANNOUNCED);
    await new Promise((res) => setTimeout(res, 700));
    assert.equal(neigh(VIP6_UNANNOUNCED).mac, null, neigh(VIP6_UNANNOUNCED).raw);
  });

  it("IPv6: an unsolicited NA moves the client's existing entry to the speaker MAC", async () => {
    const r = responder ?? assert.fail('no responder');
    ip('-n', CLIENT, '-6', 'neigh', 'replace', VIP6_GARP, 'lladdr', DECOY_MAC, 'dev', 'eth0', 'nud', 'stale');
    assert.equal(neigh(VIP6_GARP).mac, DECOY_MAC);
    await r.command(`announce ${VIP6_GARP}`);
    const n = await waitFor(`the ${VIP6_GARP} entry to switch MAC`, 2000, () => (neigh(VIP6_GARP).mac === speakerMac ? neigh(VIP6_GARP) : null));
    assert.equal(n.mac, speakerMac);
  });

  it('every frame the responder saw ended in a reply or a counted drop', async () => {
    const r = responder ?? assert.fail('no responder');
    const s = await r.command('stats');
    const drops = Object.values(s.drops as Record<string, number>).reduce((a, b) => a + b, 0);
    assert.equal(s.requestsReceived, (s.repliesSent as number) + drops, JSON.stringify(s));
    assert.ok((s.gratuitousSent as number) > 0);
    assert.equal(s.portErrors, 0);
  });
});
