// The thin edge: PacketPort over the AF_PACKET addon in native/packet.c (see README for why we
// own ~350 lines of C instead of depending on libpcap).
import { createRequire } from 'node:module';
import { parseMac } from './addr.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV6 } from './ethernet.js';
import type { FrameHandler, PacketPort, PortKind } from './port.js';

/** Opaque socket handle owned by the addon. */
type NativeHandle = { readonly __brand: 'ironlb_packet' };

interface NativeBinding {
  open(
    ifindex: number,
    ethertype: number,
    filter: 0 | 1,
    onFrame: (frame: Buffer, pkttype: number) => void,
    onError: (err: Error) => void,
  ): NativeHandle;
  send(h: NativeHandle, frame: Uint8Array): number;
  addMembership(h: NativeHandle, mac: Buffer): void;
  dropMembership(h: NativeHandle, mac: Buffer): void;
  close(h: NativeHandle): void;
  ref(h: NativeHandle, keep: boolean): void;
}

/** Path of the built addon relative to this file (src/ and dist/ are both one level down). */
const ADDON_PATH = '../build/ironlb_packet.node';

let binding: NativeBinding | null = null;

/** Loads the addon once; throws one clear error if it was not built. */
export function loadPacketBinding(): NativeBinding {
  if (binding) return binding;
  const require = createRequire(import.meta.url);
  try {
    binding = require(ADDON_PATH) as NativeBinding;
  } catch (err) {
    throw new Error(
      `layer2: cannot load the AF_PACKET addon (${ADDON_PATH}); build it with ` +
        '`node packages/layer2/scripts/build-native.mjs`',
      { cause: err },
    );
  }
  return binding;
}

/** True when the addon can be loaded (tests skip real-socket cases otherwise). */
export function packetBindingAvailable(): boolean {
  try {
    loadPacketBinding();
    return true;
  } catch {
    return false;
  }
}

/** Options for openPacketPort. */
export interface OpenPortOptions {
  /** Whether the socket keeps the Node event loop alive (default true, like a net.Server). */
  readonly ref?: boolean;
  /** Called on asynchronous socket errors (e.g. the interface disappeared). */
  readonly onError?: (err: Error) => void;
}

/**
 * Opens an AF_PACKET socket on `ifindex`: kind 'arp' receives ARP frames, 'ndp' receives only
 * ICMPv6 Neighbor Solicitations (a fixed in-kernel filter, so other IPv6 traffic never reaches
 * JS). Needs CAP_NET_RAW. Frames we send are not delivered back.
 */
export function openPacketPort(ifindex: number, kind: PortKind, opts: OpenPortOptions = {}): PacketPort {
  const b = loadPacketBinding();
  let handler: FrameHandler | null = null;
  let closed = false;
  const onError = opts.onError ?? ((): void => {});
  const h = b.open(
    ifindex,
    kind === 'arp' ? ETHERTYPE_ARP : ETHERTYPE_IPV6,
    kind === 'arp' ? 0 : 1,
    (frame) => handler?.(frame),
    onError,
  );
  if (opts.ref === false) b.ref(h, false);
  return {
    send(frame: Uint8Array): void {
      b.send(h, frame);
    },
    onFrame(cb: FrameHandler): void {
      handler = cb;
    },
    addMembership(mac: string): void {
      b.addMembership(h, Buffer.from(parseMac(mac)));
    },
    dropMembership(mac: string): void {
      b.dropMembership(h, Buffer.from(parseMac(mac)));
    },
    close(): void {
      if (closed) return;
      closed = true;
      handler = null;
      b.close(h);
    },
  };
}
