// The stateful part of layer2: which IPs this node announces (refcounted per owner), one
// responder per eligible interface and family, gratuitous bursts and refreshes, memberships of
// solicited-node groups, recovery from socket errors and link flaps, conflict reports, defence
// and probing. I/O is injected (openPort, listInterfaces, watchLinks), so unit tests run it
// entirely in memory; decisions per frame are the pure functions in responder.ts and conflict.ts.
import { type Family, type IPText, type MacText, parseIPAddress, parseMacText } from '@ironlb/core';
import { gratuitousArpFrames } from './arp.js';
import { ClaimLimiter, DefenceGate, arpProbeFrame, classifyArpClaim, classifyNdpClaim, dadProbeFrame, isProbeKind } from './conflict.js';
import type { Claim, ClaimKind, WireClaim } from './conflict.js';
import { CodecError } from './errors.js';
import { nameSkip, readLinks, selectInterfaces } from './interfaces.js';
import type { EligibleInterface, Selection, SelectOptions } from './interfaces.js';
import { watchLinksNetlink } from './linkwatch.js';
import type { LinkEvent, LinkWatch, WatchLinks } from './linkwatch.js';
import { ipv6MulticastMac, solicitedNodeMulticast, unsolicitedNaFrame } from './ndp.js';
import { DEFAULT_RCVBUF_BYTES, openPacketPort } from './afpacket.js';
import type { FrameMeta, PacketPort, PortKind } from './port.js';
import { DROP_REASONS, decideArp, decideNdp } from './responder.js';
import type { AnnounceLookup, AnnounceVerdict, DropReason } from './responder.js';

/** The subset of pino's logger the announcer uses; pass `pino().child({ component: 'layer2' })`. */
export interface Logger {
  /** Debug-level structured log. */
  debug(obj: object, msg?: string): void;
  /** Info-level structured log. */
  info(obj: object, msg?: string): void;
  /** Warn-level structured log. */
  warn(obj: object, msg?: string): void;
}

/**
 * A counter increment, for feeding prom-client. Delivered synchronously: keep it cheap. `n`
 * (default 1) is how many: frames of one receive batch are reported together.
 */
export type CountEvent =
  | { readonly kind: 'received' | 'reply' | 'gratuitous'; readonly family: 4 | 6; readonly iface: string; readonly n?: number }
  | { readonly kind: 'drop'; readonly family: 4 | 6; readonly iface: string; readonly reason: DropReason; readonly n?: number }
  | { readonly kind: 'portError'; readonly family: 4 | 6; readonly iface: string };

/**
 * Counter snapshot. requestsReceived = repliesSent + sum(drops) at all times: frames the kernel
 * dropped because a socket's buffer was full count as received and as drops.socket.
 */
export interface AnnouncerStats {
  /** Frames that reached a responder socket (ARP frames, IPv6 Neighbor Solicitations/Advertisements). */
  requestsReceived: number;
  /** ARP replies and solicited NAs sent. */
  repliesSent: number;
  /** Gratuitous ARP / unsolicited NA frames sent (bursts, refreshes, link-up, reassert). */
  gratuitousSent: number;
  /** Gratuitous sends the socket refused. */
  gratuitousErrors: number;
  /** Failures to open a socket or change a multicast membership, and asynchronous socket errors. */
  portErrors: number;
  /** Sockets reopened after an error. */
  portReopens: number;
  /** Claims by another MAC on an announced IP seen on the wire (before rate limiting). */
  claimsSeen: number;
  /** Claims handed to onClaim. */
  claimsDelivered: number;
  /** Claims not handed on: rate limit per ip+mac, or the delivery queue was full. */
  claimsSuppressed: number;
  /** reassert() calls that sent a defence. */
  defencesSent: number;
  /** reassert() calls refused by the defence interval. */
  defencesSuppressed: number;
  /** ARP probes / DAD probes sent by probe(). */
  probesSent: number;
  /** probe() calls that found a conflict. */
  probeConflicts: number;
  /** Dropped frames by reason. */
  drops: Record<DropReason, number>;
}

/** State of one responder (one socket on one interface for one family). */
export interface ResponderHealth {
  /** "arp/eth0" or "ndp/eth0". */
  readonly name: string;
  /** Interface name. */
  readonly iface: string;
  /** Which socket. */
  readonly kind: PortKind;
  /** ok: socket open; errored: the socket failed and a reopen is pending (with backoff). */
  readonly state: 'ok' | 'errored';
  /** Asynchronous errors its sockets reported, plus failed reopen attempts. */
  readonly errors: number;
  /** Successful reopens. */
  readonly reopens: number;
  /** The most recent error text, or null. */
  readonly lastError: string | null;
  /** Frames the kernel dropped on its sockets (full receive buffer). */
  readonly socketDrops: number;
  /** Receive buffer the kernel granted the current socket, bytes (0 when unknown or errored). */
  readonly rcvbuf: number;
  /** Whether the kernel reports its link operationally up (null before the first link event). */
  readonly linkUp: boolean | null;
}

/** Health of all responders: `errored` > 0 means some interface is not being answered right now. */
export interface AnnouncerHealth {
  /** Per responder, sorted by name. */
  readonly responders: readonly ResponderHealth[];
  /** Responders whose socket is down, waiting for a reopen. */
  readonly errored: number;
  /** Sum of errors over responders that exist now. */
  readonly errors: number;
  /** Sum of reopens over responders that exist now. */
  readonly reopens: number;
}

/** Options for probe(); defaults come from AnnouncerOptions. */
export interface ProbeOptions {
  /** Probe only on these interfaces (as announce's `interfaces`); default every eligible one. */
  readonly interfaces?: readonly string[];
  /** Number of probes per interface. */
  readonly count?: number;
  /** Gap between probes, ms. */
  readonly intervalMs?: number;
  /** How long to keep listening after the last probe, ms. */
  readonly waitMs?: number;
}

/** What probe() found. */
export interface ProbeResult {
  /** The first other MAC that answered for, announced or probed the IP; null if none did. */
  readonly conflict: null | { readonly mac: MacText; readonly iface: string };
  /** Probe frames actually sent (0 means nothing could be checked: no interface or every send failed). */
  readonly probesSent: number;
  /** Interfaces probed on, sorted. */
  readonly interfaces: readonly string[];
}

