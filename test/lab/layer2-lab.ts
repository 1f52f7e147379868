/**
 * A small layer-2 lab for the layer2 package's lab tests and the l2flood benchmark: network
 * namespaces joined either by one veth pair or by a bridge that lives in its own "switch"
 * namespace, so nothing of the lab touches the host namespace. Every member has `eth0` with
 * lab addresses (198.51.100.0/25, 2001:db8::/64); a "node" member is set up like a Kubernetes
 * node running kube-proxy (the VIP ranges are local routes on lo and the kernel answers no ARP
 * for them), so every ARP/NDP answer for a VIP comes from the responder under test.
 *
 * Also here: the responder child (packages/layer2/src/cli/respond.ts), the wire tool child
 * (layer2-wire.ts: crafted frames in, captured frames out) and the C flooder (layer2-flood.c,
 * compiled on first use). Labs are torn down by stop(), on process exit and on SIGINT/SIGTERM.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Repo root: this file runs from test/lab (tsx) or test/dist/lab (compiled). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'packages', 'layer2', 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

/** The repository root. */
export const ROOT = repoRoot();
const ADDON = join(ROOT, 'packages/layer2/build/ironlb_packet.node');
const RESPOND_TS = join(ROOT, 'packages/layer2/src/cli/respond.ts');
/** The compiled responder CLI (npx tsc -b). */
export const RESPOND_JS = join(ROOT, 'packages/layer2/dist/cli/respond.js');
const WIRE_TS = join(ROOT, 'test/lab/layer2-wire.ts');
const FLOOD_C = join(ROOT, 'test/lab/layer2-flood.c');

/** Why lab tests cannot run here, or false. */
export const labSkip: string | false =
  process.getuid?.() !== 0 ? 'needs root (network namespaces, AF_PACKET)' : !existsSync(ADDON) ? 'addon not built: node packages/layer2/scripts/build-native.mjs' : false;

/** VIP ranges the node members treat as local (kube-proxy emulation); every test VIP is inside. */
export const VIP_RANGE_V4 = '198.51.100.64/26';
/** IPv6 counterpart of VIP_RANGE_V4. */
export const VIP_RANGE_V6 = '2001:db8::1:0/112';

/** One lab member. */
export interface Member {
  /** Short name given at creation ('s', 'c', ...). */
  readonly name: string;
  /** Network namespace. */
  readonly netns: string;
  /** eth0's MAC. */
  readonly mac: string;
  /** eth0's IPv4 address. */
  readonly ipv4: string;
  /** eth0's global IPv6 address. */
  readonly ipv6: string;
  /** The other end of eth0: in the switch namespace, or the peer's eth0 for a pair. */
  readonly peerNetns: string;
  /** Name of that other end. */
  readonly peerLink: string;
}

/** Lab layout. */
export interface L2LabOptions {
  /** Member names; each gets index i+1 in its addresses. */
  readonly members: readonly string[];
  /** Members set up like kube-proxy nodes (VIP ranges local, no kernel ARP/NDP for them). */
  readonly nodes: readonly string[];
  /** Join exactly two members with one veth pair instead of a bridge (less CPU per frame). */
  readonly pair?: boolean;
}

const liveLabs = new Set<L2Lab>();
let hooksInstalled = false;

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.once('exit', () => {
    for (const l of liveLabs) l.destroySync();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const l of liveLabs) l.destroySync();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

/** Runs `ip` with arguments; throws with stderr on failure. */
export function ip(...args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer | string }).stderr?.toString().trim() ?? '';
    throw new Error(`ip ${args.join(' ')} failed: ${stderr}`, { cause: err });
  }
}

/** Polls `fn` every `everyMs` until it returns a truthy value or `ms` passes (then fails). */
export async function waitFor<T>(what: string, ms: number, fn: () => T | null | undefined | false, everyMs = 50): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A running lab; create with startL2Lab. */
export class L2Lab {
  readonly id: string;
  readonly members = new Map<string, Member>();
  readonly switchNetns: string | null;
  readonly #children: ChildProcess[] = [];
  #destroyed = false;

  private constructor(id: string, switchNetns: string | null) {
    this.id = id;
    this.switchNetns = switchNetns;
  }

  /** Builds the lab; on any failure everything created so far is removed. */
  static create(opts: L2LabOptions): L2Lab {
    if (opts.pair && opts.members.length !== 2) throw new Error('a pair lab has exactly two members');
    const id = `${(process.pid % 4096).toString(16)}${randomBytes(2).toString('hex')}`;
    const lab = new L2Lab(id, opts.pair ? null : `l2-${id}-sw`);
    liveLabs.add(lab);
    installHooks();
    try {
      lab.#build(opts);
    } catch (err) {
      lab.destroySync();
      throw err;
    }
    return lab;
  }

