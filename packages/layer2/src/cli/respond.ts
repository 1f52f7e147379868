// A standalone responder for labs and debugging: runs an Announcer on the interfaces of the
// current network namespace, driven by line commands on stdin, reporting JSON lines on stdout.
//
//   node --import tsx packages/layer2/src/cli/respond.ts [--allow eth0,eth1] [--refresh-ms N]
//        [--rcvbuf BYTES] [--claims] [--claim-interval-ms N] [--defend-interval-ms N]
//   stdin:  announce <ip> [owner]   withdraw <ip> [owner]   reassert <ip>
//           probe <ip> [count intervalMs waitMs]   stats   health   quit
//   stdout: {"event":"ready","responders":[...]}  {"event":"ok","cmd":...}  {"event":"stats",...}
//           {"event":"health",...}  {"event":"reassert","ip":...,"result":"sent"}
//           {"event":"probe","ip":...,"conflict":null|{mac,iface},...}   (when the probe ends)
//           {"event":"claim","ip":...,"mac":...,"iface":...,"kind":...}  (with --claims)
// Logs (pino-shaped JSON) go to stderr. Exits 0 on "quit" or stdin EOF, 1 with one line on error.
import { createInterface } from 'node:readline';
import { Announcer } from '../announcer.js';
import type { AnnouncerOptions, Logger } from '../announcer.js';

function out(obj: object): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

function log(level: string): (obj: object, msg?: string) => void {
  return (obj, msg) => process.stderr.write(`${JSON.stringify({ level, time: Date.now(), component: 'layer2', ...obj, msg })}\n`);
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function numberFlag(name: string): number | undefined {
  const v = flag(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, not "${v}"`);
  return n;
}

function main(): void {
  const allow = flag('--allow');
  const refresh = numberFlag('--refresh-ms');
  const rcvbuf = numberFlag('--rcvbuf');
  const claimInterval = numberFlag('--claim-interval-ms');
  const defendInterval = numberFlag('--defend-interval-ms');
  const logger: Logger = { debug: () => {}, info: log('info'), warn: log('warn') };
  const opts: AnnouncerOptions = {
    ...(allow ? { select: { allow: allow.split(',') } } : {}),
    ...(refresh !== undefined ? { refreshIntervalMs: refresh } : {}),
    ...(rcvbuf !== undefined ? { rcvbufBytes: rcvbuf } : {}),
    ...(claimInterval !== undefined ? { claimIntervalMs: claimInterval } : {}),
    ...(defendInterval !== undefined ? { defendIntervalMs: defendInterval } : {}),
    ...(process.argv.includes('--claims') ? { onClaim: (c) => out({ event: 'claim', ...c }) } : {}),
    logger,
  };
  const ann = new Announcer(opts);
  ann.start();
  out({ event: 'ready', pid: process.pid, responders: ann.responders() });
  const rl = createInterface({ input: process.stdin });
  const quit = (): void => {
    ann.close();
    rl.close();
  };
  rl.on('line', (line) => {
    const [cmd, ip, ...rest] = line.trim().split(/\s+/);
    try {
      switch (cmd) {
        case 'announce':
          ann.announce(ip ?? '', rest[0] ?? 'cli');
          break;
        case 'withdraw':
          ann.withdraw(ip ?? '', rest[0] ?? 'cli');
          break;
        case 'reassert':
          out({ event: 'reassert', ip, result: ann.reassert(ip ?? '') });
          return;
        case 'probe': {
          const [count, intervalMs, waitMs] = rest.map(Number);
          ann
            .probe(ip ?? '', {
              ...(count !== undefined ? { count } : {}),
              ...(intervalMs !== undefined ? { intervalMs } : {}),
              ...(waitMs !== undefined ? { waitMs } : {}),
            })
            .then(
              (r) => out({ event: 'probe', ip, ...r }),
              (err: unknown) => out({ event: 'error', line, error: err instanceof Error ? err.message : String(err) }),
            );
          break;
        }
        case 'stats':
          out({ event: 'stats', ...ann.stats(), announced: ann.announcedIps(), responders: ann.responders() });
          return;
        case 'health':
          out({ event: 'health', ...ann.health() });
          return;
        case 'quit':
          quit();
          return;
        case '':
        case undefined:
          return;
        default:
          out({ event: 'error', line, error: 'unknown command' });
          return;
      }
      out({ event: 'ok', cmd, ip });
    } catch (err) {
      out({ event: 'error', line, error: err instanceof Error ? err.message : String(err) });
    }
  });
  rl.on('close', () => ann.close());
}

try {
  main();
} catch (err) {
  process.stderr.write(`respond: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
