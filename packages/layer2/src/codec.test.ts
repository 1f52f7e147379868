import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatIPv6, normalizeIp, parseMac, tryParseIPv4, tryParseIPv6 } from './addr.js';
import { ARP_REPLY, ARP_REQUEST, arpReplyFrame, decodeArp, decodeArpFrame, encodeArp, encodeArpFrame, gratuitousArpFrames } from './arp.js';
import type { ArpPacket } from './arp.js';
import { CodecError } from './errors.js';
import { decodeEthernet, encodeEthernet, isGroupMac } from './ethernet.js';
import {
  decodeIpv6,
  decodeNdp,
  decodeNdpFrame,
  encodeNdp,
  encodeNdpFrame,
  icmpv6Checksum,
  ipv6MulticastMac,
  neighborSolicitationFrame,
  solicitedNaFrame,
  solicitedNodeMulticast,
  unsolicitedNaFrame,
} from './ndp.js';
import type { NdpFrame, NdpMessage } from './ndp.js';
import { hex, kernelArpRequest, kernelDadNs, kernelNs } from './testdata/frames.js';

/** Concatenates per-field byte arrays so a fixture reads one field per line. */
function bytes(...parts: (number[] | Uint8Array)[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

function ok<T>(v: T | CodecError): T {
  if (v instanceof CodecError) assert.fail(`unexpected ${v.code}: ${v.message}`);
  return v;
}

describe('addresses', { timeout: 60_000 }, () => {
  it('parses and formats IPv4, rejecting ambiguous forms', () => {
    assert.deepEqual(tryParseIPv4('198.51.100.7'), Uint8Array.of(198, 51, 100, 7));
    for (const bad of ['1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.x', '', '1..2.3']) {
      assert.equal(tryParseIPv4(bad), null, bad);
    }
  });
  it('parses IPv6 and formats it per RFC 5952', () => {
    const cases: [string, string][] = [
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single 0 group is not shortened
      ['::', '::'],
      ['::1', '::1'],
      ['fe80::', 'fe80::'],
      // RFC 5952 §5: IPv4-mapped keeps its dotted tail, as core's formatIP always wrote it
      // (this codec used to print '::ffff:c633:6401': issue 14.3).
      ['::ffff:198.51.100.1', '::ffff:198.51.100.1'],
      ['::FFFF:c633:6401', '::ffff:198.51.100.1'],
    ];
    for (const [input, want] of cases) assert.equal(formatIPv6(tryParseIPv6(input) ?? new Uint8Array()), want, input);
    for (const bad of ['1:2:3:4:5:6:7:8:9', '1:::2', ':1', '1::2::3', 'g::1', 'fe80::1%eth0', '12345::1']) {
      assert.equal(tryParseIPv6(bad), null, bad);
    }
  });
  it('formats any 16 bytes so they parse back, in RFC 5952 shape (property, seeded)', () => {
    let x = 0x1f2e3d4c;
    const next = (): number => {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      return x;
    };
    for (let n = 0; n < 20_000; n++) {
      const b = new Uint8Array(16);
      // Mostly-zero groups, so zero runs of every length and position occur.
      for (let g = 0; g < 8; g++)
        if (next() % 3 === 0) {
          b[2 * g] = next() & 0xff;
          b[2 * g + 1] = next() & 0xff;
        }
      const text = formatIPv6(b);
      assert.deepEqual(tryParseIPv6(text), b, text);
      assert.ok(text.split('::').length <= 2 && !/(^|:)0[0-9a-f]/.test(text) && text === text.toLowerCase(), text);
      // The '::' stands for the longest run of zero groups, if that run has two or more.
      let longest = 0;
      for (let g = 0, run = 0; g < 8; g++) {
        run = b[2 * g] === 0 && b[2 * g + 1] === 0 ? run + 1 : 0;
        longest = Math.max(longest, run);
      }
      const shown = text.split('::').reduce((k, half) => k + (half === '' ? 0 : half.split(':').length), 0);
      assert.equal(8 - shown, longest >= 2 ? longest : 0, text);
    }
  });
  it('normalizes either family into a canonical key', () => {
    assert.deepEqual(normalizeIp('2001:0DB8::0010')?.text, '2001:db8::10');
    assert.deepEqual(normalizeIp('198.51.100.7')?.family, 4);
    assert.equal(normalizeIp('nope'), null);
  });
  it('parses MACs with either separator', () => {
    assert.deepEqual(parseMac('02-00-00-00-00-0A'), Uint8Array.of(2, 0, 0, 0, 0, 10));
    assert.throws(() => parseMac('02:00:00:00:00'), CodecError);
    assert.equal(isGroupMac('33:33:ff:00:00:01'), true);
    assert.equal(isGroupMac('02:00:00:00:00:01'), false);
  });
});

describe('ethernet', { timeout: 60_000 }, () => {
  it('encodes and decodes the header field by field', () => {
    const want = bytes(
      [0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // destination: broadcast
      [0x02, 0x00, 0x00, 0x00, 0x00, 0x0a], // source
      [0x08, 0x06], //                         ethertype: ARP
      [0xde, 0xad], //                         payload
    );
    const b = encodeEthernet('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:0a', 0x0806, Uint8Array.of(0xde, 0xad));
    assert.deepEqual(b, want);
    const e = ok(decodeEthernet(b));
    assert.equal(e.dst, 'ff:ff:ff:ff:ff:ff');
    assert.equal(e.src, '02:00:00:00:00:0a');
    assert.equal(e.ethertype, 0x0806);
    assert.deepEqual(e.payload, Uint8Array.of(0xde, 0xad));
  });
  it('rejects a short header with a typed error', () => {
    const e = decodeEthernet(new Uint8Array(13));
    assert.ok(e instanceof CodecError);
    assert.equal(e.code, 'truncated');
  });
});

describe('arp', { timeout: 60_000 }, () => {
  const request: ArpPacket = {
    op: ARP_REQUEST,
    senderMac: '02:00:00:00:00:0c',
    senderIp: '198.51.100.2',
    targetMac: '00:00:00:00:00:00',
    targetIp: '198.51.100.10',
  };
  const requestBytes = bytes(
    [0x00, 0x01], //                         hardware type: Ethernet
    [0x08, 0x00], //                         protocol type: IPv4
    [0x06], //                               hardware address length
    [0x04], //                               protocol address length
    [0x00, 0x01], //                         operation: request
    [0x02, 0x00, 0x00, 0x00, 0x00, 0x0c], // sender hardware address
    [198, 51, 100, 2], //                    sender protocol address
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // target hardware address: unknown
    [198, 51, 100, 10], //                   target protocol address
  );

  it('encodes a request byte for byte and parses it back', () => {
    assert.deepEqual(encodeArp(request), requestBytes);
    assert.deepEqual(ok(decodeArp(requestBytes)), request);
  });
  it('decodes the kernel-built request and re-encodes it identically', () => {
    const f = ok(decodeArpFrame(kernelArpRequest));
    assert.deepEqual(f.arp, request);
    assert.deepEqual(encodeArpFrame(f.ethernet.dst, f.ethernet.src, f.arp), kernelArpRequest);
  });
  it('ignores Ethernet padding after the 28 bytes', () => {
    const padded = new Uint8Array(60);
    padded.set(kernelArpRequest);
    assert.deepEqual(ok(decodeArpFrame(padded)).arp, request);
  });
  it('builds the reply to a request', () => {
    const reply = arpReplyFrame(request, '02:00:00:00:00:0a');
    assert.deepEqual(
      reply,
      bytes(
        [0x02, 0x00, 0x00, 0x00, 0x00, 0x0c], // destination: the asker
        [0x02, 0x00, 0x00, 0x00, 0x00, 0x0a], // source: our MAC
        [0x08, 0x06], //                         ethertype: ARP
        [0x00, 0x01, 0x08, 0x00, 0x06, 0x04], // Ethernet/IPv4, 6/4
        [0x00, 0x02], //                         operation: reply
        [0x02, 0x00, 0x00, 0x00, 0x00, 0x0a], // sender: our MAC ...
        [198, 51, 100, 10], //                   ... is at the VIP
        [0x02, 0x00, 0x00, 0x00, 0x00, 0x0c], // target: the asker
        [198, 51, 100, 2],
      ),
    );
  });
  it('builds gratuitous request and reply, broadcast, sender = target = VIP', () => {
    const [req, rep] = gratuitousArpFrames('02:00:00:00:00:0a', '198.51.100.10');
    const q = ok(decodeArpFrame(req));
    const r = ok(decodeArpFrame(rep));
    assert.equal(q.ethernet.dst, 'ff:ff:ff:ff:ff:ff');
    assert.equal(r.ethernet.dst, 'ff:ff:ff:ff:ff:ff');
    assert.deepEqual(q.arp, { op: ARP_REQUEST, senderMac: '02:00:00:00:00:0a', senderIp: '198.51.100.10', targetMac: '00:00:00:00:00:00', targetIp: '198.51.100.10' });
    assert.deepEqual(r.arp, { op: ARP_REPLY, senderMac: '02:00:00:00:00:0a', senderIp: '198.51.100.10', targetMac: 'ff:ff:ff:ff:ff:ff', targetIp: '198.51.100.10' });
  });
  it('returns typed errors for malformed input', () => {
    const cases: [string, Uint8Array, string][] = [
      ['short', requestBytes.subarray(0, 27), 'truncated'],
      ['token ring', bytes([0x00, 0x06], requestBytes.subarray(2)), 'unsupportedArp'],
      ['IPv6 protocol', bytes([0x00, 0x01, 0x86, 0xdd], requestBytes.subarray(4)), 'unsupportedArp'],
      ['hlen 8', bytes(requestBytes.subarray(0, 4), [8], requestBytes.subarray(5)), 'unsupportedArp'],
    ];
    for (const [desc, b, code] of cases) {
      const e = decodeArp(b);
      assert.ok(e instanceof CodecError, desc);
      assert.equal(e.code, code, desc);
    }
    const notArp = decodeArpFrame(encodeEthernet('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:01', 0x0800, requestBytes));
    assert.ok(notArp instanceof CodecError && notArp.code === 'badEthertype');
    assert.throws(() => encodeArp({ ...request, senderIp: '198.51.100.300' }), CodecError);
  });
});

describe('ndp', { timeout: 60_000 }, () => {
  it('decodes the kernel NS field by field and re-encodes it identically', () => {
    const f = ok(decodeNdpFrame(kernelNs));
    assert.equal(f.ethernet.dst, '33:33:ff:00:00:10');
    assert.equal(f.ip.hopLimit, 255);
    assert.equal(f.ip.src, '2001:db8::2');
    assert.equal(f.ip.dst, 'ff02::1:ff00:10');
    assert.deepEqual(f.message, { type: 'ns', target: '2001:db8::10', options: [{ kind: 'source', mac: '02:00:00:00:00:0c' }] });
    assert.deepEqual(neighborSolicitationFrame('02:00:00:00:00:0c', '2001:db8::2', '2001:db8::10'), kernelNs);
  });
  it('keeps unknown options (the DAD nonce) and round-trips the DAD probe', () => {
    const f = ok(decodeNdpFrame(kernelDadNs));
    assert.equal(f.ip.src, '::');
    assert.deepEqual(f.message.options, [{ kind: 'raw', type: 14, data: hex('c8c1da99eee7') }]);
    assert.deepEqual(encodeNdpFrame(f.ethernet.dst, f.ethernet.src, f.ip.src, f.ip.dst, f.message), kernelDadNs);
  });
  it('computes the ICMPv6 checksum over the pseudo-header', () => {
    const ip = ok(decodeIpv6(kernelNs.subarray(14)));
    const m = Uint8Array.from(ip.payload);
    m[2] = 0;
    m[3] = 0;
    const src = tryParseIPv6(ip.src) ?? assert.fail();
    const dst = tryParseIPv6(ip.dst) ?? assert.fail();
    assert.equal(icmpv6Checksum(src, dst, m), 0x1bff); // what the kernel put on the wire
    assert.equal(icmpv6Checksum(src, dst, ip.payload), 0); // a valid message sums to zero
  });
  it('encodes a solicited NA byte for byte', () => {
    const ns = ok(decodeNdpFrame(kernelNs));
    const na = solicitedNaFrame(ns, '02:00:00:00:00:0a');
    const want = bytes(
      [0x02, 0x00, 0x00, 0x00, 0x00, 0x0c], // Ethernet destination: the SLLAO of the NS
      [0x02, 0x00, 0x00, 0x00, 0x00, 0x0a], // Ethernet source: our MAC
      [0x86, 0xdd], //                         ethertype: IPv6
      [0x60, 0x00, 0x00, 0x00], //             version 6, traffic class 0, flow label 0
      [0x00, 0x20], //                         payload length: 32
      [58], //                                 next header: ICMPv6
      [255], //                                hop limit: 255
      hex('20010db8000000000000000000000010'), // source: the VIP itself
      hex('20010db8000000000000000000000002'), // destination: the solicitor
      [136], //                                type: Neighbor Advertisement
      [0], //                                  code
      [0x8a, 0x4c], //                         checksum (the lab client's kernel accepts this frame)
      [0x60, 0x00, 0x00, 0x00], //             flags: Solicited | Override
      hex('20010db8000000000000000000000010'), // target
      [2, 1], //                               option: target link-layer address, 8 bytes
      [0x02, 0x00, 0x00, 0x00, 0x00, 0x0a], // our MAC
    );
    assert.deepEqual(Buffer.from(na).toString('hex'), Buffer.from(want).toString('hex'));
    const back = ok(decodeNdpFrame(na));
    assert.deepEqual(back.message, {
      type: 'na',
      router: false,
      solicited: true,
      override: true,
      target: '2001:db8::10',
      options: [{ kind: 'target', mac: '02:00:00:00:00:0a' }],
    });
  });
  it('answers a DAD probe to all-nodes with Solicited clear', () => {
    const ns = ok(decodeNdpFrame(neighborSolicitationFrame('02:00:00:00:00:0c', '::', '2001:db8::10')));
    const na = ok(decodeNdpFrame(solicitedNaFrame(ns, '02:00:00:00:00:0a')));
    assert.equal(na.ethernet.dst, '33:33:00:00:00:01');
    assert.equal(na.ip.dst, 'ff02::1');
    assert.equal(na.message.type === 'na' && na.message.solicited, false);
  });
  it('answers a unicast NUD probe without SLLAO to the Ethernet source', () => {
    const probe = neighborSolicitationFrame('02:00:00:00:00:0c', '2001:db8::2', '2001:db8::10', {
      unicastTo: { mac: '02:00:00:00:00:0a', ip: '2001:db8::10' },
    });
    const ns: NdpFrame = ok(decodeNdpFrame(probe));
    const stripped: NdpFrame = { ...ns, message: { ...ns.message, options: [] } };
    const na = ok(decodeNdpFrame(solicitedNaFrame(stripped, '02:00:00:00:00:0a')));
    assert.equal(na.ethernet.dst, '02:00:00:00:00:0c');
    assert.equal(na.ip.dst, '2001:db8::2');
  });
  it('builds an unsolicited NA: all-nodes, Override set, Solicited clear, TLLAO', () => {
    const f = ok(decodeNdpFrame(unsolicitedNaFrame('02:00:00:00:00:0a', 'fe80::a', '2001:db8::10')));
    assert.equal(f.ethernet.dst, '33:33:00:00:00:01');
    assert.equal(f.ip.src, 'fe80::a');
    assert.equal(f.ip.dst, 'ff02::1');
    assert.equal(f.ip.hopLimit, 255);
    assert.deepEqual(f.message, {
      type: 'na',
      router: false,
      solicited: false,
      override: true,
      target: '2001:db8::10',
      options: [{ kind: 'target', mac: '02:00:00:00:00:0a' }],
    });
  });
  it('derives solicited-node groups and their MACs', () => {
    assert.equal(solicitedNodeMulticast('2001:db8::1:2345:6789'), 'ff02::1:ff45:6789');
    assert.equal(ipv6MulticastMac('ff02::1:ff45:6789'), '33:33:ff:45:67:89');
    assert.equal(ipv6MulticastMac('ff02::1'), '33:33:00:00:00:01');
  });
  it('returns typed errors for malformed input', () => {
    const ns = Uint8Array.from(kernelNs);
    const corrupt = (mutate: (b: Uint8Array) => void): Uint8Array => {
      const b = Uint8Array.from(ns);
      mutate(b);
      return b;
    };
    const cases: [string, Uint8Array, string][] = [
      ['short IPv6 header', ns.subarray(0, 14 + 39), 'truncated'],
      [
        'IPv4 version',
        corrupt((b) => {
          b[14] = 0x40;
        }),
        'badIpVersion',
      ],
      [
        'payload length past the end',
        corrupt((b) => {
          b[14 + 5] = 0x40;
        }),
        'badPayloadLength',
      ],
      [
        'UDP',
        corrupt((b) => {
          b[14 + 6] = 17;
        }),
        'notIcmpv6',
      ],
      [
        'echo request',
        corrupt((b) => {
          b[54] = 128;
        }),
        'unknownNdpType',
      ],
      [
        'flipped bit',
        corrupt((b) => {
          b[54 + 8] = (b[54 + 8] ?? 0) ^ 1;
        }),
        'badChecksum',
      ],
      [
        'zero-length option',
        resum(
          corrupt((b) => {
            b[54 + 25] = 0;
          }),
        ),
        'badOption',
      ],
      [
        'option overruns',
        resum(
          corrupt((b) => {
            b[54 + 25] = 2;
          }),
        ),
        'badOption',
      ],
      [
        'code 1',
        resum(
          corrupt((b) => {
            b[55] = 1;
          }),
        ),
        'badIcmpCode',
      ],
      ['NS cut to 20 bytes', truncateNdp(ns, 20), 'truncated'],
    ];
    for (const [desc, b, code] of cases) {
      const e = decodeNdpFrame(b);
      assert.ok(e instanceof CodecError, desc);
      assert.equal(e.code, code, desc);
    }
  });
  it('round-trips NS and NA messages through encodeNdp/decodeNdp', () => {
    const msgs: NdpMessage[] = [
      { type: 'ns', target: 'fe80::1', options: [] },
      {
        type: 'na',
        router: true,
        solicited: false,
        override: false,
        target: '2001:db8::ffff',
        options: [
          { kind: 'target', mac: '02:00:00:00:00:01' },
          { kind: 'raw', type: 200, data: new Uint8Array(14) },
        ],
      },
    ];
    for (const msg of msgs) {
      const icmp = encodeNdp(msg, 'fe80::1', 'ff02::1');
      const ip = { trafficClass: 0, flowLabel: 0, nextHeader: 58, hopLimit: 255, src: 'fe80::1', dst: 'ff02::1', payload: icmp };
      assert.deepEqual(ok(decodeNdp(ip)), msg);
    }
  });
});

/** Recomputes the ICMPv6 checksum of an Ethernet+IPv6+ICMPv6 frame after a mutation. */
function resum(frame: Uint8Array): Uint8Array {
  const ip = decodeIpv6(frame.subarray(14));
  if (ip instanceof CodecError) throw ip;
  const m = frame.subarray(54, 54 + ip.payload.length);
  m[2] = 0;
  m[3] = 0;
  const sum = icmpv6Checksum(tryParseIPv6(ip.src) ?? new Uint8Array(16), tryParseIPv6(ip.dst) ?? new Uint8Array(16), m);
  m[2] = sum >> 8;
  m[3] = sum & 0xff;
  return frame;
}

/** Cuts the ICMPv6 message to `len` bytes, fixing the IPv6 payload length. */
function truncateNdp(frame: Uint8Array, len: number): Uint8Array {
  const b = Uint8Array.from(frame.subarray(0, 54 + len));
  b[18] = len >> 8;
  b[19] = len & 0xff;
  return b;
}
