import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ARP_REPLY, ARP_REQUEST, decodeArpFrame, encodeArpFrame, gratuitousArpFrames } from './arp.js';
import { ClaimLimiter, DefenceGate, arpProbeFrame, classifyArpClaim, classifyNdpClaim, dadProbeFrame, isProbeKind } from './conflict.js';
import type { ClaimKind, WireClaim } from './conflict.js';
import { CodecError } from './errors.js';
import { decodeNdpFrame, encodeNdpFrame, neighborSolicitationFrame, unsolicitedNaFrame } from './ndp.js';
import { DEFAULT_META, PACKET_BROADCAST, PACKET_OTHERHOST } from './port.js';
import type { FrameMeta } from './port.js';

const OURS = '02:00:00:00:00:0a';
const OUR_OTHER_NIC = '02:00:00:00:00:1a';
const FOREIGN = '02:00:00:00:00:0f';
const VIP4 = '198.51.100.70';
const VIP6 = '2001:db8::1:70';
const own = new Set([OURS, OUR_OTHER_NIC]);

function arp(op: number, o: { src?: string; sha?: string; spa: string; tpa: string; dst?: string }): Uint8Array {
  return encodeArpFrame(o.dst ?? 'ff:ff:ff:ff:ff:ff', o.src ?? o.sha ?? FOREIGN, {
    op,
    senderMac: o.sha ?? FOREIGN,
    senderIp: o.spa,
    targetMac: '00:00:00:00:00:00',
    targetIp: o.tpa,
  });
}

function summary(c: WireClaim | null): string | null {
  return c === null ? null : `${c.kind} ${c.ip} by ${c.mac}`;
}

describe('classifyArpClaim', { timeout: 60_000 }, () => {
  const cases: { desc: string; frame: Uint8Array; meta?: FrameMeta; want: string | null }[] = [
    { desc: 'foreign gratuitous ARP request', frame: gratuitousArpFrames(FOREIGN, VIP4)[0], want: `arpAnnouncement ${VIP4} by ${FOREIGN}` },
    { desc: 'foreign gratuitous ARP reply', frame: gratuitousArpFrames(FOREIGN, VIP4)[1], want: `arpReply ${VIP4} by ${FOREIGN}` },
    { desc: 'ARP reply to our probe', frame: arp(ARP_REPLY, { spa: VIP4, tpa: '0.0.0.0', dst: OURS }), want: `arpReply ${VIP4} by ${FOREIGN}` },
    { desc: 'request using the IP as sender (RFC 5227 §2.4)', frame: arp(ARP_REQUEST, { spa: VIP4, tpa: '198.51.100.1' }), want: `arpRequest ${VIP4} by ${FOREIGN}` },
    { desc: 'another host probing (sender 0.0.0.0)', frame: arpProbeFrame(FOREIGN, VIP4), want: `arpProbe ${VIP4} by ${FOREIGN}` },
    { desc: 'an ordinary client request claims its own IP only', frame: arp(ARP_REQUEST, { spa: '198.51.100.2', tpa: VIP4 }), want: `arpRequest 198.51.100.2 by ${FOREIGN}` },
    { desc: 'the sender hardware address is the claimer, not the Ethernet source', frame: arp(ARP_REPLY, { src: '02:00:00:00:00:99', spa: VIP4, tpa: VIP4 }), want: `arpReply ${VIP4} by ${FOREIGN}` },
    { desc: 'our own GARP looped back', frame: gratuitousArpFrames(OURS, VIP4)[0], want: null },
    { desc: "our other NIC's GARP on the same segment", frame: gratuitousArpFrames(OUR_OTHER_NIC, VIP4)[1], want: null },
    { desc: 'a foreign sender inside a frame from our MAC', frame: arp(ARP_REPLY, { src: OURS, spa: VIP4, tpa: VIP4 }), want: null },
    { desc: 'a reply with sender 0.0.0.0 claims nothing', frame: arp(ARP_REPLY, { spa: '0.0.0.0', tpa: VIP4 }), want: null },
    { desc: 'RARP', frame: arp(3, { spa: VIP4, tpa: VIP4 }), want: null },
    { desc: 'truncated', frame: gratuitousArpFrames(FOREIGN, VIP4)[0].subarray(0, 40), want: null },
    { desc: 'VLAN-tagged GARP (another LAN)', frame: gratuitousArpFrames(FOREIGN, VIP4)[0], meta: { ...DEFAULT_META, pkttype: PACKET_OTHERHOST }, want: null },
    { desc: 'GARP with a tag in auxdata', frame: gratuitousArpFrames(FOREIGN, VIP4)[0], meta: { ...DEFAULT_META, pkttype: PACKET_BROADCAST, vlanTagged: true }, want: null },
  ];
  for (const c of cases) {
    it(c.desc, () => assert.equal(summary(classifyArpClaim(c.frame, own, undefined, c.meta)), c.want));
  }
  it('asks the filter before formatting a MAC, and honours a refusal', () => {
    const asked: string[] = [];
    const c = classifyArpClaim(gratuitousArpFrames(FOREIGN, VIP4)[0], own, (ip, kind) => {
      asked.push(`${kind} ${ip}`);
      return false;
    });
    assert.equal(c, null);
    assert.deepEqual(asked, [`arpAnnouncement ${VIP4}`]);
  });
});

