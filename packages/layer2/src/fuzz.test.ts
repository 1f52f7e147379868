// Fuzz: random and mutated frames through every decoder, both responder decisions and both
// claim classifiers. Nothing may throw (decoders return CodecError values), whatever decodes must
// re-encode to bytes that decode to the same value, and the byte-level decisions in responder.ts
// must agree with a reference built on the string codecs (same verdict, byte-identical reply).
// Seeded, so a failure reproduces; the seed is in the message.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BROADCAST_MAC, tryParseIPv6 } from './addr.js';
import { ARP_REPLY, ARP_REQUEST, arpReplyFrame, decodeArpFrame, encodeArpFrame, gratuitousArpFrames } from './arp.js';
import { classifyArpClaim, classifyNdpClaim } from './conflict.js';
import { CodecError } from './errors.js';
import {
  decodeIpv6,
  decodeNdpFrame,
  encodeNdpFrame,
  icmpv6Checksum,
  ipv6MulticastMac,
  isIpv6Multicast,
  neighborSolicitationFrame,
  solicitedNaFrame,
  solicitedNodeMulticast,
  unsolicitedNaFrame,
  UNSPECIFIED,
} from './ndp.js';
import { decideArp, decideNdp } from './responder.js';
import type { Decision, DropReason } from './responder.js';
import { kernelArpRequest, kernelDadNs, kernelNs } from './testdata/frames.js';

const ITERATIONS = 60_000; // per generator: 120k inputs in total
const iface = { name: 'eth0', mac: '02:00:00:00:00:0a' };
const lookup = (): 'announced' => 'announced';
const noMacs = new Set<string>();

type Ref = { reason: DropReason | 'reply'; ip?: string; frame?: Uint8Array };

/** The ARP decision as the string codecs express it (the pre-issue-12 implementation). */
function referenceArp(b: Uint8Array): Ref {
  const f = decodeArpFrame(b);
  if (f instanceof CodecError) return { reason: 'malformed' };
  const { ethernet: eth, arp } = f;
  if (arp.op === ARP_REPLY) return { reason: 'arpReply', ip: arp.targetIp };
  if (arp.op !== ARP_REQUEST) return { reason: 'notArpRequest' };
  if (eth.dst !== BROADCAST_MAC && eth.dst !== iface.mac) return { reason: 'wrongEthernetDestination', ip: arp.targetIp };
  if (eth.src === iface.mac || arp.senderMac === iface.mac) return { reason: 'ownFrame', ip: arp.targetIp };
  if (arp.senderIp === arp.targetIp) return { reason: 'gratuitous', ip: arp.targetIp };
  return { reason: 'reply', ip: arp.targetIp, frame: arpReplyFrame(arp, iface.mac) };
}

/** The NDP decision as the string codecs express it, plus the RFC 4861 multicast-source rule. */
function referenceNdp(b: Uint8Array): Ref {
  const f = decodeNdpFrame(b);
  if (f instanceof CodecError) {
    if (f.code === 'badChecksum') return { reason: 'badChecksum' };
    if (f.code === 'notIcmpv6' || f.code === 'unknownNdpType') return { reason: 'notNeighborSolicitation' };
    return { reason: 'malformed' };
  }
  const { ethernet: eth, ip, message: msg } = f;
  const target = msg.target;
  if (msg.type !== 'ns') return { reason: 'notNeighborSolicitation', ip: target };
  if (ip.hopLimit !== 255) return { reason: 'badHopLimit', ip: target };
  const groupMac = isIpv6Multicast(ip.dst) ? ipv6MulticastMac(ip.dst) : null;
  if (eth.dst !== iface.mac && eth.dst !== groupMac) return { reason: 'wrongEthernetDestination', ip: target };
  if (eth.src === iface.mac) return { reason: 'ownFrame', ip: target };
  if (isIpv6Multicast(ip.src) || isIpv6Multicast(target)) return { reason: 'invalidSolicitation', ip: target };
  const toGroup = ip.dst === solicitedNodeMulticast(target);
  if (!toGroup && ip.dst !== target) return { reason: 'wrongIpDestination', ip: target };
  if (ip.src === UNSPECIFIED && (!toGroup || msg.options.some((o) => o.kind === 'source'))) return { reason: 'invalidSolicitation', ip: target };
  return { reason: 'reply', ip: target, frame: solicitedNaFrame(f, iface.mac) };
}

function asRef(d: Decision): Ref {
  if (d.action === 'reply') return { reason: 'reply', ip: d.ip, frame: d.frame };
  return d.ip === undefined ? { reason: d.reason } : { reason: d.reason, ip: d.ip };
}

let repliesCompared = 0;

function sameDecision(got: Decision, want: Ref, label: string): void {
  const g = asRef(got);
  if (want.reason === 'reply') repliesCompared++;
  assert.equal(g.reason, want.reason, label);
  assert.equal(g.ip, want.ip, label);
  if (want.frame !== undefined) assert.equal(Buffer.from(g.frame ?? []).toString('hex'), Buffer.from(want.frame).toString('hex'), label);
}

