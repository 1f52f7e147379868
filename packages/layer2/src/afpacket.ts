// The thin edge: PacketPort over the AF_PACKET addon in native/packet.c (see README for why we
// own a few hundred lines of C instead of depending on libpcap).
import { createRequire } from 'node:module';
import { parseMac } from './addr.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV6 } from './ethernet.js';
import { PACKET_OTHERHOST } from './port.js';
import type { FrameHandler, FrameMeta, PacketPort, PortKind, PortSocketStats } from './port.js';

/** Opaque socket handle owned by the addon. */
type NativeHandle = { readonly __brand: 'ironlb_packet' };

/** One link as the kernel reported it over rtnetlink. */
export interface NativeLinkEvent {
  /** Kernel ifindex. */
  readonly ifindex: number;
  /** ifi_flags: IFF_UP, IFF_RUNNING, IFF_LOWER_UP, ... */
  readonly flags: number;
  /** Interface name ('' if the message carried none). */
  readonly name: string;
  /** RTM_DELLINK: the link is gone. */
  readonly deleted: boolean;
}

/** The addon's exports (native/packet.c documents each). */
export interface NativeBinding {
  open(ifindex: number, ethertype: number, filter: 0 | 1 | 2, onBatch: (data: Buffer, meta: Uint32Array, count: number) => void, onError: (err: Error) => void, rcvbuf: number): NativeHandle;
  send(h: NativeHandle, frame: Uint8Array): number;
  sendBatch(h: NativeHandle, buf: Uint8Array, meta: Uint32Array, count: number): number;
  addMembership(h: NativeHandle, mac: Buffer): void;
  dropMembership(h: NativeHandle, mac: Buffer): void;
  stats(h: NativeHandle): { packets: number; drops: number; rcvbuf: number };
  close(h: NativeHandle): void;
  ref(h: NativeHandle, keep: boolean): void;
  linkMonitor(onEvents: (events: NativeLinkEvent[], overflow: boolean) => void, onError: (err: Error) => void): NativeHandle;
}

/** Path of the built addon relative to this file (src/ and dist/ are both one level down). */
const ADDON_PATH = '../build/ironlb_packet.node';

/** Kernel filter numbers of native/packet.c. */
const FILTER_ARP = 1;
const FILTER_NDP = 2;
/** Most frames the addon sends per sendmmsg (its BATCH). */
const SEND_BATCH = 64;
/** Bits of the per-frame info word (native/packet.c INFO_*). */
const INFO_VLAN = 1 << 8;
const INFO_TRUNC = 1 << 9;

/** Default SO_RCVBUF: about 4 MiB holds several thousand small frames, ~0.1 s of a 50k/s flood. */
export const DEFAULT_RCVBUF_BYTES = 4 << 20;

let binding: NativeBinding | null = null;

/**
 * Where the addon may be, relative to this module: `../build/` in the workspace (src/ and dist/
 * are both one level down), or next to the file when this module is bundled into one file
 * (the image ships `speaker/main.mjs` beside `speaker/ironlb_packet.node`).
 * IRONLB_PACKET_ADDON overrides both.
 */
const ADDON_CANDIDATES = [ADDON_PATH, './ironlb_packet.node'] as const;

/** Loads the addon once; throws one clear error if it was not built. */
export function loadPacketBinding(): NativeBinding {
  if (binding) return binding;
  const require = createRequire(import.meta.url);
  const override = process.env['IRONLB_PACKET_ADDON'];
  const candidates = override !== undefined && override !== '' ? [override] : ADDON_CANDIDATES;
  let first: unknown;
  for (const path of candidates) {
    try {
      binding = require(path) as NativeBinding;
      return binding;
    } catch (err) {
      first ??= err;
      // Only "not found" moves on to the next place; a broken addon is reported as such.
      if ((err as { code?: string }).code !== 'MODULE_NOT_FOUND') break;
    }
  }
  throw new Error(`layer2: cannot load the AF_PACKET addon (${candidates.join(' or ')}); build it with ` + '`node packages/layer2/scripts/build-native.mjs`', { cause: first });
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
  /** Called on asynchronous socket errors (e.g. ENETDOWN: the interface went down). */
  readonly onError?: (err: Error) => void;
  /** SO_RCVBUF in bytes; default DEFAULT_RCVBUF_BYTES, 0 keeps the kernel default. */
  readonly rcvbufBytes?: number;
}

