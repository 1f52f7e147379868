/**
 * The wire tool of the layer2 lab (driven by layer2-lab.ts WireChild): runs in a lab namespace,
 * sends crafted Ethernet frames on an interface and captures the ARP and NDP frames that arrive,
 * so tests can put hostile or foreign frames on the wire and see exactly what came back.
 *
 *   node --import tsx test/lab/layer2-wire.ts eth0
 *   stdin:  send <hex> [<hex> ...]   repeat <everyMs> <count> <hex> [<hex> ...]   take   quit
 *   stdout: {"event":"ready"}  {"event":"sent","n":N}  {"event":"repeating"}
 *           {"event":"frames","frames":[{hex,pkttype,vlanTagged,wall}]}
 * `wall` is the capture time in epoch milliseconds (fractional), taken in this process, so a
 * test can time answers against an event without its own polling delays. `repeat` sends the
 * frames every everyMs, count times, on this process's own timer (at most 1000 rounds).
 * Capture uses the package's own sockets (kernel filters: Ethernet/IPv4 ARP requests and
 * replies, ICMPv6 NS and NA), which is all the tests look at. Bounded: at most 10,000 frames are
 * kept between two takes.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { openPacketPort } from '@ironlb/layer2';

const MAX_KEPT = 10_000;

function out(obj: object): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

function main(): void {
  const ifname = process.argv[2] ?? 'eth0';
  const ifindex = Number(readFileSync(`/sys/class/net/${ifname}/ifindex`, 'utf8'));
  const wall = (): number => performance.timeOrigin + performance.now();
  const frames: { hex: string; pkttype: number; vlanTagged: boolean; wall: number }[] = [];
  const ports = (['arp', 'ndp'] as const).map((kind) => openPacketPort(ifindex, kind, { rcvbufBytes: 1 << 20 }));
  for (const p of ports) {
    p.onFrame((f, meta) => {
      if (frames.length >= MAX_KEPT) frames.shift();
      frames.push({ hex: Buffer.from(f).toString('hex'), pkttype: meta.pkttype, vlanTagged: meta.vlanTagged, wall: wall() });
    });
  }
  const [tx] = ports;
  let repeater: NodeJS.Timeout | null = null;
  out({ event: 'ready' });
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const [cmd, ...args] = line.trim().split(/\s+/);
    try {
      switch (cmd) {
        case 'send':
          for (const h of args) tx?.send(Uint8Array.from(Buffer.from(h, 'hex')));
          out({ event: 'sent', n: args.length });
          break;
        case 'take':
          out({ event: 'frames', frames: frames.splice(0, frames.length) });
          break;
        case 'repeat': {
          const [every, count, ...hexes] = args;
          const frames = hexes.map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
          let left = Math.min(1000, Number(count));
          if (repeater) clearInterval(repeater);
          const round = (): void => {
            for (const f of frames) tx?.send(f);
            if (--left <= 0 && repeater) clearInterval(repeater);
          };
          repeater = setInterval(round, Math.max(5, Number(every)));
          round();
          out({ event: 'repeating' });
          break;
        }
        case 'quit':
          if (repeater) clearInterval(repeater);
          rl.close();
          break;
        default:
          if (cmd) out({ event: 'error', line, error: 'unknown command' });
      }
    } catch (err) {
      out({ event: 'error', line, error: err instanceof Error ? err.message : String(err) });
    }
  });
  rl.on('close', () => {
    for (const p of ports) p.close();
  });
}

try {
  main();
} catch (err) {
  process.stderr.write(`layer2-wire: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
