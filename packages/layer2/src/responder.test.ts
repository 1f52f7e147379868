import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ARP_REPLY, ARP_REQUEST, decodeArpFrame, encodeArpFrame, gratuitousArpFrames } from './arp.js';
import { CodecError } from './errors.js';
import { encodeEthernet } from './ethernet.js';
import { decodeNdpFrame, encodeNdpFrame, icmpv6Checksum, neighborSolicitationFrame, unsolicitedNaFrame } from './ndp.js';
import { decideArp, decideNdp } from './responder.js';
import type { AnnounceLookup, Decision, DropReason } from './responder.js';
import { DEFAULT_META, PACKET_BROADCAST, PACKET_HOST, PACKET_MULTICAST, PACKET_OTHERHOST } from './port.js';
import type { FrameMeta } from './port.js';
import { kernelArpRequest, kernelDadNs, kernelNs } from './testdata/frames.js';

const OURS = { name: 'eth0', mac: '02:00:00:00:00:0a' };
const CLIENT = '02:00:00:00:00:0c';
const VIP4 = '198.51.100.10';
const VIP6 = '2001:db8::10';

/** Announces VIP4 and VIP6 on eth0 only; 198.51.100.11 is announced on eth1 only. */
const lookup: AnnounceLookup = (ip, ifname) => {
  if (ip === VIP4 || ip === VIP6) return ifname === 'eth0' ? 'announced' : 'wrongInterface';
  if (ip === '198.51.100.11') return ifname === 'eth1' ? 'announced' : 'wrongInterface';
  return 'notAnnounced';
};

function reason(d: Decision): DropReason | 'reply' {
  return d.action === 'reply' ? 'reply' : d.reason;
}

const meta = (m: Partial<FrameMeta>): FrameMeta => ({ ...DEFAULT_META, ...m });

function mutate(b: Uint8Array, f: (c: Uint8Array) => void): Uint8Array {
  const c = Uint8Array.from(b);
  f(c);
  return c;
}

/** Rewrites the ICMPv6 checksum of an Ethernet+IPv6+ICMPv6 frame after an edit. */
function refreshChecksum(f: Uint8Array): Uint8Array {
  const plen = ((f[18] ?? 0) << 8) | (f[19] ?? 0);
  const m = f.subarray(54, 54 + plen);
  m[2] = 0;
  m[3] = 0;
  const sum = icmpv6Checksum(f.subarray(22, 38), f.subarray(38, 54), m);
  m[2] = sum >> 8;
  m[3] = sum & 0xff;
  return f;
}

