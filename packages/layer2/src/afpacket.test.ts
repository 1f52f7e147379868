// Real-socket smoke tests of the addon on the loopback device: no namespaces needed, and lo is
// IFF_NOARP so the kernel ignores the ARP frames we put on it. Skipped without CAP_NET_RAW or
// without a built addon (the lab test covers veth pairs between namespaces).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadPacketBinding, openPacketPort, packetBindingAvailable } from './afpacket.js';
import { arpRequestFrame } from './arp.js';
import { watchLinksNetlink } from './linkwatch.js';
import type { LinkEvent } from './linkwatch.js';
import { neighborSolicitationFrame } from './ndp.js';
import type { FrameMeta } from './port.js';

const built = packetBindingAvailable();
const privileged = process.getuid?.() === 0;
const loIndex = Number(readFileSync('/sys/class/net/lo/ifindex', 'utf8'));

describe('AF_PACKET addon', { timeout: 60_000, skip: !built ? 'addon not built (scripts/build-native.mjs)' : false }, () => {
  it('validates its arguments with TypeErrors', () => {
    const b = loadPacketBinding();
    const noop = (): void => {};
    // Close whatever a regression lets through, or its poll handle would keep the test alive.
    const mustThrow = (open: () => { close(): void }): void => assert.throws(() => open().close(), TypeError);
    mustThrow(() => {
      const h = b.open(0, 0x0806, 0, noop, noop, 0);
      return { close: () => b.close(h) };
    });
    mustThrow(() => {
      const h = b.open(1, 0x10000, 0, noop, noop, 0);
      return { close: () => b.close(h) };
    });
    mustThrow(() => {
      const h = b.open(1, 0x0806, 3 as 0, noop, noop, 0);
      return { close: () => b.close(h) };
    });
    mustThrow(() => {
      const h = b.open(1, 0x0806, 0, noop, noop, -1);
      return { close: () => b.close(h) };
    });
    mustThrow(() => {
      const h = b.open(1, 0x0806, 0, 'x' as unknown as () => void, noop, 0);
      return { close: () => b.close(h) };
    });
    mustThrow(() => openPacketPort(1.5, 'arp'));
  });

  it('reports a missing interface with an errno code', { skip: !privileged && 'needs root' }, () => {
    assert.throws(
      () => openPacketPort(0x7ffffff0, 'arp'),
      (err: Error & { code?: string }) => err.code === 'ENODEV',
    );
  });

  it('sends and receives ARP frames on lo, copying each frame', { skip: !privileged && 'needs root' }, async () => {
    const tx = openPacketPort(loIndex, 'arp', { ref: false });
    const rx = openPacketPort(loIndex, 'arp');
    try {
      const frame = arpRequestFrame('02:00:00:00:00:01', '198.51.100.1', `198.51.100.${100 + (process.pid % 100)}`);
      const got = new Promise<Uint8Array>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no frame within 2 s')), 2000);
        rx.onFrame((f) => {
          // Other ARP traffic on lo is possible but unlikely; match ours exactly.
          if (Buffer.from(f).equals(Buffer.from(frame))) {
            clearTimeout(t);
            resolve(f);
          }
        });
      });
      tx.send(frame);
      const f = await got;
      assert.ok(Buffer.from(f).equals(Buffer.from(frame)));
      rx.addMembership('33:33:ff:00:00:01');
      rx.dropMembership('33:33:ff:00:00:01');
    } finally {
      tx.close();
      rx.close();
      rx.close(); // idempotent
    }
    assert.throws(() => tx.send(new Uint8Array(60)), /send/);
  });

  it('kernel filters: only Ethernet/IPv4 ARP reaches the ARP socket, frames come in batches with meta', { skip: !privileged && 'needs root' }, async () => {
    const tx = openPacketPort(loIndex, 'arp', { ref: false });
    const rx = openPacketPort(loIndex, 'arp');
    try {
      const tag = 100 + (process.pid % 100);
      const good = arpRequestFrame('02:00:00:00:00:01', '198.51.100.1', `198.51.100.${tag}`);
      const v6ptype = Uint8Array.from(good);
      v6ptype[16] = 0x86;
      v6ptype[17] = 0xdd;
      const rarp = Uint8Array.from(good);
      rarp[21] = 3;
      const got: { frame: string; meta: FrameMeta }[] = [];
      let batches = 0;
      rx.onFrame((f, meta) => got.push({ frame: Buffer.from(f).toString('hex'), meta }));
      rx.onBatchEnd?.(() => {
        batches++;
      });
      assert.equal(tx.sendMany?.([v6ptype, rarp, good, good]), 4);
      const deadline = Date.now() + 2000;
      while (got.filter((g) => g.frame === Buffer.from(good).toString('hex')).length < 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const ours = got.filter((g) => g.frame.endsWith(Buffer.from(good.subarray(38)).toString('hex')) || g.frame.includes('86dd'));
      assert.deepEqual(
        ours.map((g) => g.frame),
        [Buffer.from(good).toString('hex'), Buffer.from(good).toString('hex')],
        'ptype 0x86dd and RARP never reach user space',
      );
      assert.equal(ours[0]?.meta.vlanTagged, false);
      assert.equal(ours[0]?.meta.truncated, false);
      assert.ok(batches >= 1);
      const st = rx.socketStats?.();
      assert.equal(st?.drops, 0);
      assert.ok((st?.rcvbuf ?? 0) >= 4 << 20, `granted ${String(st?.rcvbuf)} bytes`);
    } finally {
      tx.close();
      rx.close();
    }
  });

  it('kernel filters: the NDP socket gets NS and NA, nothing else', { skip: !privileged && 'needs root' }, async () => {
    const tx = openPacketPort(loIndex, 'arp', { ref: false });
    const rx = openPacketPort(loIndex, 'ndp');
    try {
      const target = `2001:db8::${(process.pid % 0xfff).toString(16)}`;
      const ns = neighborSolicitationFrame('02:00:00:00:00:01', '2001:db8::1', target);
      const udp = Uint8Array.from(ns);
      udp[20] = 17;
      const echo = Uint8Array.from(ns);
      echo[54] = 128;
      const seen: string[] = [];
      rx.onFrame((f) => seen.push(Buffer.from(f).toString('hex')));
      tx.send(udp);
      tx.send(echo);
      tx.send(ns);
      const want = Buffer.from(ns).toString('hex');
      const deadline = Date.now() + 2000;
      while (!seen.includes(want) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(seen.includes(want));
      assert.ok(!seen.includes(Buffer.from(udp).toString('hex')) && !seen.includes(Buffer.from(echo).toString('hex')));
    } finally {
      tx.close();
      rx.close();
    }
  });

  it('the link watch reports existing links first (lo is up and running)', async () => {
    const events: LinkEvent[] = [];
    const w = watchLinksNetlink(
      (ev) => events.push(ev),
      (err) => assert.fail(err),
    );
    try {
      const deadline = Date.now() + 2000;
      while (!events.some((e) => e.kind === 'link' && e.name === 'lo') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const lo = events.find((e) => e.kind === 'link' && e.name === 'lo');
      assert.deepEqual(lo, { kind: 'link', ifindex: loIndex, name: 'lo', up: true, running: true, deleted: false });
    } finally {
      w.close();
      w.close();
    }
  });
});
