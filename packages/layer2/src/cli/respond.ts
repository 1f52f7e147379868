// A standalone responder for labs and debugging: runs an Announcer on the interfaces of the
// current network namespace, driven by line commands on stdin, reporting JSON lines on stdout.
//
//   node --import tsx packages/layer2/src/cli/respond.ts [--allow eth0,eth1] [--refresh-ms N]
//   stdin:  announce <ip> [owner]   withdraw <ip> [owner]   stats   quit
//   stdout: {"event":"ready","responders":[...]}  {"event":"ok","cmd":...}  {"event":"stats",...}
// Logs (pino-shaped JSON) go to stderr. Exits 0 on "quit" or stdin EOF, 1 with one line on error.
import { createInterface } from 'node:readline';
import { Announcer } from '../announcer.js';
import type { Logger } from '../announcer.js';

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

function main(): void {
  const allow = flag('--allow');
  const refresh = flag('--refresh-ms');
  const logger: Logger = { debug: () => {}, info: log('info'), warn: log('warn') };
  const ann = new Announcer({
    ...(allow ? { select: { allow: allow.split(',') } } : {}),
    ...(refresh ? { refreshIntervalMs: Number(refresh) } : {}),
    logger,
  });
  ann.start();
  out({ event: 'ready', pid: process.pid, responders: ann.responders() });
  const rl = createInterface({ input: process.stdin });
  const quit = (): void => {
    ann.close();
    rl.close();
  };
  rl.on('line', (line) => {
    const [cmd, ip, owner] = line.trim().split(/\s+/);
    try {
      switch (cmd) {
        case 'announce':
          ann.announce(ip ?? '', owner ?? 'cli');
          break;
        case 'withdraw':
          ann.withdraw(ip ?? '', owner ?? 'cli');
          break;
        case 'stats':
          out({ event: 'stats', ...ann.stats(), announced: ann.announcedIps(), responders: ann.responders() });
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
