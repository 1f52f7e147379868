/**
 * Issue 10 on real sockets: hostile frames on the wire. A node namespace runs the layer2
 * responder; a client namespace puts crafted frames on the bridge, each followed by a valid
 * control request, and captures what comes back: every hostile frame must get no answer (the
 * control must), and the ones that reach user space must be counted under their drop reason.
 * Then a flooder namespace floods the node with ARP requests: a legitimate client's kernel must
 * still resolve the VIP every time, and a responder with a tiny socket buffer must count the
 * kernel's drops (reason `socket`).
 *
 * Needs root, a built addon, `npx tsc -b` and gcc (the flooder is compiled on
 * first use); skipped otherwise. Namespaces are unique per run and removed in after().
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CodecError, arpRequestFrame, decodeArpFrame, decodeNdpFrame, encodeNdpFrame, icmpv6Checksum, neighborSolicitationFrame } from '@ironlb/layer2';
import { L2Lab, ResponderChild, WireChild, flood, labSkip, sleep, waitFor } from './layer2-lab.js';

const VIP4 = '198.51.100.70';
const VIP6 = '2001:db8::1:70';
const VIP6_GROUP = 'ff02::1:ff01:70';
const VIP6_GROUP_MAC = '33:33:ff:01:00:70';

function edit(b: Uint8Array, f: (c: Uint8Array) => void): Uint8Array {
  const c = Uint8Array.from(b);
  f(c);
  return c;
}

/** Recomputes the ICMPv6 checksum after an edit (so the frame fails for the edited reason only). */
function fixSum(f: Uint8Array): Uint8Array {
  const plen = ((f[18] ?? 0) << 8) | (f[19] ?? 0);
  const m = f.subarray(54, 54 + plen);
  m[2] = 0;
  m[3] = 0;
  const s = icmpv6Checksum(f.subarray(22, 38), f.subarray(38, 54), m);
  m[2] = s >> 8;
  m[3] = s & 0xff;
  return f;
}

/** The frame with an 802.1Q tag (VLAN `vid`) inserted after the MAC addresses. */
function tagged(f: Uint8Array, vid: number): Uint8Array {
  const out = new Uint8Array(f.length + 4);
  out.set(f.subarray(0, 12), 0);
  out.set([0x81, 0x00, vid >> 8, vid & 0xff], 12);
  out.set(f.subarray(12), 16);
  return out;
}