/** Outcome of reassert(). */
export type ReassertResult = 'sent' | 'rateLimited' | 'notAnnounced';

/** Announcer configuration; every field has a default. */
export interface AnnouncerOptions {
  /** Lists and selects interfaces; default reads /sys and /proc and applies `select`. */
  readonly listInterfaces?: () => Selection;
  /** Exclude/allow options for the default listInterfaces (and for which link events matter). */
  readonly select?: SelectOptions;
  /** Opens a port on an interface; default the AF_PACKET addon. */
  readonly openPort?: (iface: EligibleInterface, kind: PortKind) => PacketPort;
  /**
   * Link state notifications; default the netlink watch when openPort is the default, none
   * otherwise (unit tests inject a fake). null disables.
   */
  readonly watchLinks?: WatchLinks | null;
  /** Gap between gratuitous rounds of a burst; default 1100 ms (MetalLB #172). */
  readonly burstIntervalMs?: number;
  /** A burst sends rounds at 0, interval, 2·interval, ... while below this; default 5000 ms. */
  readonly burstDurationMs?: number;
  /** Gratuitous refresh period after the burst while announced; default 30000 ms, 0 disables. */
  readonly refreshIntervalMs?: number;
  /** Interface rescan period; default 10000 ms, 0 disables (call rescan() yourself). */
  readonly rescanIntervalMs?: number;
  /** First delay before reopening a socket that reported an error; default 100 ms, doubling per failure. */
  readonly reopenInitialMs?: number;
  /** Cap of the reopen delay; default 2000 ms. A link-up notification reopens at once. */
  readonly reopenMaxMs?: number;
  /** SO_RCVBUF for the default openPort; default 4 MiB. */
  readonly rcvbufBytes?: number;
  /** How often kernel socket drop counters are read into stats and onCount; default 1000 ms. */
  readonly socketStatsIntervalMs?: number;
  /**
   * Called (asynchronously, never from the receive path) when another MAC claims an announced
   * IP on an interface it is announced on; at most once per ip+mac per claimIntervalMs.
   */
  readonly onClaim?: (claim: Claim) => void;
  /** Minimum gap between two onClaim calls for the same ip+mac; default 1000 ms. */
  readonly claimIntervalMs?: number;
  /** Minimum gap between two defences of one IP by reassert(); default 10000 ms (RFC 5227 DEFEND_INTERVAL). */
  readonly defendIntervalMs?: number;
  /** probe(): probes per interface; default 3 (RFC 5227 PROBE_NUM). */
  readonly probeCount?: number;
  /** probe(): gap between probes; default 150 ms (RFC 5227: 1–2 s; see README). */
  readonly probeIntervalMs?: number;
  /** probe(): listening time after the last probe; default 200 ms (RFC 5227 ANNOUNCE_WAIT: 2 s). */
  readonly probeWaitMs?: number;
  /** Monotonic clock in ms for rate limits; default performance.now. */
  readonly now?: () => number;
  /** Structured logger; default silent. */
  readonly logger?: Logger;
  /** Counter callback; exceptions it throws are swallowed so metrics cannot break replies. */
  readonly onCount?: (ev: CountEvent) => void;
}

/** Per-IP state. */
interface Announced {
  readonly family: Family;
  /** owner → interfaces it allows (null = all). */
  readonly owners: Map<string, readonly string[] | null>;
  timer: NodeJS.Timeout | null;
}

/** What one receive batch produced, flushed at the batch end. */
interface Batch {
  received: number;
  readonly replies: Uint8Array[];
  readonly drops: Map<DropReason, number>;
}

/** One responder: a socket (or a pending reopen) on one interface for one family. */
interface Responder {
  readonly key: string;
  readonly iface: EligibleInterface;
  readonly kind: PortKind;
  readonly family: 4 | 6;
  /** The open socket; null while errored. */
  port: PacketPort | null;
  /** Whether the port reports batch ends (replies are then sent with one sendMany per batch). */
  batched: boolean;
  /** Joined solicited-node multicast MACs (NDP only); cleared with the socket. */
  readonly groups: Set<string>;
  readonly batch: Batch;
  errors: number;
  reopens: number;
  lastError: string | null;
  /** When the last error was reported (now() ms), or null. */
  lastErrorAt: number | null;
  backoffMs: number;
  reopenTimer: NodeJS.Timeout | null;
  /** The socket was opened while the kernel reported the link down: replace it when the link is up. */
  openedWhileDown: boolean;
  /** Cumulative kernel drops read from the current port, and the total over all its ports. */
  portDrops: number;
  socketDrops: number;
  /** A send failure was logged and no send has succeeded since (one warning per streak). */
  sendFailureLogged: boolean;
}

/** An active probe(). */
interface Probe {
  readonly ip: IPText;
  readonly family: Family;
  readonly interfaces: readonly string[] | null;
  readonly probed: Set<string>;
  sent: number;
  timer: NodeJS.Timeout | null;
  readonly promise: Promise<ProbeResult>;
  finish(conflict: ProbeResult['conflict']): void;
  fail(err: Error): void;
}

const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {} };

/** Claims waiting for delivery beyond this are dropped (and counted): the caller is not keeping up. */
const CLAIM_QUEUE_MAX = 256;

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The socket that answers for a family: ARP for IPv4, NDP for IPv6 (IPv4-mapped IPv6 included). */
function kindOf(family: Family): PortKind {
  return family === 'ipv4' ? 'arp' : 'ndp';
}

function badAddress(ip: string): CodecError {
  return new CodecError('badAddress', `layer2: "${ip}" is not an IP address`);
}

type ResolvedOptions = Required<Omit<AnnouncerOptions, 'select' | 'onCount' | 'onClaim' | 'watchLinks'>> & {
  onCount: ((ev: CountEvent) => void) | undefined;
  onClaim: ((c: Claim) => void) | undefined;
  watchLinks: WatchLinks | null;
  select: SelectOptions;
};

/**
 * Holds the announced IPs and answers ARP/NDP for them on every eligible interface.
 * Call start() to open sockets; close() releases sockets and timers.
 */