describe('decideArp', { timeout: 60_000 }, () => {
  const req = (over: Partial<{ dst: string; src: string; op: number; senderIp: string; targetIp: string; senderMac: string }>): Uint8Array =>
    encodeArpFrame(over.dst ?? 'ff:ff:ff:ff:ff:ff', over.src ?? CLIENT, {
      op: over.op ?? ARP_REQUEST,
      senderMac: over.senderMac ?? over.src ?? CLIENT,
      senderIp: over.senderIp ?? '198.51.100.2',
      targetMac: '00:00:00:00:00:00',
      targetIp: over.targetIp ?? VIP4,
    });
  const cases: { desc: string; frame: Uint8Array; iface?: typeof OURS; want: DropReason | 'reply' }[] = [
    { desc: 'kernel broadcast request for our VIP', frame: kernelArpRequest, want: 'reply' },
    { desc: 'unicast to our MAC (ARP cache refresh)', frame: req({ dst: OURS.mac }), want: 'reply' },
    { desc: 'RFC 5227 probe from 0.0.0.0', frame: req({ senderIp: '0.0.0.0' }), want: 'reply' },
    { desc: 'unannounced IP', frame: req({ targetIp: '198.51.100.99' }), want: 'notAnnounced' },
    { desc: 'announced on another interface', frame: req({ targetIp: '198.51.100.11' }), want: 'wrongInterface' },
    { desc: 'request on an interface the IP is not allowed on', frame: kernelArpRequest, iface: { name: 'eth1', mac: OURS.mac }, want: 'wrongInterface' },
    { desc: 'reply', frame: req({ op: ARP_REPLY }), want: 'arpReply' },
    { desc: 'RARP opcode', frame: req({ op: 3 }), want: 'notArpRequest' },
    { desc: 'unicast to someone else', frame: req({ dst: '02:00:00:00:00:99' }), want: 'wrongEthernetDestination' },
    { desc: 'multicast destination', frame: req({ dst: '01:00:5e:00:00:01' }), want: 'wrongEthernetDestination' },
    { desc: 'our own frame looped back', frame: req({ src: OURS.mac }), want: 'ownFrame' },
    { desc: "another node's gratuitous request", frame: gratuitousArpFrames('02:00:00:00:00:0b', VIP4)[0], want: 'gratuitous' },
    { desc: "another node's gratuitous reply", frame: gratuitousArpFrames('02:00:00:00:00:0b', VIP4)[1], want: 'arpReply' },
    { desc: 'truncated', frame: kernelArpRequest.subarray(0, 30), want: 'malformed' },
    { desc: 'IPv4 frame on the ARP socket', frame: encodeEthernet('ff:ff:ff:ff:ff:ff', CLIENT, 0x0800, new Uint8Array(28)), want: 'malformed' },
    // Issue 10: only htype 1, ptype 0x0800, hlen 6, plen 4 is ARP for IPv4.
    {
      desc: 'protocol type 0x86dd with plen 4 (issue 10)',
      frame: mutate(kernelArpRequest, (c) => {
        c[16] = 0x86;
        c[17] = 0xdd;
      }),
      want: 'malformed',
    },
    {
      desc: 'hardware type 6 (IEEE 802)',
      frame: mutate(kernelArpRequest, (c) => {
        c[15] = 6;
      }),
      want: 'malformed',
    },
    {
      desc: 'hlen 8',
      frame: mutate(kernelArpRequest, (c) => {
        c[18] = 8;
      }),
      want: 'malformed',
    },
    {
      desc: 'plen 16',
      frame: mutate(kernelArpRequest, (c) => {
        c[19] = 16;
      }),
      want: 'malformed',
    },
  ];
  for (const c of cases) {
    it(c.desc, () => assert.equal(reason(decideArp(c.frame, c.iface ?? OURS, lookup)), c.want));
  }
  // Issue 10: the kernel strips the 802.1Q tag of a frame for a VLAN it has no device for and
  // marks it PACKET_OTHERHOST (verified on Linux 6.18); auxdata may also report the tag.
  const vlanCases: { desc: string; frame: Uint8Array; meta: FrameMeta; want: DropReason | 'reply' }[] = [
    { desc: 'tagged broadcast request, tag reported in auxdata', frame: kernelArpRequest, meta: meta({ pkttype: PACKET_BROADCAST, vlanTagged: true }), want: 'vlanTagged' },
    { desc: 'broadcast request the kernel re-marked OTHERHOST (VLAN without a device)', frame: kernelArpRequest, meta: meta({ pkttype: PACKET_OTHERHOST }), want: 'vlanTagged' },
    { desc: 'unicast request to our MAC re-marked OTHERHOST', frame: req({ dst: OURS.mac }), meta: meta({ pkttype: PACKET_OTHERHOST }), want: 'vlanTagged' },
    { desc: 'unicast request to another MAC (promiscuous NIC)', frame: req({ dst: '02:00:00:00:00:99' }), meta: meta({ pkttype: PACKET_OTHERHOST }), want: 'wrongEthernetDestination' },
    { desc: 'untagged broadcast request', frame: kernelArpRequest, meta: meta({ pkttype: PACKET_BROADCAST }), want: 'reply' },
    { desc: 'a frame cut short by the socket', frame: kernelArpRequest, meta: meta({ truncated: true }), want: 'malformed' },
  ];
  for (const c of vlanCases) {
    it(c.desc, () => assert.equal(reason(decideArp(c.frame, OURS, lookup, c.meta)), c.want));
  }
  it("replies from the receiving interface's MAC to the asker", () => {
    const d = decideArp(kernelArpRequest, OURS, lookup);
    assert.equal(d.action, 'reply');
    if (d.action !== 'reply') return;
    const r = decodeArpFrame(d.frame);
    assert.ok(!(r instanceof CodecError));
    assert.equal(r.ethernet.src, OURS.mac);
    assert.equal(r.ethernet.dst, CLIENT);
    assert.deepEqual(r.arp, { op: ARP_REPLY, senderMac: OURS.mac, senderIp: VIP4, targetMac: CLIENT, targetIp: '198.51.100.2' });
  });
});