// Shared meta objects for the common untagged cases, so a batch allocates nothing per frame.
const PLAIN_META: readonly FrameMeta[] = Array.from({ length: 8 }, (_, pkttype) => Object.freeze({ pkttype, vlanTagged: false, truncated: false }));

function metaOf(info: number): FrameMeta {
  const pkttype = info & 0xff;
  if ((info & (INFO_VLAN | INFO_TRUNC)) === 0) return PLAIN_META[pkttype] ?? { pkttype, vlanTagged: false, truncated: false };
  return { pkttype, vlanTagged: (info & INFO_VLAN) !== 0, truncated: (info & INFO_TRUNC) !== 0 };
}

/**
 * Opens an AF_PACKET socket on `ifindex`. Kind 'arp' receives Ethernet/IPv4 ARP requests and
 * replies; 'ndp' receives ICMPv6 Neighbor Solicitations and Advertisements. Fixed in-kernel
 * filters keep everything else (other IPv6 traffic, RARP, ARP for other protocols) out of JS.
 * Frames arrive in batches; onBatchEnd runs after each. Needs CAP_NET_RAW. Frames we send are
 * not delivered back. A socket whose link goes down reports ENETDOWN through onError and keeps
 * working once the link is up again.
 */
export function openPacketPort(ifindex: number, kind: PortKind, opts: OpenPortOptions = {}): PacketPort {
  const b = loadPacketBinding();
  let handler: FrameHandler | null = null;
  let batchEnd: (() => void) | null = null;
  let closed = false;
  let onError = opts.onError ?? ((): void => {});
  const h = b.open(
    ifindex,
    kind === 'arp' ? ETHERTYPE_ARP : ETHERTYPE_IPV6,
    kind === 'arp' ? FILTER_ARP : FILTER_NDP,
    (data, meta, count) => {
      for (let i = 0; i < count && handler !== null; i++) {
        const off = meta[3 * i] ?? 0;
        const len = meta[3 * i + 1] ?? 0;
        // A view into this batch's own buffer: the addon allocates a fresh one per batch, so
        // the frame stays valid for as long as the handler keeps it.
        handler(data.subarray(off, off + len), metaOf(meta[3 * i + 2] ?? PACKET_OTHERHOST));
      }
      batchEnd?.();
    },
    (err) => onError(err),
    opts.rcvbufBytes ?? DEFAULT_RCVBUF_BYTES,
  );
  if (opts.ref === false) b.ref(h, false);
  // Reused between sendMany calls: one allocation per port, not per batch.
  let sendBuf = new Uint8Array(SEND_BATCH * 128);
  const sendMeta = new Uint32Array(SEND_BATCH * 2);
  return {
    send(frame: Uint8Array): void {
      b.send(h, frame);
    },
    sendMany(frames: readonly Uint8Array[]): number {
      let sent = 0;
      for (let start = 0; start < frames.length; start += SEND_BATCH) {
        const chunk = frames.slice(start, start + SEND_BATCH);
        const bytes = chunk.reduce((n, f) => n + f.length, 0);
        if (bytes > sendBuf.length) sendBuf = new Uint8Array(bytes);
        let off = 0;
        chunk.forEach((f, i) => {
          sendBuf.set(f, off);
          sendMeta[2 * i] = off;
          sendMeta[2 * i + 1] = f.length;
          off += f.length;
        });
        let n: number;
        try {
          n = b.sendBatch(h, sendBuf, sendMeta, chunk.length);
        } catch (err) {
          if (sent === 0) throw err;
          return sent;
        }
        sent += n;
        if (n < chunk.length) return sent;
      }
      return sent;
    },
    onFrame(cb: FrameHandler): void {
      handler = cb;
    },
    onBatchEnd(cb: () => void): void {
      batchEnd = cb;
    },
    onError(cb: (err: Error) => void): void {
      onError = cb;
    },
    addMembership(mac: string): void {
      b.addMembership(h, Buffer.from(parseMac(mac)));
    },
    dropMembership(mac: string): void {
      b.dropMembership(h, Buffer.from(parseMac(mac)));
    },
    socketStats(): PortSocketStats {
      const s = b.stats(h);
      return { drops: s.drops, rcvbuf: s.rcvbuf };
    },
    close(): void {
      if (closed) return;
      closed = true;
      handler = null;
      batchEnd = null;
      b.close(h);
    },
  };
}