export class Announcer {
  readonly #opts: ResolvedOptions;
  readonly #ips = new Map<IPText, Announced>();
  /** key "arp/eth0" or "ndp/eth0". */
  readonly #responders = new Map<string, Responder>();
  readonly #stats: AnnouncerStats;
  /** MACs of every eligible interface: frames from them are ours, never claims. */
  #ownMacs = new Set<MacText>();
  /** Last known operational state per ifindex, from link events and ENETDOWN errors. */
  readonly #linkUp = new Map<number, boolean>();
  readonly #probes = new Map<IPText, Probe>();
  readonly #claimLimiter: ClaimLimiter;
  readonly #claimQueue: Claim[] = [];
  #claimFlush: NodeJS.Immediate | null = null;
  readonly #defence: DefenceGate;
  readonly #lookup: AnnounceLookup = (ip, ifname) => this.verdict(ip, ifname);
  #linkWatch: LinkWatch | null = null;
  /** Pending rounds of per-interface bursts after a link came back, by interface name. */
  readonly #linkBursts = new Map<string, NodeJS.Timeout>();
  /** Set while a link-up is handled: sockets opened then leave the gratuitous sends to its burst. */
  #linkUpInProgress = false;
  #rescanTimer: NodeJS.Timeout | null = null;
  /** A rescan asked for by link events, coalesced into one per event-loop turn. */
  #rescanSoon: NodeJS.Immediate | null = null;
  #statsTimer: NodeJS.Timeout | null = null;
  #started = false;
  #closed = false;

