/**
 * A memberlist node in its own process, for interop tests and the bench: prints JSON lines on
 * stdout (ready, join/leave/update events, periodic members and stats). SIGTERM → leave(1s),
 * shutdown, exit 0. Flags mirror gopeer's: --name --bind --port --preset --key (hex)
 * --join a,b --label --members-every ms, plus --timing JSON (overrides on the preset, for
 * benchmarks of timing candidates).
 */
import { parseArgs } from 'node:util';
import { Keyring, createMemberlist, type Member, type PresetName, type Timing } from '@ironlb/memberlist';

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    bind: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '7946' },
    preset: { type: 'string', default: 'fast' },
    key: { type: 'string', default: '' },
    join: { type: 'string', default: '' },
    label: { type: 'string', default: '' },
    'members-every': { type: 'string', default: '1000' },
    timing: { type: 'string', default: '' },
  },
});

function out(obj: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ t: Date.now(), ...obj })}\n`);
}

function node(m: Member): Record<string, unknown> {
  return { name: m.name, addr: m.addr, port: m.port, state: m.state, inc: m.incarnation };
}

const logger = {
  debug: (): void => undefined,
  info: (obj: object, msg: string): void => out({ ev: 'log', level: 'info', msg, ...obj }),
  warn: (obj: object, msg: string): void => out({ ev: 'log', level: 'warn', msg, ...obj }),
  error: (obj: object, msg: string): void => out({ ev: 'log', level: 'error', msg, ...obj }),
};

async function main(): Promise<void> {
  const name = values.name ?? `ts-${process.pid}`;
  const ml = createMemberlist({
    name,
    bindAddr: values.bind,
    bindPort: Number(values.port),
    preset: values.preset as PresetName,
    ...(values.timing !== '' ? { timing: JSON.parse(values.timing) as Partial<Timing> } : {}),
    ...(values.key !== '' ? { keyring: new Keyring([new Uint8Array(Buffer.from(values.key, 'hex'))]) } : {}),
    ...(values.label !== '' ? { label: values.label } : {}),
    logger,
    onEvent: (e) => out({ ev: e.type, node: node(e.member) }),
  });
  await ml.start();
  out({ ev: 'ready', name, addr: values.bind, port: Number(values.port) });
  if (values.join !== '') {
    const n = await ml.join(values.join.split(','));
    out({ ev: 'joined', n });
  }
  const every = Number(values['members-every']);
  const tick = setInterval(() => {
    out({ ev: 'members', members: ml.members().map(node), health: ml.healthScore() });
    const s = ml.stats();
    out({
      ev: 'stats',
      probeFailures: s.probeFailures,
      suspicionsRaised: s.suspicionsRaised,
      refutes: s.refutes,
      dropped: s.dropped,
      awareness: s.awareness,
      packetsReceived: s.packetsReceived,
      probeStalls: s.probeStalls,
      tcpFallbackSuccesses: s.tcpFallbackSuccesses,
    });
  }, every);
  const stop = (): void => {
    clearInterval(tick);
    void (async () => {
      await ml.leave(1000);
      out({ ev: 'left' });
      await ml.shutdown();
      out({ ev: 'shutdown' });
      process.exit(0);
    })();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  out({ ev: 'error', msg: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