/** xorshift32: small, fast, deterministic. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const seeds: Uint8Array[] = [
  kernelArpRequest,
  kernelNs,
  kernelDadNs,
  ...gratuitousArpFrames('02:00:00:00:00:0a', '198.51.100.10'),
  unsolicitedNaFrame('02:00:00:00:00:0a', 'fe80::a', '2001:db8::10'),
  neighborSolicitationFrame('02:00:00:00:00:0c', '::', '2001:db8::10'),
];

/** Rewrites the ICMPv6 checksum so mutations reach the option parser instead of failing the sum. */
function fixChecksum(b: Uint8Array): void {
  if (b.length < 58 || b[12] !== 0x86 || b[13] !== 0xdd) return;
  const ip = decodeIpv6(b.subarray(14));
  if (ip instanceof CodecError || ip.payload.length < 4) return;
  const m = b.subarray(54, 54 + ip.payload.length);
  m[2] = 0;
  m[3] = 0;
  const sum = icmpv6Checksum(tryParseIPv6(ip.src) ?? new Uint8Array(16), tryParseIPv6(ip.dst) ?? new Uint8Array(16), m);
  m[2] = sum >> 8;
  m[3] = sum & 0xff;
}

/** Runs every decoder and decision on `b`; returns whether some decoder accepted it. */
function check(b: Uint8Array, label: string): boolean {
  try {
    const arp = decodeArpFrame(b);
    if (!(arp instanceof CodecError)) {
      const again = decodeArpFrame(encodeArpFrame(arp.ethernet.dst, arp.ethernet.src, arp.arp));
      assert.ok(!(again instanceof CodecError), label);
      assert.deepEqual(again.arp, arp.arp, label);
    }
    const ndp = decodeNdpFrame(b);
    if (!(ndp instanceof CodecError)) {
      const again = decodeNdpFrame(encodeNdpFrame(ndp.ethernet.dst, ndp.ethernet.src, ndp.ip.src, ndp.ip.dst, ndp.message));
      assert.ok(!(again instanceof CodecError), label);
      assert.deepEqual(again.message, ndp.message, label);
    }
    sameDecision(decideArp(b, iface, lookup), referenceArp(b), `${label} (ARP decision)`);
    sameDecision(decideNdp(b, iface, lookup), referenceNdp(b), `${label} (NDP decision)`);
    const ac = classifyArpClaim(b, noMacs);
    if (ac !== null) {
      assert.ok(!(arp instanceof CodecError), `${label}: an ARP claim from a frame the codec rejects`);
      assert.equal(ac.mac, arp.arp.senderMac, label);
    }
    const nc = classifyNdpClaim(b, noMacs);
    if (nc !== null) {
      assert.ok(!(ndp instanceof CodecError), `${label}: an NDP claim from a frame the codec rejects`);
      assert.equal(nc.ip, ndp.message.target, label);
    }
    return !(arp instanceof CodecError) || !(ndp instanceof CodecError);
  } catch (err) {
    assert.fail(`${label}: ${err instanceof Error ? err.stack : String(err)}\ninput ${Buffer.from(b).toString('hex')}`);
  }
}

describe('fuzz', { timeout: 180_000 }, () => {
  it(`${ITERATIONS} random frames (ARP/IPv6 ethertypes favoured) never throw`, () => {
    const seed = 0x5eed1;
    const r = rng(seed);
    for (let i = 0; i < ITERATIONS; i++) {
      const b = new Uint8Array(r() % 120);
      for (let j = 0; j < b.length; j++) b[j] = r() & 0xff;
      if (b.length >= 14 && (r() & 3) !== 0) {
        // Most random ethertypes would stop at the first check; steer them deeper.
        const v6 = (r() & 1) === 1;
        b[12] = v6 ? 0x86 : 0x08;
        b[13] = v6 ? 0xdd : 0x06;
        if (v6 && b.length > 54) {
          b[14] = 0x60;
          b[18] = 0;
          b[19] = b.length - 54;
          b[20] = 58;
          b[54] = (r() & 1) === 1 ? 135 : 136;
          fixChecksum(b);
        }
      }
      check(b, `random seed=${seed} i=${i}`);
    }
  });
  it(`${ITERATIONS} mutated valid frames never throw and round-trip when they decode`, () => {
    const seed = 0x5eed2;
    const r = rng(seed);
    let decoded = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const base = seeds[r() % seeds.length] ?? kernelNs;
      let b = Uint8Array.from(base);
      const edits = 1 + (r() % 4);
      for (let e = 0; e < edits; e++) {
        const op = r() % 4;
        if (op === 0 && b.length > 0)
          b[r() % b.length] = r() & 0xff; // overwrite a byte
        else if (op === 1 && b.length > 0) {
          const at = r() % b.length; // flip a bit
          b[at] = (b[at] ?? 0) ^ (1 << (r() % 8));
        } else if (op === 2)
          b = b.slice(0, r() % (b.length + 1)); // truncate
        else {
          const grown = new Uint8Array(b.length + 8); // append an 8-byte "option"
          grown.set(b);
          for (let j = b.length; j < grown.length; j++) grown[j] = r() & 0xff;
          if (b.length >= 20) grown[19] = (grown[19] ?? 0) + 8; // keep the IPv6 payload length in step
          b = grown;
        }
      }
      if ((r() & 1) === 1) fixChecksum(b);
      if (check(b, `mutated seed=${seed} i=${i}`)) decoded++;
    }
    // The mutator must exercise the success paths too, not only the error paths.
    assert.ok(decoded > ITERATIONS / 10, `only ${decoded} of ${ITERATIONS} mutated frames decoded`);
    assert.ok(repliesCompared > ITERATIONS / 50, `only ${repliesCompared} replies compared byte for byte`);
  });
});