describe('classifyNdpClaim', { timeout: 60_000 }, () => {
  const na = (o: { src?: string; solicited?: boolean; dst?: string; tllao?: string | null; hop?: number; target?: string }): Uint8Array => {
    const dst = o.dst ?? 'ff02::1';
    const f = encodeNdpFrame(dst === 'ff02::1' ? '33:33:00:00:00:01' : OURS, o.src ?? FOREIGN, 'fe80::f', dst, {
      type: 'na',
      router: false,
      solicited: o.solicited ?? false,
      override: true,
      target: o.target ?? VIP6,
      options: o.tllao === null ? [] : [{ kind: 'target', mac: o.tllao ?? FOREIGN }],
    });
    if (o.hop !== undefined) f[21] = o.hop;
    return f;
  };
  const cases: { desc: string; frame: Uint8Array; meta?: FrameMeta; want: string | null }[] = [
    { desc: 'foreign unsolicited NA', frame: unsolicitedNaFrame(FOREIGN, 'fe80::f', VIP6), want: `na ${VIP6} by ${FOREIGN}` },
    { desc: 'solicited NA answering our NS (unicast)', frame: na({ solicited: true, dst: 'fe80::a' }), want: `na ${VIP6} by ${FOREIGN}` },
    { desc: 'NA without a target option: the Ethernet source is the claimer', frame: na({ tllao: null }), want: `na ${VIP6} by ${FOREIGN}` },
    { desc: 'the target option names the claimer', frame: na({ src: '02:00:00:00:00:99', tllao: FOREIGN }), want: `na ${VIP6} by ${FOREIGN}` },
    { desc: "another host's DAD probe", frame: dadProbeFrame(FOREIGN, VIP6), want: `dadProbe ${VIP6} by ${FOREIGN}` },
    { desc: 'our own NA', frame: unsolicitedNaFrame(OURS, 'fe80::a', VIP6), want: null },
    { desc: 'an NA from our MAC naming another', frame: na({ src: OURS }), want: null },
    { desc: 'an NA naming our other NIC', frame: na({ tllao: OUR_OTHER_NIC, src: '02:00:00:00:00:99' }), want: null },
    { desc: 'Solicited set on a multicast NA (RFC 4861 §7.1.2)', frame: na({ solicited: true }), want: null },
    { desc: 'hop limit 254 (off-link)', frame: na({ hop: 254 }), want: null },
    {
      desc: 'corrupted checksum',
      frame: (() => {
        const f = na({});
        f[57] = (f[57] ?? 0) ^ 0xff;
        return f;
      })(),
      want: null,
    },
    { desc: 'multicast target', frame: na({ target: 'ff02::1:ff00:1' }), want: null },
    { desc: 'an ordinary NS (not DAD) claims nothing', frame: neighborSolicitationFrame(FOREIGN, '2001:db8::2', VIP6), want: null },
    {
      desc: 'a DAD probe with a source link-layer option is invalid',
      frame: encodeNdpFrame('33:33:ff:01:00:70', FOREIGN, '::', 'ff02::1:ff01:70', { type: 'ns', target: VIP6, options: [{ kind: 'source', mac: FOREIGN }] }),
      want: null,
    },
    { desc: 'a VLAN-tagged NA', frame: unsolicitedNaFrame(FOREIGN, 'fe80::f', VIP6), meta: { ...DEFAULT_META, pkttype: PACKET_OTHERHOST }, want: null },
    { desc: 'an ARP frame', frame: gratuitousArpFrames(FOREIGN, VIP4)[0], want: null },
  ];
  for (const c of cases) {
    it(c.desc, () => assert.equal(summary(classifyNdpClaim(c.frame, own, undefined, c.meta)), c.want));
  }
});