  /** Creates an idle announcer; nothing is opened until start(). */
  constructor(opts: AnnouncerOptions = {}) {
    const select = opts.select ?? {};
    const rcvbufBytes = opts.rcvbufBytes ?? DEFAULT_RCVBUF_BYTES;
    this.#opts = {
      listInterfaces: opts.listInterfaces ?? (() => selectInterfaces(readLinks(), select)),
      select,
      openPort: opts.openPort ?? ((iface, kind) => openPacketPort(iface.ifindex, kind, { rcvbufBytes })),
      watchLinks: opts.watchLinks === undefined ? (opts.openPort === undefined ? watchLinksNetlink : null) : opts.watchLinks,
      burstIntervalMs: opts.burstIntervalMs ?? 1100,
      burstDurationMs: opts.burstDurationMs ?? 5000,
      refreshIntervalMs: opts.refreshIntervalMs ?? 30_000,
      rescanIntervalMs: opts.rescanIntervalMs ?? 10_000,
      reopenInitialMs: opts.reopenInitialMs ?? 100,
      reopenMaxMs: opts.reopenMaxMs ?? 2000,
      rcvbufBytes,
      socketStatsIntervalMs: opts.socketStatsIntervalMs ?? 1000,
      claimIntervalMs: opts.claimIntervalMs ?? 1000,
      defendIntervalMs: opts.defendIntervalMs ?? 10_000,
      probeCount: opts.probeCount ?? 3,
      probeIntervalMs: opts.probeIntervalMs ?? 150,
      probeWaitMs: opts.probeWaitMs ?? 200,
      now: opts.now ?? (() => performance.now()),
      logger: opts.logger ?? silent,
      onCount: opts.onCount,
      onClaim: opts.onClaim,
    };
    this.#claimLimiter = new ClaimLimiter(this.#opts.claimIntervalMs);
    this.#defence = new DefenceGate(this.#opts.defendIntervalMs);
    const drops = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
    this.#stats = {
      requestsReceived: 0,
      repliesSent: 0,
      gratuitousSent: 0,
      gratuitousErrors: 0,
      portErrors: 0,
      portReopens: 0,
      claimsSeen: 0,
      claimsDelivered: 0,
      claimsSuppressed: 0,
      defencesSent: 0,
      defencesSuppressed: 0,
      probesSent: 0,
      probeConflicts: 0,
      drops,
    };
  }

  /** Scans interfaces, opens responders, starts the link watch and the periodic rescan. */
  start(): void {
    if (this.#closed) throw new Error('layer2: announcer is closed');
    if (this.#started) return;
    this.#started = true;
    this.rescan();
    if (this.#opts.watchLinks !== null) {
      try {
        this.#linkWatch = this.#opts.watchLinks(
          (ev) => this.#onLinkEvent(ev),
          (err) => this.#opts.logger.warn({ op: 'linkWatch', err: errText(err) }, 'link watch error'),
        );
      } catch (err) {
        // Not fatal: reopen backoff and the periodic rescan still recover, only more slowly.
        this.#opts.logger.warn({ op: 'linkWatch', err: errText(err) }, 'cannot watch links; relying on rescans');
      }
    }
    if (this.#opts.rescanIntervalMs > 0) {
      this.#rescanTimer = setInterval(() => this.rescan(), this.#opts.rescanIntervalMs);
      // The speaker's lifetime is governed by its servers, not by this housekeeping timer.
      this.#rescanTimer.unref();
    }
    if (this.#opts.socketStatsIntervalMs > 0) {
      this.#statsTimer = setInterval(() => this.#collectAllSocketDrops(), this.#opts.socketStatsIntervalMs);
      this.#statsTimer.unref();
    }
  }

  /**
   * Adds `owner` (e.g. "namespace/service") as a holder of `ip`, optionally restricted to some
   * interfaces (an L2Advertisement's `interfaces`; omitted = all). The first owner makes the IP
   * announced: it is answered at once and a gratuitous burst starts. Throws CodecError on an
   * invalid IP.
   */
  announce(ip: IPText, owner: string, interfaces?: readonly string[]): void;
  /** @deprecated Pass IPText (core's parseIPText/formatIP make it); plain text is only checked at run time. */
  announce(ip: string, owner: string, interfaces?: readonly string[]): void;
  announce(ip: string, owner: string, interfaces?: readonly string[]): void {
    // Checked even when typed IPText: a cast or a stale caller must not put junk in the table.
    const n = parseIPAddress(ip);
    if (n === null) throw badAddress(ip);
    let a = this.#ips.get(n.text);
    const isNew = a === undefined;
    if (a === undefined) {
      a = { family: n.family, owners: new Map(), timer: null };
      this.#ips.set(n.text, a);
    }
    a.owners.set(owner, interfaces === undefined ? null : [...interfaces]);
    if (n.family === 'ipv6') this.#syncAllMemberships();
    if (isNew) {
      this.#opts.logger.info({ op: 'announce', ip: n.text, owner }, 'announcing');
      this.#startBurst(n.text, a);
    }
  }

  /**
   * Removes `owner`'s hold on `ip`. When the last owner goes, the IP stops being answered at
   * once and pending gratuitous sends are cancelled.
   */
  withdraw(ip: IPText, owner: string): void;
  /** @deprecated Pass IPText; plain text is only checked at run time. */
  withdraw(ip: string, owner: string): void;
  withdraw(ip: string, owner: string): void {
    const n = parseIPAddress(ip);
    if (n === null) return;
    const a = this.#ips.get(n.text);
    if (a === undefined || !a.owners.delete(owner)) return;
    if (a.owners.size > 0) {
      if (a.family === 'ipv6') this.#syncAllMemberships();
      return;
    }
    if (a.timer) clearTimeout(a.timer);
    a.timer = null;
    this.#ips.delete(n.text);
    this.#defence.forget(n.text);
    this.#claimLimiter.forget(n.text);
    if (a.family === 'ipv6') this.#syncAllMemberships();
    this.#opts.logger.info({ op: 'withdraw', ip: n.text, owner }, 'stopped announcing');
  }

  /** Restarts the gratuitous burst of an announced IP (e.g. after a membership change). */
  reannounce(ip: IPText): void;
  /** @deprecated Pass IPText; plain text is only checked at run time. */
  reannounce(ip: string): void;
  reannounce(ip: string): void {
    const n = parseIPAddress(ip);
    const a = n === null ? undefined : this.#ips.get(n.text);
    if (n !== null && a !== undefined) this.#startBurst(n.text, a);
  }

  /**
   * Defends an announced IP now: one gratuitous ARP / unsolicited NA round on every interface it
   * is announced on, unless `ip` was defended less than defendIntervalMs ago (RFC 5227 §2.4 (b):
   * a fight with another host never becomes a storm). Throws CodecError on an invalid IP.
   */
  reassert(ip: IPText): ReassertResult;
  /** @deprecated Pass IPText; plain text is only checked at run time. */
  reassert(ip: string): ReassertResult;
  reassert(ip: string): ReassertResult {
    const n = parseIPAddress(ip);
    if (n === null) throw badAddress(ip);
    const a = this.#ips.get(n.text);
    if (a === undefined) return 'notAnnounced';
    if (!this.#defence.tryDefend(n.text, this.#opts.now())) {
      this.#stats.defencesSuppressed++;
      return 'rateLimited';
    }
    this.#stats.defencesSent++;
    this.#opts.logger.info({ op: 'reassert', ip: n.text }, 'defending address');
    this.#gratuitousRound(n.text, a);
    return 'sent';
  }

  /**
   * Checks whether some other host uses `ip` before this node first announces it: RFC 5227 ARP
   * probes (sender 0.0.0.0) for IPv4, RFC 4862 DAD probes (NS from ::) for IPv6, `count` per
   * interface `intervalMs` apart, then `waitMs` of listening. Any ARP from another MAC with the
   * IP as sender, any NA for it, and any other host's probe for it is a conflict; the promise
   * resolves at the first one. Probing the same IP twice at once returns the same promise.
   * Rejects with CodecError for an invalid IP and with an Error if the announcer closes meanwhile.
   */
  probe(ip: IPText, opts?: ProbeOptions): Promise<ProbeResult>;
  /** @deprecated Pass IPText; plain text is only checked at run time. */
  probe(ip: string, opts?: ProbeOptions): Promise<ProbeResult>;
  probe(ip: string, opts: ProbeOptions = {}): Promise<ProbeResult> {
    const n = parseIPAddress(ip);
    if (n === null) return Promise.reject(badAddress(ip));
    if (this.#closed) return Promise.reject(new Error('layer2: announcer is closed'));
    const existing = this.#probes.get(n.text);
    if (existing !== undefined) return existing.promise;
    const count = Math.max(1, Math.floor(opts.count ?? this.#opts.probeCount));
    const intervalMs = opts.intervalMs ?? this.#opts.probeIntervalMs;
    const waitMs = opts.waitMs ?? this.#opts.probeWaitMs;
    let resolve!: (r: ProbeResult) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<ProbeResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const done = (): void => {
      if (p.timer) clearTimeout(p.timer);
      p.timer = null;
      if (this.#probes.get(p.ip) === p) this.#probes.delete(p.ip);
      if (p.family === 'ipv6') this.#syncAllMemberships();
    };
    const p: Probe = {
      ip: n.text,
      family: n.family,
      interfaces: opts.interfaces === undefined ? null : [...opts.interfaces],
      probed: new Set(),
      sent: 0,
      timer: null,
      promise,
      finish: (conflict) => {
        if (this.#probes.get(p.ip) !== p) return;
        done();
        if (conflict !== null) {
          this.#stats.probeConflicts++;
          this.#opts.logger.info({ op: 'probe', ip: p.ip, mac: conflict.mac, iface: conflict.iface }, 'address in use');
        }
        resolve({ conflict, probesSent: p.sent, interfaces: [...p.probed].sort() });
      },
      fail: (err) => {
        if (this.#probes.get(p.ip) !== p) return;
        done();
        reject(err);
      },
    };
    this.#probes.set(p.ip, p);
    // Other hosts' DAD probes for the IP go to its solicited-node group: join it meanwhile.
    if (p.family === 'ipv6') this.#syncAllMemberships();
    const round = (k: number): void => {
      if (this.#probes.get(p.ip) !== p) return;
      this.#sendProbes(p);
      p.timer = setTimeout(() => (k + 1 < count ? round(k + 1) : p.finish(null)), k + 1 < count ? intervalMs : waitMs);
      p.timer.unref();
    };
    round(0);
    return promise;
  }

  /** Whether some owner currently announces `ip` (on any interface); any text, false when it is not an IP. */
  isAnnounced(ip: string): boolean {
    const n = parseIPAddress(ip);
    return n !== null && this.#ips.has(n.text);
  }

  /** The announced IPs, canonical text, sorted. */
  announcedIps(): IPText[] {
    return [...this.#ips.keys()].sort();
  }

  /** Names of the responders that exist, as "arp/eth0", "ndp/eth0", sorted (health() has their state). */
  responders(): string[] {
    return [...this.#responders.keys()].sort();
  }

  /** MACs of the interfaces found eligible by the last scan, sorted: frames from them are this node's own. */
  interfaceMacs(): MacText[] {
    return [...this.#ownMacs].sort();
  }

  /** A copy of the counters (kernel drop counters are read first). */
  stats(): AnnouncerStats {
    this.#collectAllSocketDrops();
    return { ...this.#stats, drops: { ...this.#stats.drops } };
  }

  /** Per-responder health: errored sockets awaiting reopen, error and reopen counts, link state. */
  health(): AnnouncerHealth {
    this.#collectAllSocketDrops();
    const responders = [...this.#responders.values()]
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((r): ResponderHealth => ({
        name: r.key,
        iface: r.iface.name,
        kind: r.kind,
        state: r.port === null ? 'errored' : 'ok',
        errors: r.errors,
        reopens: r.reopens,
        lastError: r.lastError,
        socketDrops: r.socketDrops,
        rcvbuf: this.#rcvbufOf(r),
        linkUp: this.#linkUp.get(r.iface.ifindex) ?? null,
      }));
    return {
      responders,
      errored: responders.filter((r) => r.state === 'errored').length,
      errors: responders.reduce((s, r) => s + r.errors, 0),
      reopens: responders.reduce((s, r) => s + r.reopens, 0),
    };
  }

  /** The lookup handed to the pure responder: announced, not at all, or not on this interface. */
  verdict(ip: IPText, ifname: string): AnnounceVerdict {
    const a = this.#ips.get(ip);
    if (a === undefined) return 'notAnnounced';
    return this.#allowedOn(a, ifname) ? 'announced' : 'wrongInterface';
  }

  /** Re-reads interfaces and opens/closes responders to match; safe to call any time. */
  rescan(): void {
    if (this.#closed || !this.#started) return;
    let sel: Selection;
    try {
      sel = this.#opts.listInterfaces();
    } catch (err) {
      // Keep the current responders: a transient /sys read error must not stop replies.
      this.#opts.logger.warn({ op: 'rescan', err: errText(err) }, 'interface scan failed');
      return;
    }
    const wanted = new Map<string, { iface: EligibleInterface; kind: PortKind }>();
    for (const iface of sel.arp) wanted.set(`arp/${iface.name}`, { iface, kind: 'arp' });
    for (const iface of sel.ndp) wanted.set(`ndp/${iface.name}`, { iface, kind: 'ndp' });
    this.#ownMacs = new Set<MacText>();
    for (const i of [...sel.arp, ...sel.ndp]) {
      // Canonical, so frames' formatted MACs match whatever case the interface list used.
      const mac = parseMacText(i.mac);
      if (mac !== null) this.#ownMacs.add(mac);
    }
    for (const [key, r] of this.#responders) {
      const w = wanted.get(key);
      // A renamed, re-created or re-addressed link gets a fresh socket.
      if (w === undefined || w.iface.ifindex !== r.iface.ifindex || w.iface.mac !== r.iface.mac || w.iface.linkLocal !== r.iface.linkLocal) {
        this.#closeResponder(key, r);
      }
    }
    for (const [key, w] of wanted) {
      if (!this.#responders.has(key)) this.#openResponder(key, w.iface, w.kind);
    }
    this.#syncAllMemberships();
  }

  /** Stops everything: timers cleared, sockets closed, pending probes rejected. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#rescanTimer) clearInterval(this.#rescanTimer);
    this.#rescanTimer = null;
    if (this.#statsTimer) clearInterval(this.#statsTimer);
    this.#statsTimer = null;
    if (this.#claimFlush) clearImmediate(this.#claimFlush);
    this.#claimFlush = null;
    if (this.#rescanSoon) clearImmediate(this.#rescanSoon);
    this.#rescanSoon = null;
    this.#claimQueue.length = 0;
    this.#linkWatch?.close();
    this.#linkWatch = null;
    for (const a of this.#ips.values()) {
      if (a.timer) clearTimeout(a.timer);
      a.timer = null;
    }
    for (const t of this.#linkBursts.values()) clearTimeout(t);
    this.#linkBursts.clear();
    for (const p of [...this.#probes.values()]) p.fail(new Error('layer2: announcer closed while probing'));
    for (const [key, r] of this.#responders) this.#closeResponder(key, r);
  }

  #allowedOn(a: Announced, ifname: string): boolean {
    for (const list of a.owners.values()) if (list === null || list.includes(ifname)) return true;
    return false;
  }

  #count(ev: CountEvent): void {
    const cb = this.#opts.onCount;
    if (!cb) return;
    try {
      cb(ev);
    } catch {
      // A metrics bug must not cost us an ARP reply.
    }
  }

  #portError(iface: string, family: 4 | 6, op: string, err: unknown, level: 'warn' | 'debug' = 'warn'): void {
    this.#stats.portErrors++;
    this.#count({ kind: 'portError', family, iface });
    this.#opts.logger[level]({ op, iface, family, err: errText(err) }, 'packet socket error');
  }

  #openResponder(key: string, iface: EligibleInterface, kind: PortKind): void {
    const family = kind === 'arp' ? 4 : 6;
    const r: Responder = {
      key,
      iface,
      kind,
      family,
      port: null,
      batched: false,
      groups: new Set(),
      batch: { received: 0, replies: [], drops: new Map() },
      errors: 0,
      reopens: 0,
      lastError: null,
      lastErrorAt: null,
      backoffMs: this.#opts.reopenInitialMs,
      reopenTimer: null,
      openedWhileDown: false,
      portDrops: 0,
      socketDrops: 0,
      sendFailureLogged: false,
    };
    if (!this.#attachPort(r)) {
      // Retried by the next rescan.
      return;
    }
    this.#responders.set(key, r);
    this.#opts.logger.info({ op: 'open', iface: iface.name, kind }, 'responder started');
    this.#afterOpen(r);
  }

  /** Opens a socket for `r`; false (counted and logged) if the open failed. */
  #attachPort(r: Responder, level: 'warn' | 'debug' = 'warn'): boolean {
    let port: PacketPort;
    try {
      port = this.#opts.openPort(r.iface, r.kind);
    } catch (err) {
      r.lastError = errText(err);
      this.#portError(r.iface.name, r.family, 'open', err, level);
      return false;
    }
    r.port = port;
    r.portDrops = 0;
    r.openedWhileDown = this.#linkUp.get(r.iface.ifindex) === false;
    r.batched = typeof port.onBatchEnd === 'function';
    port.onFrame((frame, meta) => this.#onFrame(r, port, frame, meta));
    port.onBatchEnd?.(() => {
      if (r.port === port) this.#flushBatch(r);
    });
    port.onError?.((err) => this.#onPortError(r, port, err));
    return true;
  }

  /** Memberships and a gratuitous round for a freshly opened socket. */
  #afterOpen(r: Responder): void {
    if (r.kind === 'ndp') this.#syncMemberships(r);
    // A link that appears (or comes back) while we lead must learn our IPs without waiting for
    // a refresh; pointless while the kernel says the link is down (every send would fail), and
    // left to the burst that follows when the link just came up.
    if (this.#linkUpInProgress || this.#linkUp.get(r.iface.ifindex) === false) return;
    for (const [ip, a] of this.#ips) {
      if (kindOf(a.family) === r.kind && this.#allowedOn(a, r.iface.name)) this.#sendGratuitous(r, ip);
    }
  }

  #closeResponder(key: string, r: Responder): void {
    this.#responders.delete(key);
    if (r.reopenTimer) clearTimeout(r.reopenTimer);
    r.reopenTimer = null;
    if (r.port !== null) {
      this.#collectSocketDrops(r);
      try {
        r.port.close();
      } catch (err) {
        this.#opts.logger.warn({ op: 'close', iface: r.iface.name, err: errText(err) }, 'close failed');
      }
      r.port = null;
    }
    this.#opts.logger.info({ op: 'close', iface: r.iface.name, kind: r.kind }, 'responder stopped');
  }

  /**
   * A socket reported an error (issue 9: ENETDOWN when the link went down; libuv would stop
   * polling it for good). The socket is closed and replaced after a bounded backoff, or at once
   * when the link watch reports the link up again.
   */
  #onPortError(r: Responder, port: PacketPort, err: Error): void {
    if (this.#closed || r.port !== port || this.#responders.get(r.key) !== r) return;
    const now = this.#opts.now();
    // The first error after a quiet stretch is news (warn, backoff from the start); repeats
    // while the link stays down are not.
    const fresh = r.lastErrorAt === null || now - r.lastErrorAt > 4 * this.#opts.reopenMaxMs;
    if (fresh) r.backoffMs = this.#opts.reopenInitialMs;
    r.errors++;
    r.lastError = errText(err);
    r.lastErrorAt = now;
    this.#portError(r.iface.name, r.family, 'recv', err, fresh ? 'warn' : 'debug');
    this.#collectSocketDrops(r);
    this.#flushBatch(r);
    try {
      port.close();
    } catch {
      // Already broken; the reopen replaces it either way.
    }
    r.port = null;
    r.groups.clear();
    this.#scheduleReopen(r);
  }

  #scheduleReopen(r: Responder): void {
    if (r.reopenTimer) clearTimeout(r.reopenTimer);
    const delay = r.backoffMs;
    r.backoffMs = Math.min(r.backoffMs * 2, this.#opts.reopenMaxMs);
    r.reopenTimer = setTimeout(() => this.#reopen(r), delay);
    r.reopenTimer.unref();
  }

  #reopen(r: Responder): void {
    r.reopenTimer = null;
    if (this.#closed || this.#responders.get(r.key) !== r || r.port !== null) return;
    if (!this.#attachPort(r, 'debug')) {
      r.errors++;
      this.#scheduleReopen(r);
      return;
    }
    r.reopens++;
    this.#stats.portReopens++;
    // While the kernel says the link is down, retries are routine: keep them out of info logs.
    const level = r.openedWhileDown ? 'debug' : 'info';
    this.#opts.logger[level]({ op: 'reopen', iface: r.iface.name, kind: r.kind, reopens: r.reopens }, 'responder reopened');
    this.#afterOpen(r);
  }

  /**
   * Link state from the kernel. Coming back up (carrier or admin) replaces sockets that failed
   * or were opened while the link was down, rescans (the link-local address may be new), and
   * restarts the gratuitous burst of every IP announced there: switches and neighbours may have
   * flushed their tables meanwhile.
   */
  #onLinkEvent(ev: LinkEvent): void {
    if (this.#closed) return;
    if (ev.kind === 'overflow') {
      this.#scheduleRescan();
      return;
    }
    const prev = this.#linkUp.get(ev.ifindex);
    if (ev.deleted) {
      this.#linkUp.delete(ev.ifindex);
      if (this.#servesIfindex(ev.ifindex)) this.#scheduleRescan();
      return;
    }
    this.#linkUp.set(ev.ifindex, ev.running);
    if (prev === ev.running) return;
    const mine = [...this.#responders.values()].filter((r) => r.iface.ifindex === ev.ifindex);
    // Links we do not serve and never could (pod veths, excluded names) churn constantly on a
    // Kubernetes node: ignore them rather than rescanning for each.
    if (mine.length === 0 && nameSkip(ev.name, this.#opts.select) !== null) return;
    if (!ev.running) {
      if (mine.length > 0 && prev === true) this.#opts.logger.info({ op: 'link', iface: ev.name }, 'link down');
      return;
    }
    const stale = mine.filter((r) => r.port === null || r.openedWhileDown);
    if (prev === undefined && stale.length === 0) {
      // The initial dump, or a new link: it may need a responder.
      if (mine.length === 0) this.#scheduleRescan();
      return;
    }
    this.#opts.logger.info({ op: 'link', iface: ev.name }, 'link up');
    this.#linkUpInProgress = true;
    try {
      for (const r of stale) {
        if (r.reopenTimer) clearTimeout(r.reopenTimer);
        r.reopenTimer = null;
        if (r.port !== null) {
          this.#collectSocketDrops(r);
          try {
            r.port.close();
          } catch {
            // Replaced below either way.
          }
          r.port = null;
          r.groups.clear();
        }
        r.backoffMs = this.#opts.reopenInitialMs;
        this.#reopen(r);
      }
      this.rescan();
    } finally {
      this.#linkUpInProgress = false;
    }
    this.#startLinkBurst(ev.name);
  }

  /**
   * A gratuitous burst on one interface only (every IP announced there): the other interfaces
   * did not flap and need nothing. Denser at first than the per-IP burst (0, 250, 500 ms, then
   * every burstIntervalMs while below burstDurationMs): when the kernel reports carrier the far
   * end (a switch port, a bridge) may not forward yet, so a lone first round can be lost.
   */
  #startLinkBurst(ifname: string): void {
    const old = this.#linkBursts.get(ifname);
    if (old) clearTimeout(old);
    const { burstIntervalMs: every, burstDurationMs: duration } = this.#opts;
    const offsets = [0, 250, 500];
    for (let t = every; every > 0 && t < duration; t += every) if (t > 500) offsets.push(t);
    const round = (k: number): void => {
      this.#linkBursts.delete(ifname);
      if (this.#closed) return;
      for (const r of this.#responders.values()) {
        if (r.iface.name !== ifname || r.port === null) continue;
        for (const [ip, a] of this.#ips) if (kindOf(a.family) === r.kind && this.#allowedOn(a, ifname)) this.#sendGratuitous(r, ip);
      }
      const next = offsets[k + 1];
      if (next !== undefined) {
        const t = setTimeout(() => round(k + 1), next - (offsets[k] ?? 0));
        t.unref();
        this.#linkBursts.set(ifname, t);
      }
    };
    round(0);
  }

  #rcvbufOf(r: Responder): number {
    try {
      return r.port?.socketStats?.().rcvbuf ?? 0;
    } catch {
      return 0;
    }
  }

  /** One rescan after the current batch of link events (a dump or churn brings many at once). */
  #scheduleRescan(): void {
    if (this.#rescanSoon !== null || this.#closed) return;
    this.#rescanSoon = setImmediate(() => {
      this.#rescanSoon = null;
      this.rescan();
    });
  }

  #servesIfindex(ifindex: number): boolean {
    for (const r of this.#responders.values()) if (r.iface.ifindex === ifindex) return true;
    return false;
  }

  #onFrame(r: Responder, port: PacketPort, frame: Uint8Array, meta: FrameMeta): void {
    if (r.port !== port || this.#responders.get(r.key) !== r) return;
    const b = r.batch;
    b.received++;
    const d = r.kind === 'arp' ? decideArp(frame, r.iface, this.#lookup, meta) : decideNdp(frame, r.iface, this.#lookup, meta);
    if (d.action === 'drop') b.drops.set(d.reason, (b.drops.get(d.reason) ?? 0) + 1);
    else b.replies.push(d.frame);
    if (this.#probes.size > 0 || (this.#opts.onClaim !== undefined && this.#ips.size > 0)) this.#inspectClaim(r, frame, meta);
    if (!r.batched) this.#flushBatch(r);
  }

  /** Sends the replies of a receive batch (one sendMany when the port has it) and reports its counts. */
  #flushBatch(r: Responder): void {
    const b = r.batch;
    if (b.received === 0 && b.replies.length === 0) return;
    const { family } = r;
    const iface = r.iface.name;
    this.#stats.requestsReceived += b.received;
    this.#count(b.received === 1 ? { kind: 'received', family, iface } : { kind: 'received', family, iface, n: b.received });
    b.received = 0;
    if (b.replies.length > 0) {
      const total = b.replies.length;
      let sent = 0;
      let failure: unknown = null;
      const port = r.port;
      if (port === null) {
        failure = new Error('socket closed');
      } else if (total > 1 && port.sendMany) {
        try {
          sent = port.sendMany(b.replies);
          if (sent < total) failure = new Error(`${total - sent} of ${total} replies refused`);
        } catch (err) {
          failure = err;
        }
      } else {
        for (const f of b.replies) {
          try {
            port.send(f);
            sent++;
          } catch (err) {
            failure = err;
          }
        }
      }
      b.replies.length = 0;
      if (sent > 0) {
        this.#stats.repliesSent += sent;
        this.#count(sent === 1 ? { kind: 'reply', family, iface } : { kind: 'reply', family, iface, n: sent });
        r.sendFailureLogged = false;
      }
      if (total > sent) {
        b.drops.set('sendFailed', (b.drops.get('sendFailed') ?? 0) + (total - sent));
        if (!r.sendFailureLogged) {
          r.sendFailureLogged = true;
          this.#opts.logger.warn({ op: 'reply', iface, err: errText(failure) }, 'reply not sent');
        }
      }
    }
    for (const [reason, n] of b.drops) {
      this.#stats.drops[reason] += n;
      this.#count(n === 1 ? { kind: 'drop', family, iface, reason } : { kind: 'drop', family, iface, reason, n });
    }
    b.drops.clear();
  }

  /** Conflict detection on one received frame; cheap unless the frame concerns an IP we care about. */
  #inspectClaim(r: Responder, frame: Uint8Array, meta: FrameMeta): void {
    const wants = (ip: IPText, kind: ClaimKind): boolean => {
      const p = this.#probes.get(ip);
      if (p !== undefined && (p.interfaces === null || p.interfaces.includes(r.iface.name))) return true;
      if (this.#opts.onClaim === undefined || isProbeKind(kind)) return false;
      const a = this.#ips.get(ip);
      return a !== undefined && this.#allowedOn(a, r.iface.name);
    };
    const c: WireClaim | null = r.kind === 'arp' ? classifyArpClaim(frame, this.#ownMacs, wants, meta) : classifyNdpClaim(frame, this.#ownMacs, wants, meta);
    if (c === null) return;
    const p = this.#probes.get(c.ip);
    if (p !== undefined) p.finish({ mac: c.mac, iface: r.iface.name });
    if (this.#opts.onClaim === undefined || isProbeKind(c.kind)) return;
    const a = this.#ips.get(c.ip);
    if (a === undefined || !this.#allowedOn(a, r.iface.name)) return;
    this.#stats.claimsSeen++;
    if (!this.#claimLimiter.admit(c.ip, c.mac, this.#opts.now()) || this.#claimQueue.length >= CLAIM_QUEUE_MAX) {
      this.#stats.claimsSuppressed++;
      return;
    }
    this.#claimQueue.push({ ...c, iface: r.iface.name });
    // Delivered after the current receive batch: the callback never runs inside the receive path.
    this.#claimFlush ??= setImmediate(() => this.#deliverClaims());
  }

  #deliverClaims(): void {
    this.#claimFlush = null;
    const cb = this.#opts.onClaim;
    const queue = this.#claimQueue.splice(0, this.#claimQueue.length);
    if (cb === undefined || this.#closed) return;
    for (const c of queue) {
      this.#stats.claimsDelivered++;
      this.#opts.logger.debug({ op: 'claim', ip: c.ip, mac: c.mac, iface: c.iface, kind: c.kind }, 'address claimed by another MAC');
      try {
        cb(c);
      } catch (err) {
        this.#opts.logger.warn({ op: 'claim', ip: c.ip, err: errText(err) }, 'onClaim threw');
      }
    }
  }

  #sendProbes(p: Probe): void {
    const kind = kindOf(p.family);
    for (const r of this.#responders.values()) {
      if (r.kind !== kind || r.port === null) continue;
      if (p.interfaces !== null && !p.interfaces.includes(r.iface.name)) continue;
      const frame = kind === 'arp' ? arpProbeFrame(r.iface.mac, p.ip) : dadProbeFrame(r.iface.mac, p.ip);
      try {
        r.port.send(frame);
      } catch (err) {
        this.#opts.logger.debug({ op: 'probe', iface: r.iface.name, ip: p.ip, err: errText(err) }, 'probe not sent');
        continue;
      }
      p.sent++;
      this.#stats.probesSent++;
      p.probed.add(r.iface.name);
    }
  }

  #collectAllSocketDrops(): void {
    for (const r of this.#responders.values()) this.#collectSocketDrops(r);
  }

  /** Moves new kernel drops of r's socket into the counters (reason 'socket'). */
  #collectSocketDrops(r: Responder): void {
    const port = r.port;
    if (port === null || port.socketStats === undefined) return;
    let drops: number;
    try {
      drops = port.socketStats().drops;
    } catch {
      return;
    }
    const delta = drops - r.portDrops;
    if (!(delta > 0)) return;
    r.portDrops = drops;
    r.socketDrops += delta;
    this.#stats.requestsReceived += delta;
    this.#stats.drops.socket += delta;
    const { family } = r;
    const iface = r.iface.name;
    this.#count({ kind: 'received', family, iface, n: delta });
    this.#count({ kind: 'drop', family, iface, reason: 'socket', n: delta });
  }

  #startBurst(ip: IPText, a: Announced): void {
    if (a.timer) clearTimeout(a.timer);
    a.timer = null;
    this.#gratuitousRound(ip, a);
    this.#scheduleNext(ip, a, 0);
  }

  /** Schedules the round after round `k` of the burst, or the first refresh after the burst. */
  #scheduleNext(ip: IPText, a: Announced, k: number): void {
    if (this.#closed) return;
    const { burstIntervalMs: every, burstDurationMs: duration, refreshIntervalMs: refresh } = this.#opts;
    const live = (): boolean => !this.#closed && this.#ips.get(ip) === a;
    if (every > 0 && (k + 1) * every < duration) {
      a.timer = setTimeout(() => {
        if (!live()) return;
        this.#gratuitousRound(ip, a);
        this.#scheduleNext(ip, a, k + 1);
      }, every);
    } else if (refresh > 0) {
      const tick = (): void => {
        if (!live()) return;
        this.#gratuitousRound(ip, a);
        a.timer = setTimeout(tick, refresh).unref();
      };
      a.timer = setTimeout(tick, refresh);
    } else {
      a.timer = null;
      return;
    }
    a.timer.unref();
  }

  #gratuitousRound(ip: IPText, a: Announced): void {
    const kind = kindOf(a.family);
    for (const r of this.#responders.values()) {
      if (r.kind === kind && r.port !== null && this.#allowedOn(a, r.iface.name)) this.#sendGratuitous(r, ip);
    }
  }

  #sendGratuitous(r: Responder, ip: IPText): void {
    const port = r.port;
    if (port === null) return;
    const frames = r.kind === 'arp' ? gratuitousArpFrames(r.iface.mac, ip) : [unsolicitedNaFrame(r.iface.mac, r.iface.linkLocal ?? ip, ip)];
    for (const f of frames) {
      try {
        port.send(f);
      } catch (err) {
        this.#stats.gratuitousErrors++;
        // One warning per failure streak: a down link fails every send until it is back.
        if (!r.sendFailureLogged) {
          r.sendFailureLogged = true;
          this.#opts.logger.warn({ op: 'gratuitous', iface: r.iface.name, ip, err: errText(err) }, 'gratuitous not sent');
        }
        continue;
      }
      r.sendFailureLogged = false;
      this.#stats.gratuitousSent++;
      this.#count({ kind: 'gratuitous', family: r.family, iface: r.iface.name });
    }
  }

  #syncAllMemberships(): void {
    for (const r of this.#responders.values()) if (r.kind === 'ndp') this.#syncMemberships(r);
  }

  /**
   * Joins the solicited-node groups of the v6 IPs allowed on r's interface (announced or being
   * probed), leaves the rest.
   */
  #syncMemberships(r: Responder): void {
    if (r.port === null) return;
    const want = new Set<string>();
    for (const [ip, a] of this.#ips) {
      if (a.family === 'ipv6' && this.#allowedOn(a, r.iface.name)) want.add(groupMacOf(ip));
    }
    for (const p of this.#probes.values()) {
      if (p.family === 'ipv6' && (p.interfaces === null || p.interfaces.includes(r.iface.name))) {
        want.add(groupMacOf(p.ip));
      }
    }
    for (const mac of [...r.groups]) {
      if (want.has(mac)) continue;
      r.groups.delete(mac);
      this.#membership(r, mac, false);
    }
    for (const mac of want) {
      // A failed join is not recorded, so the next sync (at the latest the next rescan) retries.
      if (!r.groups.has(mac) && this.#membership(r, mac, true)) r.groups.add(mac);
    }
  }

  #membership(r: Responder, mac: string, join: boolean): boolean {
    const port = r.port;
    if (port === null) return false;
    try {
      if (join) port.addMembership(mac);
      else port.dropMembership(mac);
      return true;
    } catch (err) {
      this.#portError(r.iface.name, 6, join ? `join ${mac}` : `leave ${mac}`, err);
      return false;
    }
  }
}

/*
 * The solicited-node group MAC of an IPv6 address, memoized: memberships are re-derived on every
 * announce and withdraw, and deriving the group is string work. With 1000 IPv6 VIPs a resync did
 * ~10^5 derivations; now it does map lookups. Bounded like every cache fed from the network.
 */
const groupMacs = new Map<IPText, MacText>();

function groupMacOf(ip: IPText): MacText {
  let mac = groupMacs.get(ip);
  if (mac === undefined) {
    mac = ipv6MulticastMac(solicitedNodeMulticast(ip));
    if (groupMacs.size >= 65_536) groupMacs.clear();
    groupMacs.set(ip, mac);
  }
  return mac;
}