describe('decideNdp', { timeout: 60_000 }, () => {
  const ns = (target: string, opts: { src?: string; unicastTo?: { mac: string; ip: string } } = {}): Uint8Array =>
    neighborSolicitationFrame(CLIENT, opts.src ?? '2001:db8::2', target, opts.unicastTo ? { unicastTo: opts.unicastTo } : {});
  const nud = ns(VIP6, { unicastTo: { mac: OURS.mac, ip: VIP6 } });
  const cases: { desc: string; frame: Uint8Array; want: DropReason | 'reply' }[] = [
    { desc: 'kernel NS to the solicited-node group', frame: kernelNs, want: 'reply' },
    { desc: 'unicast NUD probe (MetalLB #2920)', frame: nud, want: 'reply' },
    { desc: 'DAD probe for our VIP', frame: ns(VIP6, { src: '::' }), want: 'reply' },
    { desc: 'DAD probe for something else', frame: kernelDadNs, want: 'notAnnounced' },
    { desc: 'unannounced target', frame: ns('2001:db8::99'), want: 'notAnnounced' },
    {
      desc: 'hop limit 254 (routed, so off-link)',
      frame: mutate(kernelNs, (c) => {
        c[21] = 254;
      }),
      want: 'badHopLimit',
    },
    {
      desc: 'corrupted checksum',
      frame: mutate(kernelNs, (c) => {
        c[56] = (c[56] ?? 0) ^ 0xff;
      }),
      want: 'badChecksum',
    },
    { desc: 'a Neighbor Advertisement', frame: unsolicitedNaFrame('02:00:00:00:00:0b', 'fe80::b', VIP6), want: 'notNeighborSolicitation' },
    {
      desc: 'UDP over IPv6',
      frame: mutate(kernelNs, (c) => {
        c[20] = 17;
      }),
      want: 'notNeighborSolicitation',
    },
    { desc: 'unicast NUD probe to another MAC', frame: ns(VIP6, { unicastTo: { mac: '02:00:00:00:00:99', ip: VIP6 } }), want: 'wrongEthernetDestination' },
    {
      desc: 'group MAC not matching the IPv6 group',
      frame: mutate(kernelNs, (c) => {
        c[5] = 0x11;
      }),
      want: 'wrongEthernetDestination',
    },
    { desc: 'IPv6 destination neither group nor target', frame: ns(VIP6, { unicastTo: { mac: OURS.mac, ip: '2001:db8::77' } }), want: 'wrongIpDestination' },
    { desc: 'multicast target', frame: ns('ff02::1:ff00:10'), want: 'invalidSolicitation' },
    {
      desc: 'DAD probe carrying a source link-layer option',
      frame: encodeNdpFrame('33:33:ff:00:00:10', CLIENT, '::', 'ff02::1:ff00:10', { type: 'ns', target: VIP6, options: [{ kind: 'source', mac: CLIENT }] }),
      want: 'invalidSolicitation',
    },
    { desc: 'our own NS looped back', frame: neighborSolicitationFrame(OURS.mac, '2001:db8::1', VIP6), want: 'ownFrame' },
    { desc: 'IPv6 header cut short', frame: kernelNs.subarray(0, 40), want: 'malformed' },
    // Issue 10 and the rest of RFC 4861 §7.1.1.
    {
      desc: 'multicast source ff02::1 (issue 10)',
      frame: encodeNdpFrame('33:33:ff:00:00:10', CLIENT, 'ff02::1', 'ff02::1:ff00:10', { type: 'ns', target: VIP6, options: [{ kind: 'source', mac: CLIENT }] }),
      want: 'invalidSolicitation',
    },
    {
      desc: 'ICMP code 1',
      frame: refreshChecksum(
        mutate(kernelNs, (c) => {
          c[55] = 1;
        }),
      ),
      want: 'malformed',
    },
    {
      desc: 'ICMP length 16 (< 24)',
      frame: refreshChecksum(
        mutate(kernelNs, (c) => {
          c[19] = 16;
        }),
      ).subarray(0, 14 + 40 + 16),
      want: 'malformed',
    },
    {
      desc: 'option of length 0',
      frame: refreshChecksum(
        mutate(kernelNs, (c) => {
          c[79] = 0;
        }),
      ),
      want: 'malformed',
    },
    {
      desc: 'hop limit 64',
      frame: mutate(kernelNs, (c) => {
        c[21] = 64;
      }),
      want: 'badHopLimit',
    },
  ];
  for (const c of cases) {
    it(c.desc, () => assert.equal(reason(decideNdp(c.frame, OURS, lookup)), c.want));
  }
  const vlanCases: { desc: string; frame: Uint8Array; meta: FrameMeta; want: DropReason | 'reply' }[] = [
    { desc: 'NS re-marked OTHERHOST (VLAN without a device)', frame: kernelNs, meta: meta({ pkttype: PACKET_OTHERHOST }), want: 'vlanTagged' },
    { desc: 'NS with a tag in auxdata', frame: kernelNs, meta: meta({ pkttype: PACKET_MULTICAST, vlanTagged: true }), want: 'vlanTagged' },
    { desc: 'unicast NUD probe re-marked OTHERHOST', frame: nud, meta: meta({ pkttype: PACKET_OTHERHOST }), want: 'vlanTagged' },
    { desc: 'untagged NUD probe', frame: nud, meta: meta({ pkttype: PACKET_HOST }), want: 'reply' },
  ];
  for (const c of vlanCases) {
    it(c.desc, () => assert.equal(reason(decideNdp(c.frame, OURS, lookup, c.meta)), c.want));
  }
  it('answers with a solicited NA for the target from our MAC', () => {
    const d = decideNdp(kernelNs, OURS, lookup);
    assert.equal(d.action, 'reply');
    if (d.action !== 'reply') return;
    const na = decodeNdpFrame(d.frame);
    assert.ok(!(na instanceof CodecError));
    assert.equal(na.ethernet.src, OURS.mac);
    assert.equal(na.ip.dst, '2001:db8::2');
    assert.ok(na.message.type === 'na' && na.message.solicited && na.message.override);
    assert.deepEqual(na.message.options, [{ kind: 'target', mac: OURS.mac }]);
  });
});
