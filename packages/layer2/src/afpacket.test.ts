// Real-socket smoke tests of the addon on the loopback device: no namespaces needed, and lo is
// IFF_NOARP so the kernel ignores the ARP frames we put on it. Skipped without CAP_NET_RAW or
// without a built addon (the lab test covers veth pairs between namespaces).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadPacketBinding, openPacketPort, packetBindingAvailable } from './afpacket.js';
import { arpRequestFrame } from './arp.js';

const built = packetBindingAvailable();
const privileged = process.getuid?.() === 0;
const loIndex = Number(readFileSync('/sys/class/net/lo/ifindex', 'utf8'));

describe('AF_PACKET addon', { skip: !built ? 'addon not built (scripts/build-native.mjs)' : false }, () => {
  it('validates its arguments with TypeErrors', () => {
    const b = loadPacketBinding();
    const noop = (): void => {};
    // Close whatever a regression lets through, or its poll handle would keep the test alive.
    const mustThrow = (open: () => { close(): void }): void =>
      assert.throws(() => open().close(), TypeError);
    mustThrow(() => { const h = b.open(0, 0x0806, 0, noop, noop); return { close: () => b.close(h) }; });
    mustThrow(() => { const h = b.open(1, 0x10000, 0, noop, noop); return { close: () => b.close(h) }; });
    mustThrow(() => { const h = b.open(1, 0x0806, 2 as 0, noop, noop); return { close: () => b.close(h) }; });
    mustThrow(() => openPacketPort(1.5, 'arp'));
  });

  it('reports a missing interface with an errno code', { skip: !privileged && 'needs root' }, () => {
    assert.throws(() => openPacketPort(0x7ffffff0, 'arp'), (err: Error & { code?: string }) => err.code === 'ENODEV');
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
});