describe('layer2: hostile frames and floods (issue 10)', { skip: labSkip, timeout: 180_000 }, () => {
  let lab: L2Lab | undefined;
  let responder: ResponderChild | undefined;
  let wire: WireChild | undefined;

  before(async () => {
    lab = L2Lab.create({ members: ['node', 'client', 'flooder'], nodes: ['node'] });
    await lab.waitLinkLocal('node');
    responder = new ResponderChild(lab, 'node');
    await responder.ready();
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

  /** Sends `hostile` then a valid request; returns the node's answers to each and the drop counter deltas. */
  async function tryFrame(hostile: Uint8Array, family: 4 | 6): Promise<{ answers: number; drops: Record<string, number> }> {
    const l = lab ?? assert.fail();
    const r = responder ?? assert.fail();
    const w = wire ?? assert.fail();
    const node = l.member('node');
    const client = l.member('client');
    const control = family === 4 ? arpRequestFrame(client.mac, client.ipv4, VIP4) : neighborSolicitationFrame(client.mac, client.ipv6, VIP6);
    // Answers to the client only: the burst's gratuitous frames and kernel chatter do not count.
    const answersIn = (frames: { hex: string }[]): number =>
      frames.filter((c) => {
        const b = Uint8Array.from(Buffer.from(c.hex, 'hex'));
        const a = decodeArpFrame(b);
        if (!(a instanceof CodecError)) return a.arp.op === 2 && a.arp.senderMac === node.mac && a.ethernet.dst === client.mac;
        const n = decodeNdpFrame(b);
        return !(n instanceof CodecError) && n.message.type === 'na' && n.message.solicited && n.ethernet.src === node.mac && n.ethernet.dst === client.mac;
      }).length;
    const before = await r.stats();
    await w.take();
    await w.send(hostile);
    await sleep(200);
    const afterHostile = answersIn(await w.take());
    await w.send(control);
    let answers = 0;
    for (let i = 0; i < 60 && answers === 0; i++) {
      await sleep(50);
      answers += answersIn(await w.take());
    }
    const after = await r.stats();
    const drops: Record<string, number> = {};
    for (const [k, v] of Object.entries(after.drops)) if (v !== (before.drops[k] ?? 0)) drops[k] = v - (before.drops[k] ?? 0);
    assert.equal(afterHostile, 0, 'no answer to the hostile frame');
    assert.equal(answers, 1, 'the control request after it was answered, once');
    return { answers, drops };
  }

  it('an ARP request with protocol type 0x86dd (plen 4) is not answered', async () => {
    const c = (lab ?? assert.fail()).member('client');
    await tryFrame(
      edit(arpRequestFrame(c.mac, c.ipv4, VIP4), (f) => {
        f[16] = 0x86;
        f[17] = 0xdd;
      }),
      4,
    );
  });

  it('a VLAN-tagged ARP request is not answered (untagged) and is counted as vlanTagged', async () => {
    const c = (lab ?? assert.fail()).member('client');
    const { drops } = await tryFrame(tagged(arpRequestFrame(c.mac, c.ipv4, VIP4), 100), 4);
    assert.equal(drops.vlanTagged, 1, JSON.stringify(drops));
  });

  it('a VLAN-tagged Neighbor Solicitation is not answered and is counted as vlanTagged', async () => {
    const c = (lab ?? assert.fail()).member('client');
    const { drops } = await tryFrame(tagged(neighborSolicitationFrame(c.mac, c.ipv6, VIP6), 100), 6);
    assert.equal(drops.vlanTagged, 1, JSON.stringify(drops));
  });

  it('a Neighbor Solicitation from a multicast source (ff02::1) is not answered', async () => {
    const c = (lab ?? assert.fail()).member('client');
    const ns = encodeNdpFrame(VIP6_GROUP_MAC, c.mac, 'ff02::1', VIP6_GROUP, { type: 'ns', target: VIP6, options: [{ kind: 'source', mac: c.mac }] });
    const { drops } = await tryFrame(ns, 6);
    assert.equal(drops.invalidSolicitation, 1, JSON.stringify(drops));
  });

  // The rest of RFC 4861 §7.1.1, each on the wire.
  const ndpCases: { desc: string; reason: string; make: (mac: string, src: string) => Uint8Array }[] = [
    {
      desc: 'hop limit 254',
      reason: 'badHopLimit',
      make: (mac, src) =>
        edit(neighborSolicitationFrame(mac, src, VIP6), (f) => {
          f[21] = 254;
        }),
    },
    {
      desc: 'ICMP code 1',
      reason: 'malformed',
      make: (mac, src) =>
        fixSum(
          edit(neighborSolicitationFrame(mac, src, VIP6), (f) => {
            f[55] = 1;
          }),
        ),
    },
    {
      desc: 'ICMP length 16 (< 24)',
      reason: 'malformed',
      make: (mac, src) =>
        fixSum(
          edit(neighborSolicitationFrame(mac, src, VIP6), (f) => {
            f[19] = 16;
          }),
        ).subarray(0, 70),
    },
    {
      desc: 'a multicast target',
      reason: 'invalidSolicitation',
      make: (mac, src) => encodeNdpFrame(VIP6_GROUP_MAC, mac, src, VIP6_GROUP, { type: 'ns', target: 'ff02::1', options: [{ kind: 'source', mac }] }),
    },
    {
      desc: 'an unspecified source with a source link-layer option',
      reason: 'invalidSolicitation',
      make: (mac) => encodeNdpFrame(VIP6_GROUP_MAC, mac, '::', VIP6_GROUP, { type: 'ns', target: VIP6, options: [{ kind: 'source', mac }] }),
    },
  ];
  for (const c of ndpCases) {
    it(`a Neighbor Solicitation with ${c.desc} is not answered (${c.reason})`, async () => {
      const m = (lab ?? assert.fail()).member('client');
      const { drops } = await tryFrame(c.make(m.mac, m.ipv6), 6);
      assert.equal(drops[c.reason], 1, JSON.stringify(drops));
    });
  }

  it('an ARP flood does not cost a legitimate client its answers', async () => {
    const l = lab ?? assert.fail();
    const r = responder ?? assert.fail();
    await wire?.stop(); // the client's capture would only copy the flood around
    const node = l.member('node');
    const floodDone = flood(l, 'flooder', { mode: 'arp', targets: [VIP4], rate: 10_000, durationMs: 8000 });
    await sleep(500);
    const resolved: number[] = [];
    for (let i = 0; i < 5; i++) {
      l.flushNeigh('client', VIP4);
      const t0 = Date.now();
      l.poke('client', VIP4);
      // The kernel retries unanswered requests once a second: 3 s allows for a lost one.
      await waitFor(`resolution ${i + 1} of ${VIP4} during the flood`, 3000, () => l.neigh('client', VIP4).mac === node.mac);
      resolved.push(Date.now() - t0);
    }
    const res = await floodDone;
    const s = await r.stats();
    assert.equal(resolved.length, 5, `resolved in ${resolved.join(', ')} ms`);
    assert.ok(res.answered > 0, JSON.stringify(res));
    const drops = Object.values(s.drops).reduce((a, b) => a + b, 0);
    assert.equal(s.requestsReceived, (s.repliesSent as number) + drops, JSON.stringify(s));
  });

  it('kernel drops on a full socket buffer are counted (reason socket) and keep the books balanced', async () => {
    const l = lab ?? assert.fail();
    await responder?.stop();
    // SO_RCVBUF 1 is raised to the kernel minimum: a couple of frames.
    const tiny = new ResponderChild(l, 'node', ['--rcvbuf', '1']);
    responder = tiny;
    await tiny.ready();
    await tiny.command(`announce ${VIP4}`);
    await flood(l, 'flooder', { mode: 'arp', targets: [VIP4], rate: 20_000, durationMs: 1500 });
    const s = await tiny.stats();
    assert.ok((s.drops.socket ?? 0) > 0, JSON.stringify(s));
    const drops = Object.values(s.drops).reduce((a, b) => a + b, 0);
    assert.equal(s.requestsReceived, (s.repliesSent as number) + drops, JSON.stringify(s));
  });
});
