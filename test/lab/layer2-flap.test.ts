/**
 * Issue 9: a link flap must not silence a node. A node namespace runs the layer2 responder
 * (one Announcer for the whole file, never recreated) for an IPv4 and an IPv6 VIP; a client
 * namespace on the same bridge puts ARP requests and Neighbor Solicitations on the wire every
 * 50 ms from the moment the link is restored, and captures what comes back.
 *
 * Flaps: the node's eth0 administratively down for 1, 3 and 8 s (the socket gets ENETDOWN and
 * libuv used to stop polling it for good) and its carrier cut for 3 s (no socket error at all:
 * only the kernel's link notifications reveal it). After each, within 1 s of the link coming
 * back the node must answer ARP and NDP for its VIPs again and send a gratuitous ARP and an
 * unsolicited NA.
 *
 * Needs root and a built addon (and `npx tsc -b` for the wire tool's import);
 * skipped otherwise. Namespaces are unique per run and removed in after(), also on failure.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CodecError, arpRequestFrame, decodeArpFrame, decodeNdpFrame, neighborSolicitationFrame } from '@ironlb/layer2';
import { type CapturedFrame, L2Lab, ResponderChild, WireChild, labSkip, sleep } from './layer2-lab.js';

const VIP4 = '198.51.100.70';
const VIP6 = '2001:db8::1:70';
/** The requirement: answers and announcements within this long after the link is back. */
const WITHIN_MS = 1000;

interface Seen {
  arpReply: number | null;
  naReply: number | null;
  garp: number | null;
  unsolicitedNa: number | null;
}

/** First capture time (ms after `since`) of each kind of answer from `mac` in `frames`. */
function firstAnswers(frames: readonly CapturedFrame[], mac: string, clientMac: string, since: number): Seen {
  const seen: Seen = { arpReply: null, naReply: null, garp: null, unsolicitedNa: null };
  const mark = (k: keyof Seen, t: number): void => {
    if (seen[k] === null && t >= since) seen[k] = Math.round(t - since);
  };
  for (const c of frames) {
    const b = Uint8Array.from(Buffer.from(c.hex, 'hex'));
    const a = decodeArpFrame(b);
    if (!(a instanceof CodecError) && a.arp.senderMac === mac && a.arp.senderIp === VIP4) {
      if (a.arp.targetIp === VIP4) mark('garp', c.wall);
      else if (a.arp.op === 2 && a.ethernet.dst === clientMac) mark('arpReply', c.wall);
      continue;
    }
    const n = decodeNdpFrame(b);
    if (!(n instanceof CodecError) && n.message.type === 'na' && n.ethernet.src === mac && n.message.target === VIP6) {
      mark(n.message.solicited ? 'naReply' : 'unsolicitedNa', c.wall);
    }
  }
  return seen;
}

describe('layer2: link flaps (issue 9)', { skip: labSkip, timeout: 180_000 }, () => {
  let lab: L2Lab | undefined;
  let responder: ResponderChild | undefined;
  let wire: WireChild | undefined;

  before(async () => {
    lab = L2Lab.create({ members: ['node', 'client'], nodes: ['node'] });
    await lab.waitLinkLocal('node');
    await lab.waitLinkLocal('client');
    responder = new ResponderChild(lab, 'node');
    assert.deepEqual(await responder.ready(), ['arp/eth0', 'ndp/eth0']);
    await responder.command(`announce ${VIP4}`);
    await responder.command(`announce ${VIP6}`);
    wire = new WireChild(lab, 'client');
    await wire.ready();
  });

  after(async () => {
    await wire?.stop().catch(() => {});
    await responder?.stop().catch(() => {});
    await lab?.stop();
  });

  const flaps: { how: 'admin' | 'carrier'; seconds: number }[] = [
    { how: 'admin', seconds: 1 },
    { how: 'admin', seconds: 3 },
    { how: 'admin', seconds: 8 },
    { how: 'carrier', seconds: 3 },
  ];
  for (const { how, seconds } of flaps) {
    it(`${how === 'admin' ? 'eth0 down' : 'carrier lost'} for ${seconds} s: answers ARP and NDP and re-announces within 1 s of link up`, async () => {
      const l = lab ?? assert.fail('no lab');
      const r = responder ?? assert.fail('no responder');
      const w = wire ?? assert.fail('no wire tool');
      const node = l.member('node');
      const client = l.member('client');
      const pid = r.pid;
      const errorsBefore = (await r.stats()).portErrors as number;
      const set = (up: boolean): void => (how === 'admin' ? l.setAdmin('node', up) : l.setCarrier('node', up));
      set(false);
      await sleep(seconds * 1000);
      await w.take();
      set(true);
      const up = Date.now();
      // Ask from the client every 50 ms for 3 s, on the wire tool's own timer.
      await w.repeat(50, 60, arpRequestFrame(client.mac, client.ipv4, VIP4), neighborSolicitationFrame(client.mac, client.ipv6, VIP6));
      let seen: Seen = { arpReply: null, naReply: null, garp: null, unsolicitedNa: null };
      const frames: CapturedFrame[] = [];
      for (let i = 0; i < 40 && Object.values(seen).some((v) => v === null); i++) {
        await sleep(100);
        frames.push(...(await w.take()));
        seen = firstAnswers(frames, node.mac, client.mac, up);
      }
      const h = (await r.command('health')) as { errored: number; reopens: number };
      const detail = `ms after link up: ${JSON.stringify(seen)}; health ${JSON.stringify(h)}; stderr ${r.stderr.slice(-800)}`;
      for (const [what, ms] of Object.entries(seen)) {
        assert.ok(ms !== null && ms <= WITHIN_MS, `${what} within ${WITHIN_MS} ms of link up (${detail})`);
      }
      assert.equal(r.pid, pid, 'the same responder process (one Announcer) throughout');
      assert.equal(r.proc.exitCode, null);
      assert.equal(h.errored, 0, detail);
      // An administrative down errors the sockets (ENETDOWN); a carrier cut does not.
      const errors = ((await r.stats()).portErrors as number) - errorsBefore;
      if (how === 'admin') assert.ok(errors > 0, `the ENETDOWN was seen and counted (${detail})`);
      await sleep(3500); // let the repeat run out before the next flap
    });
  }

  it('every frame ended in a reply or a counted drop; socket errors were counted', async () => {
    const r = responder ?? assert.fail('no responder');
    const s = await r.stats();
    const drops = Object.values(s.drops).reduce((a, b) => a + b, 0);
    assert.equal(s.requestsReceived, (s.repliesSent as number) + drops, JSON.stringify(s));
    assert.ok((s.portErrors as number) >= 3, 'one or more per administrative down');
    assert.ok((s.portReopens as number) >= 3);
    assert.equal(r.lines.filter((l) => l.event === 'ready').length, 0, 'ready only once (consumed at start)');
  });
});
