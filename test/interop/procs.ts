/**
 * Child-process helpers for the memberlist interop tests and bench: spawn the Go reference
 * peer or a TS node, collect their JSON lines, wait for a line matching a predicate, and kill
 * everything on the way out.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** One parsed JSON line from a peer, with the receive time. */
export type Line = Record<string, unknown> & { ev: string; t: number };

/** A running peer process. */
export interface Peer {
  name: string;
  proc: ChildProcess;
  lines: Line[];
  /** Resolves with the first line (already seen or future) matching `pred`, or rejects on timeout. */
  waitFor(what: string, pred: (l: Line) => boolean, timeoutMs: number, fromIndex?: number): Promise<Line>;
  exited: Promise<number | null>;
}

const children = new Set<ChildProcess>();

/** Builds (or finds cached) the Go peer; returns the binary path. */
export function buildGoPeer(): string {
  const out = execFileSync('bash', [join(here, 'build-gopeer.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 });
  const lines = out.trim().split('\n');
  const path = lines[lines.length - 1];
  if (path === undefined || path === '') throw new Error('build-gopeer.sh printed no path');
  return path;
}

function track(name: string, proc: ChildProcess): Peer {
  children.add(proc);
  const lines: Line[] = [];
  const waiters: Array<() => void> = [];
  let buf = '';
  proc.stdout?.setEncoding('utf8');
  proc.stdout?.on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const obj = JSON.parse(text) as Line;
        // Peers stamp lines with their own wall clock (same host); fall back to ours.
        if (typeof obj.t !== 'number') obj.t = Date.now();
        lines.push(obj);
      } catch {
        // not JSON (stray output): ignore
      }
    }
    for (const w of waiters.splice(0)) w();
  });
  proc.stderr?.resume();
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => {
      children.delete(proc);
      resolve(code);
    }),
  );
  const waitFor = (what: string, pred: (l: Line) => boolean, timeoutMs: number, fromIndex = 0): Promise<Line> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      const check = (): void => {
        const hit = lines.slice(fromIndex).find(pred);
        if (hit !== undefined) {
          clearTimeout(timer);
          resolve(hit);
        } else waiters.push(check);
      };
      check();
    });
  return { name, proc, lines, waitFor, exited };
}

/** Starts the Go peer with gopeer flags. */
export function spawnGo(bin: string, name: string, args: string[]): Peer {
  return track(name, spawn(bin, ['-name', name, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Starts a TS node (test/interop/tsnode.ts) with its flags. */
export function spawnTs(name: string, args: string[]): Peer {
  return track(name, spawn(process.execPath, ['--import', 'tsx', join(here, 'tsnode.ts'), '--name', name, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** SIGKILLs every child still running (for after() hooks). */
export function killAll(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}

/** The member states a peer's latest "members" line reports, by name. */
export function lastMembers(p: Peer): Map<string, string> {
  for (let i = p.lines.length - 1; i >= 0; i--) {
    const l = p.lines[i];
    if (l?.ev === 'members') {
      const ms = (l.members ?? []) as Array<{ name: string; state: string }>;
      return new Map(ms.map((m) => [m.name, m.state]));
    }
  }
  return new Map();
}