describe('probe frames', { timeout: 60_000 }, () => {
  it('an ARP probe is a broadcast request from our MAC with sender IP 0.0.0.0 (RFC 5227 §2.1.1)', () => {
    const f = decodeArpFrame(arpProbeFrame(OURS, VIP4));
    assert.ok(!(f instanceof CodecError));
    assert.equal(f.ethernet.dst, 'ff:ff:ff:ff:ff:ff');
    assert.deepEqual(f.arp, { op: ARP_REQUEST, senderMac: OURS, senderIp: '0.0.0.0', targetMac: '00:00:00:00:00:00', targetIp: VIP4 });
  });
  it('a DAD probe is an NS from :: to the solicited-node group without options (RFC 4862 §5.4.2)', () => {
    const f = decodeNdpFrame(dadProbeFrame(OURS, VIP6));
    assert.ok(!(f instanceof CodecError));
    assert.equal(f.ip.src, '::');
    assert.equal(f.ip.dst, 'ff02::1:ff01:70');
    assert.equal(f.ethernet.dst, '33:33:ff:01:00:70');
    assert.equal(f.ip.hopLimit, 255);
    assert.deepEqual(f.message, { type: 'ns', target: VIP6, options: [] });
  });
  it('probe kinds are told apart', () => {
    const kinds: ClaimKind[] = ['arpReply', 'arpAnnouncement', 'arpRequest', 'arpProbe', 'na', 'dadProbe'];
    assert.deepEqual(kinds.filter(isProbeKind), ['arpProbe', 'dadProbe']);
  });
});

describe('ClaimLimiter', { timeout: 60_000 }, () => {
  it('scenario: one claim per ip+mac per interval; other pairs independent; forget resets', () => {
    const l = new ClaimLimiter(1000, 3);
    assert.equal(l.admit(VIP4, FOREIGN, 0), true, 'first claim passes');
    assert.equal(l.admit(VIP4, FOREIGN, 999), false, 'same pair within the interval');
    assert.equal(l.admit(VIP4, '02:00:00:00:00:0e', 10), true, 'another MAC is another pair');
    assert.equal(l.admit(VIP6, FOREIGN, 20), true, 'another IP is another pair');
    assert.equal(l.admit(VIP4, FOREIGN, 1000), true, 'same pair after the interval');
    assert.equal(l.size, 3);
    l.forget(VIP4);
    assert.equal(l.size, 1);
    assert.equal(l.admit(VIP4, FOREIGN, 1001), true, 'withdrawn and re-announced starts fresh');
  });
  it('bounds memory: new pairs past the cap wait until old ones expire', () => {
    const l = new ClaimLimiter(1000, 2);
    assert.equal(l.admit(VIP4, '02:00:00:00:00:01', 0), true);
    assert.equal(l.admit(VIP4, '02:00:00:00:00:02', 0), true);
    assert.equal(l.admit(VIP4, '02:00:00:00:00:03', 500), false, 'cap reached, nothing expired');
    assert.equal(l.size, 2);
    assert.equal(l.admit(VIP4, '02:00:00:00:00:03', 1000), true, 'expired pairs make room');
    assert.ok(l.size <= 2);
  });
});

describe('DefenceGate', { timeout: 60_000 }, () => {
  it('scenario: defend, refuse within DEFEND_INTERVAL, defend again after it; per IP', () => {
    const g = new DefenceGate(10_000);
    assert.equal(g.tryDefend(VIP4, 0), true);
    assert.equal(g.tryDefend(VIP4, 9_999), false);
    assert.equal(g.tryDefend(VIP6, 5_000), true, 'each IP has its own interval');
    assert.equal(g.tryDefend(VIP4, 10_000), true);
    assert.equal(g.tryDefend(VIP4, 10_001), false, 'the refused attempt did not move the window');
    g.forget(VIP4);
    assert.equal(g.tryDefend(VIP4, 10_002), true);
  });
});
