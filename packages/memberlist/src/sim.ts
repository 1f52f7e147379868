/**
 * A virtual-time cluster: many memberlist nodes on one MemoryNetwork, driven by one
 * ManualClock and one seeded random source. Used by the transition-level cluster tests and
 * by the simulator (`npm run bench -- memberlist-sim`): minutes of protocol time run in
 * seconds, deterministically for a given seed, with no sockets and no sleeping.
 */
import { ManualClock, seededRandom, type Random } from './clock.js';
import { createMemberlist, type Memberlist, type MemberlistOptions } from './memberlist.js';
import { MemoryNetwork } from './memtransport.js';
import type { MemberEvent, MemberState } from './types.js';

/** A membership event with the virtual time it was delivered. */
export interface TimedEvent extends MemberEvent {
  t: number;
}

/** One node of a SimCluster. */
export interface SimNode {
  name: string;
  addr: string;
  port: number;
  ml: Memberlist;
  events: TimedEvent[];
  /** False once killed. */
  up: boolean;
}

/** Options of a SimCluster. */
export interface SimClusterOptions {
  /** Seed of the shared random source (default 1). */
  seed?: number;
  /** Options given to every node (name, transport, clock, random and onEvent are set here). */
  node?: Partial<MemberlistOptions>;
}

/** The address of the i-th node: 10.(i >> 8).(i & 255).1, port 7946. */
export function simAddress(i: number): string {
  return `10.${(i >> 8) & 255}.${i & 255}.1`;
}

/** Many memberlist nodes on virtual time. */
export class SimCluster {
  /** The shared virtual clock. */
  readonly clock = new ManualClock();
  /** The shared random source. */
  readonly random: Random;
  /** The in-memory network (loss, delay, partitions, byte counters). */
  readonly net: MemoryNetwork;
  /** Every node added, in order (killed ones too). */
  readonly nodes: SimNode[] = [];

  /** Creates an empty cluster. */
  constructor(private readonly opts: SimClusterOptions = {}) {
    this.random = seededRandom(opts.seed ?? 1);
    this.net = new MemoryNetwork({ clock: this.clock, random: this.random });
  }

  /** Starts a node named `name` at `addr`:7946 (default: simAddress of its index). */
  async add(name: string, extra: Partial<MemberlistOptions> = {}, addr = simAddress(this.nodes.length)): Promise<SimNode> {
    const events: TimedEvent[] = [];
    const ml = createMemberlist({
      ...this.opts.node,
      ...extra,
      name,
      transport: this.net.transport(addr, 7946),
      clock: this.clock,
      random: this.random,
      onEvent: (e) => events.push({ ...e, t: this.clock.now() }),
    });
    await ml.start();
    const n: SimNode = { name, addr, port: 7946, ml, events, up: true };
    this.nodes.push(n);
    return n;
  }

  /** Awaits `p` while advancing virtual time (in `stepMs` steps, at most `maxMs`). */
  async run<T>(p: Promise<T>, maxMs = 60_000, stepMs = 10): Promise<T> {
    let done = false;
    let value: T | undefined;
    let error: unknown;
    let failed = false;
    void p.then(
      (v) => {
        done = true;
        value = v;
      },
      (e: unknown) => {
        done = true;
        failed = true;
        error = e;
      },
    );
    const start = this.clock.now();
    await this.clock.advance(0);
    while (!done) {
      if (this.clock.now() - start >= maxMs) throw new Error(`sim: not settled after ${maxMs} ms of virtual time`);
      await this.clock.advance(stepMs);
    }
    if (failed) throw error instanceof Error ? error : new Error(String(error));
    return value as T;
  }

  /** Joins every node but the first to `seed` (default the first node), one by one. */
  async joinAll(seed = this.nodes[0]): Promise<void> {
    if (seed === undefined) return;
    for (const n of this.nodes) {
      if (n === seed || !n.up) continue;
      const ok = await this.run(n.ml.join([`${seed.addr}:${seed.port}`]));
      if (ok !== 1) throw new Error(`sim: ${n.name} could not join ${seed.name}`);
    }
  }

  /** Advances until every live node sees every live node alive; returns the virtual ms or undefined. */
  converge(maxMs = 60_000, stepMs = 50): Promise<number | undefined> {
    return this.clock.advanceUntil(() => this.allSee((n) => (n.up ? 'alive' : undefined)), maxMs, stepMs);
  }

  /** True if every live node sees each node in the state `want(node)` (undefined = don't care). */
  allSee(want: (n: SimNode) => MemberState | undefined): boolean {
    const wanted = this.nodes.map((n) => [n.name, want(n)] as const).filter(([, s]) => s !== undefined);
    for (const viewer of this.nodes) {
      if (!viewer.up) continue;
      const view = new Map(viewer.ml.members().map((m) => [m.name, m.state]));
      for (const [name, s] of wanted) if (view.get(name) !== s) return false;
    }
    return true;
  }

  /** Crashes a node: no leave message, its address goes silent. */
  async kill(n: SimNode): Promise<void> {
    n.up = false;
    await n.ml.shutdown();
  }

  /** Shuts every node down. */
  async shutdown(): Promise<void> {
    for (const n of this.nodes) {
      n.up = false;
      await n.ml.shutdown();
    }
  }
}