  /** The member called `name`. */
  member(name: string): Member {
    return this.members.get(name) ?? assert.fail(`no lab member ${name}`);
  }

  #build(opts: L2LabOptions): void {
    const netnsOf = (m: string): string => `l2-${this.id}-${m}`;
    for (const m of opts.members) ip('netns', 'add', netnsOf(m));
    if (this.switchNetns !== null) {
      const sw = this.switchNetns;
      ip('netns', 'add', sw);
      ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
      // No STP, no forwarding delay, no multicast snooping (solicited-node groups joined with
      // PACKET_ADD_MEMBERSHIP send no MLD report, so a snooping bridge could hide NS from us).
      ip('-n', sw, 'link', 'set', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0');
      execFileSync('ip', ['netns', 'exec', sw, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1'], { stdio: 'ignore' });
      ip('-n', sw, 'link', 'set', 'br0', 'up');
    }
    opts.members.forEach((m, i) => {
      const netns = netnsOf(m);
      const n = i + 1;
      let peerNetns: string;
      let peerLink: string;
      if (this.switchNetns !== null) {
        peerNetns = this.switchNetns;
        peerLink = `p${m}`;
        ip('-n', netns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', peerLink, 'netns', peerNetns);
        ip('-n', peerNetns, 'link', 'set', peerLink, 'master', 'br0');
        ip('-n', peerNetns, 'link', 'set', peerLink, 'up');
      } else {
        const other = opts.members[1 - i] ?? assert.fail();
        peerNetns = netnsOf(other);
        peerLink = 'eth0';
        if (i === 0) ip('-n', netns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peerNetns);
      }
      const ipv4 = `198.51.100.${n}`;
      const ipv6 = `2001:db8::${n}`;
      ip('-n', netns, 'link', 'set', 'lo', 'up');
      ip('-n', netns, 'addr', 'add', `${ipv4}/25`, 'dev', 'eth0');
      // nodad: DAD would hold the address "tentative" for a second or more.
      ip('-n', netns, 'addr', 'add', `${ipv6}/64`, 'dev', 'eth0', 'nodad');
      this.members.set(m, { name: m, netns, mac: '', ipv4, ipv6, peerNetns, peerLink });
    });
    for (const m of opts.members) {
      const netns = netnsOf(m);
      ip('-n', netns, 'link', 'set', 'eth0', 'up');
      const mac = /link\/ether ([0-9a-f:]{17})/.exec(ip('-n', netns, 'link', 'show', 'eth0'))?.[1] ?? assert.fail('no MAC');
      const cur = this.members.get(m) ?? assert.fail();
      this.members.set(m, { ...cur, mac });
      if (opts.nodes.includes(m)) {
        ip('-n', netns, 'route', 'add', 'local', VIP_RANGE_V4, 'dev', 'lo');
        ip('-n', netns, '-6', 'route', 'add', 'local', VIP_RANGE_V6, 'dev', 'lo');
        this.exec(netns, 'sysctl', ['-q', '-w', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2']);
      }
    }
  }

  /** Waits until `member`'s eth0 has a non-tentative link-local address (the NDP responder needs one). */
  async waitLinkLocal(member: string, ms = 10_000): Promise<void> {
    const { netns } = this.member(member);
    await waitFor(`a link-local address on ${netns} eth0`, ms, () => {
      const out = ip('-n', netns, '-6', 'addr', 'show', 'dev', 'eth0');
      return /inet6 fe80::/.test(out) && !/tentative/.test(out);
    });
  }

  /** Runs a command in a namespace; returns stdout. */
  exec(netns: string, cmd: string, args: string[], timeoutMs = 10_000): string {
    return execFileSync('ip', ['netns', 'exec', netns, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Starts a process in a namespace; it is killed when the lab stops. */
  spawnIn(netns: string, cmd: string, args: string[]): ChildProcessWithoutNullStreams {
    const child = spawn('ip', ['netns', 'exec', netns, cmd, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    this.#children.push(child);
    return child;
  }

  /** Administrative down/up of a member's eth0 (inside its namespace: the socket sees ENETDOWN). */
  setAdmin(member: string, up: boolean): void {
    ip('-n', this.member(member).netns, 'link', 'set', 'eth0', up ? 'up' : 'down');
  }

  /** Down/up of the far end of a member's eth0: the member only loses carrier. */
  setCarrier(member: string, up: boolean): void {
    const m = this.member(member);
    ip('-n', m.peerNetns, 'link', 'set', m.peerLink, up ? 'up' : 'down');
  }

  /** The kernel neighbour entry of `addr` on `member`'s eth0. */
  neigh(member: string, addr: string): { mac: string | null; state: string; raw: string } {
    const raw = ip('-n', this.member(member).netns, addr.includes(':') ? '-6' : '-4', 'neigh', 'show', addr, 'dev', 'eth0').trim();
    return { mac: /lladdr ([0-9a-f:]{17})/.exec(raw)?.[1] ?? null, state: raw.split(/\s+/).pop() ?? '', raw };
  }

  /** Forgets `member`'s neighbour entry for `addr`. */
  flushNeigh(member: string, addr: string): void {
    ip('-n', this.member(member).netns, addr.includes(':') ? '-6' : '-4', 'neigh', 'flush', 'to', addr, 'dev', 'eth0');
  }

  /** Makes `member`'s kernel resolve `addr` by sending one UDP datagram to it. */
  poke(member: string, addr: string): void {
    const family = addr.includes(':') ? 'udp6' : 'udp4';
    this.exec(this.member(member).netns, process.execPath, ['-e', `const s=require('dgram').createSocket('${family}');s.send('x',9,'${addr}',()=>s.close())`]);
  }

  /** Kills children and deletes every namespace; safe to call repeatedly. */
  destroySync(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    liveLabs.delete(this);
    for (const c of this.#children) {
      try {
        c.kill('SIGKILL');
      } catch {
        // gone
      }
    }
    const all = [...this.members.values()].map((m) => m.netns);
    if (this.switchNetns !== null) all.push(this.switchNetns);
    for (const ns of all) {
      try {
        for (const pid of ip('netns', 'pids', ns).split(/\s+/).filter(Boolean).map(Number)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      } catch {
        // namespace already gone
      }
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    }
  }

  /** Stops the lab (async for symmetry with the other labs). */
  async stop(): Promise<void> {
    this.destroySync();
    await Promise.resolve();
  }
}

/** A child speaking JSON lines on stdout and taking line commands on stdin. */
class JsonChild {
  readonly proc: ChildProcessWithoutNullStreams;
  readonly lines: Record<string, unknown>[] = [];
  stderr = '';

  constructor(proc: ChildProcessWithoutNullStreams) {
    this.proc = proc;
    createInterface({ input: proc.stdout }).on('line', (l) => {
      try {
        this.lines.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        this.lines.push({ event: 'garbage', line: l });
      }
    });
    proc.stderr.on('data', (d: Buffer) => {
      // Bounded: a chatty child must not grow the test's memory without limit.
      this.stderr = (this.stderr + d.toString()).slice(-20_000);
    });
  }

  /** Removes and returns the first line with `event` (fails on an error line or after `ms`). */
  async next(event: string, ms = 5000, match: (l: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> {
    return waitFor(
      `"${event}" (stderr: ${this.stderr.slice(-500)})`,
      ms,
      () => {
        const i = this.lines.findIndex((l) => (l.event === event && match(l)) || l.event === 'error');
        if (i < 0) return null;
        const [l] = this.lines.splice(i, 1);
        if (l?.event === 'error') assert.fail(`child error: ${JSON.stringify(l)}`);
        return l;
      },
      20,
    );
  }

  /** Every line with `event` received so far (left in place). */
  all(event: string): Record<string, unknown>[] {
    return this.lines.filter((l) => l.event === event);
  }

  write(line: string): void {
    this.proc.stdin.write(`${line}\n`);
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

/** The layer2 responder CLI running in a lab namespace. */
export class ResponderChild extends JsonChild {
  /**
   * Starts the responder CLI in `member`'s namespace with extra flags; wait for it with ready().
   * `compiled` runs the tsc output (packages/layer2/dist, what production runs) instead of the
   * sources through tsx; the benchmark uses it so loader overhead does not blur its figures.
   */
  constructor(lab: L2Lab, member: string, flags: string[] = [], opts: { compiled?: boolean } = {}) {
    const script = opts.compiled ? [RESPOND_JS] : ['--import', 'tsx', RESPOND_TS];
    super(lab.spawnIn(lab.member(member).netns, process.execPath, [...script, '--allow', 'eth0', ...flags]));
  }

  /** Waits for the ready line; returns the responder names. */
  async ready(ms = 15_000): Promise<string[]> {
    const l = await this.next('ready', ms);
    return l.responders as string[];
  }

  /** Sends a command and waits for its acknowledgement line (ok, stats, health, reassert). */
  async command(line: string, ms = 5000): Promise<Record<string, unknown>> {
    this.write(line);
    const cmd = line.split(' ')[0] ?? '';
    return this.next(['stats', 'health', 'reassert'].includes(cmd) ? cmd : 'ok', ms);
  }

  /** The stats line. */
  async stats(): Promise<Record<string, unknown> & { drops: Record<string, number> }> {
    return (await this.command('stats')) as Record<string, unknown> & { drops: Record<string, number> };
  }

  /** The process id (unchanged for the whole test: the announcer is never recreated). */
  get pid(): number | undefined {
    return this.proc.pid;
  }
}

/** A frame the wire tool captured. */
export interface CapturedFrame {
  readonly hex: string;
  readonly pkttype: number;
  readonly vlanTagged: boolean;
  /** Capture time, epoch ms (fractional), taken by the wire tool. */
  readonly wall: number;
}

/** The wire tool (layer2-wire.ts) in a lab namespace: sends crafted frames, captures ARP/NDP. */
export class WireChild extends JsonChild {
  constructor(lab: L2Lab, member: string) {
    super(lab.spawnIn(lab.member(member).netns, process.execPath, ['--import', 'tsx', WIRE_TS, 'eth0']));
  }

  /** Waits until both capture sockets are open. */
  async ready(ms = 15_000): Promise<void> {
    await this.next('ready', ms);
  }

  /** Sends raw frames (bytes) on eth0. */
  async send(...frames: Uint8Array[]): Promise<void> {
    this.write(`send ${frames.map((f) => Buffer.from(f).toString('hex')).join(' ')}`);
    await this.next('sent');
  }

  /** Frames captured since the last take (or start). */
  async take(): Promise<CapturedFrame[]> {
    this.write('take');
    const l = await this.next('frames');
    return l.frames as CapturedFrame[];
  }

  /** Has the wire tool send `frames` every `everyMs`, `count` times, on its own timer. */
  async repeat(everyMs: number, count: number, ...frames: Uint8Array[]): Promise<void> {
    this.write(`repeat ${everyMs} ${count} ${frames.map((f) => Buffer.from(f).toString('hex')).join(' ')}`);
    await this.next('repeating');
  }
}

/** Compiles layer2-flood.c once per source version (gcc -O2) and returns the binary's path. */
export function buildFlooder(): string {
  const dir = join(tmpdir(), 'ironlb-l2flood');
  mkdirSync(dir, { recursive: true });
  const bin = join(dir, `layer2-flood-${Math.floor(statSync(FLOOD_C).mtimeMs)}`);
  if (!existsSync(bin)) {
    const tmp = `${bin}.${process.pid}`;
    execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-pthread', '-o', tmp, FLOOD_C], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    execFileSync('mv', ['-f', tmp, bin]);
  }
  return bin;
}

/** What one flooder run measured (see layer2-flood.c). */
export interface FloodResult {
  readonly sent: number;
  readonly answered: number;
  readonly duplicates: number;
  readonly sendErrors: number;
  readonly durationMs: number;
  readonly offeredPerS: number;
  readonly answeredPerS: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
}

/** Runs the flooder in `member`'s namespace and returns its measurement. */
export async function flood(lab: L2Lab, member: string, opts: { mode: 'arp' | 'ndp'; targets: readonly string[]; rate: number; durationMs: number; graceMs?: number }): Promise<FloodResult> {
  const bin = buildFlooder();
  const args = [
    '--ifname',
    'eth0',
    '--mode',
    opts.mode,
    '--rate',
    String(opts.rate),
    '--duration-ms',
    String(opts.durationMs),
    '--grace-ms',
    String(opts.graceMs ?? 300),
    ...opts.targets.flatMap((t) => ['--target', t]),
  ];
  const child = lab.spawnIn(lab.member(member).netns, bin, args);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  // Bounded: the flooder caps itself at 60 s; this is the backstop.
  const killer = setTimeout(() => child.kill('SIGKILL'), opts.durationMs + (opts.graceMs ?? 300) + 30_000);
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  clearTimeout(killer);
  if (code !== 0) throw new Error(`flooder exited with ${String(code)}: ${err.trim()}`);
  return JSON.parse(out.trim()) as FloodResult;
}

/** What a sniffer run measured on the node's interface (see layer2-flood.c --sniff). */
export interface SniffResult {
  readonly requests: number;
  readonly matched: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
}

/**
 * Starts the flooder binary in sniff mode in `member`'s namespace for `durationMs`; resolves
 * once it is capturing, with a promise of its result.
 */
export async function startSniffer(lab: L2Lab, member: string, opts: { mode: 'arp' | 'ndp'; durationMs: number }): Promise<{ result: Promise<SniffResult> }> {
  const bin = buildFlooder();
  const child = lab.spawnIn(lab.member(member).netns, bin, ['--ifname', 'eth0', '--mode', opts.mode, '--sniff', '--duration-ms', String(opts.durationMs)]);
  const lines: string[] = [];
  let err = '';
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), opts.durationMs + 30_000);
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  await waitFor(`the sniffer to start (${err})`, 10_000, () => lines.length > 0 || child.exitCode !== null, 10);
  const result = exited.then((code) => {
    clearTimeout(killer);
    if (code !== 0) throw new Error(`sniffer exited with ${String(code)}: ${err.trim()}`);
    return JSON.parse(lines.at(-1) ?? '{}') as SniffResult;
  });
  return { result };
}
