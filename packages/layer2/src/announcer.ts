// The stateful part of layer2: which IPs this node announces (refcounted per owner), one
// responder per eligible interface and family, gratuitous bursts and refreshes, memberships of
// solicited-node groups. I/O is injected (openPort, listInterfaces), so unit tests run it
// entirely in memory; decisions per frame are the pure functions in responder.ts.
import { normalizeIp } from './addr.js';
import { gratuitousArpFrames } from './arp.js';
import { CodecError } from './errors.js';
import { readLinks, selectInterfaces } from './interfaces.js';
import type { EligibleInterface, Selection, SelectOptions } from './interfaces.js';
import { ipv6MulticastMac, solicitedNodeMulticast, unsolicitedNaFrame } from './ndp.js';
import { openPacketPort } from './afpacket.js';
import type { PacketPort, PortKind } from './port.js';
import { DROP_REASONS, decideArp, decideNdp } from './responder.js';
import type { AnnounceVerdict, DropReason } from './responder.js';

/** The subset of pino's logger the announcer uses; pass `pino().child({ component: 'layer2' })`. */
export interface Logger {
  /** Debug-level structured log. */
  debug(obj: object, msg?: string): void;
  /** Info-level structured log. */
  info(obj: object, msg?: string): void;
  /** Warn-level structured log. */
  warn(obj: object, msg?: string): void;
}

/** A counter increment, for feeding prom-client. Delivered synchronously: keep it cheap. */
export type CountEvent =
  | { readonly kind: 'received' | 'reply' | 'gratuitous'; readonly family: 4 | 6; readonly iface: string }
  | { readonly kind: 'drop'; readonly family: 4 | 6; readonly iface: string; readonly reason: DropReason }
  | { readonly kind: 'portError'; readonly family: 4 | 6; readonly iface: string };

/** Counter snapshot. requestsReceived = repliesSent + sum(drops) at all times. */
export interface AnnouncerStats {
  /** Frames delivered to a responder (ARP frames and IPv6 Neighbor Solicitations). */
  requestsReceived: number;
  /** ARP replies and solicited NAs sent. */
  repliesSent: number;
  /** Gratuitous ARP / unsolicited NA frames sent. */
  gratuitousSent: number;
  /** Gratuitous sends the socket refused. */
  gratuitousErrors: number;
  /** Failures to open a socket or change a multicast membership. */
  portErrors: number;
  /** Dropped frames by reason. */
  drops: Record<DropReason, number>;
}

/** Announcer configuration; every field has a default. */
export interface AnnouncerOptions {
  /** Lists and selects interfaces; default reads /sys and /proc and applies `select`. */
  readonly listInterfaces?: () => Selection;
  /** Exclude/allow options for the default listInterfaces. */
  readonly select?: SelectOptions;
  /** Opens a port on an interface; default the AF_PACKET addon. */
  readonly openPort?: (iface: EligibleInterface, kind: PortKind) => PacketPort;
  /** Gap between gratuitous rounds of a burst; default 1100 ms (MetalLB #172). */
  readonly burstIntervalMs?: number;
  /** A burst sends rounds at 0, interval, 2·interval, ... while below this; default 5000 ms. */
  readonly burstDurationMs?: number;
  /** Gratuitous refresh period after the burst while announced; default 30000 ms, 0 disables. */
  readonly refreshIntervalMs?: number;
  /** Interface rescan period; default 10000 ms, 0 disables (call rescan() yourself). */
  readonly rescanIntervalMs?: number;
  /** Structured logger; default silent. */
  readonly logger?: Logger;
  /** Counter callback; exceptions it throws are swallowed so metrics cannot break replies. */
  readonly onCount?: (ev: CountEvent) => void;
}

/** Per-IP state. */
interface Announced {
  readonly family: 4 | 6;
  /** owner → interfaces it allows (null = all). */
  readonly owners: Map<string, readonly string[] | null>;
  timer: NodeJS.Timeout | null;
}

/** One open socket on one interface for one family. */
interface Responder {
  readonly iface: EligibleInterface;
  readonly kind: PortKind;
  readonly port: PacketPort;
  /** Joined solicited-node multicast MACs (NDP only). */
  readonly groups: Set<string>;
}

const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {} };

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Holds the announced IPs and answers ARP/NDP for them on every eligible interface.
 * Call start() to open sockets; close() releases sockets and timers.
 */
export class Announcer {
  readonly #opts: Required<Omit<AnnouncerOptions, 'select' | 'onCount'>> & { onCount: ((ev: CountEvent) => void) | undefined };
  readonly #ips = new Map<string, Announced>();
  /** key "arp/eth0" or "ndp/eth0". */
  readonly #responders = new Map<string, Responder>();
  readonly #stats: AnnouncerStats;
  #rescanTimer: NodeJS.Timeout | null = null;
  #started = false;
  #closed = false;

  /** Creates an idle announcer; nothing is opened until start(). */
  constructor(opts: AnnouncerOptions = {}) {
    const select = opts.select ?? {};
    this.#opts = {
      listInterfaces: opts.listInterfaces ?? (() => selectInterfaces(readLinks(), select)),
      openPort:
        opts.openPort ??
        ((iface, kind) =>
          openPacketPort(iface.ifindex, kind, {
            // Asynchronous socket errors (the link went down or away) are logged and counted;
            // the next rescan replaces the socket if the link changed.
            onError: (err) => this.#portError(iface.name, kind === 'arp' ? 4 : 6, 'recv', err),
          })),
      burstIntervalMs: opts.burstIntervalMs ?? 1100,
      burstDurationMs: opts.burstDurationMs ?? 5000,
      refreshIntervalMs: opts.refreshIntervalMs ?? 30_000,
      rescanIntervalMs: opts.rescanIntervalMs ?? 10_000,
      logger: opts.logger ?? silent,
      onCount: opts.onCount,
    };
    const drops = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
    this.#stats = { requestsReceived: 0, repliesSent: 0, gratuitousSent: 0, gratuitousErrors: 0, portErrors: 0, drops };
  }

  /** Scans interfaces, opens responders and starts the periodic rescan. */
  start(): void {
    if (this.#closed) throw new Error('layer2: announcer is closed');
    if (this.#started) return;
    this.#started = true;
    this.rescan();
    if (this.#opts.rescanIntervalMs > 0) {
      this.#rescanTimer = setInterval(() => this.rescan(), this.#opts.rescanIntervalMs);
      // The speaker's lifetime is governed by its servers, not by this housekeeping timer.
      this.#rescanTimer.unref();
    }
  }

  /**
   * Adds `owner` (e.g. "namespace/service") as a holder of `ip`, optionally restricted to some
   * interfaces (an L2Advertisement's `interfaces`; omitted = all). The first owner makes the IP
   * announced: it is answered at once and a gratuitous burst starts. Throws CodecError on an
   * invalid IP.
   */
  announce(ip: string, owner: string, interfaces?: readonly string[]): void {
    const n = normalizeIp(ip);
    if (n === null) throw new CodecError('badAddress', `layer2: "${ip}" is not an IP address`);
    let a = this.#ips.get(n.text);
    const isNew = a === undefined;
    if (a === undefined) {
      a = { family: n.family, owners: new Map(), timer: null };
      this.#ips.set(n.text, a);
    }
    a.owners.set(owner, interfaces === undefined ? null : [...interfaces]);
    if (n.family === 6) this.#syncAllMemberships();
    if (isNew) {
      this.#opts.logger.info({ op: 'announce', ip: n.text, owner }, 'announcing');
      this.#startBurst(n.text, a);
    }
  }

  /**
   * Removes `owner`'s hold on `ip`. When the last owner goes, the IP stops being answered at
   * once and pending gratuitous sends are cancelled.
   */
  withdraw(ip: string, owner: string): void {
    const n = normalizeIp(ip);
    if (n === null) return;
    const a = this.#ips.get(n.text);
    if (a === undefined || !a.owners.delete(owner)) return;
    if (a.owners.size > 0) {
      if (a.family === 6) this.#syncAllMemberships();
      return;
    }
    if (a.timer) clearTimeout(a.timer);
    a.timer = null;
    this.#ips.delete(n.text);
    if (a.family === 6) this.#syncAllMemberships();
    this.#opts.logger.info({ op: 'withdraw', ip: n.text, owner }, 'stopped announcing');
  }

  /** Restarts the gratuitous burst of an announced IP (e.g. after a membership change). */
  reannounce(ip: string): void {
    const n = normalizeIp(ip);
    const a = n === null ? undefined : this.#ips.get(n.text);
    if (n !== null && a !== undefined) this.#startBurst(n.text, a);
  }

  /** Whether some owner currently announces `ip` (on any interface). */
  isAnnounced(ip: string): boolean {
    const n = normalizeIp(ip);
    return n !== null && this.#ips.has(n.text);
  }

  /** The announced IPs, canonical text, sorted. */
  announcedIps(): string[] {
    return [...this.#ips.keys()].sort();
  }

  /** Names of interfaces with an open responder, as "arp/eth0", "ndp/eth0", sorted. */
  responders(): string[] {
    return [...this.#responders.keys()].sort();
  }

  /** A copy of the counters. */
  stats(): AnnouncerStats {
    return { ...this.#stats, drops: { ...this.#stats.drops } };
  }

  /** The lookup handed to the pure responder: announced, not at all, or not on this interface. */
  verdict(ip: string, ifname: string): AnnounceVerdict {
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
    for (const [key, r] of this.#responders) {
      const w = wanted.get(key);
      // A renamed, re-created or re-addressed link gets a fresh socket.
      if (w === undefined || w.iface.ifindex !== r.iface.ifindex || w.iface.mac !== r.iface.mac ||
        w.iface.linkLocal !== r.iface.linkLocal) {
        this.#closeResponder(key, r);
      }
    }
    for (const [key, w] of wanted) {
      if (!this.#responders.has(key)) this.#openResponder(key, w.iface, w.kind);
    }
    this.#syncAllMemberships();
  }

  /** Stops everything: timers cleared, sockets closed. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#rescanTimer) clearInterval(this.#rescanTimer);
    this.#rescanTimer = null;
    for (const a of this.#ips.values()) {
      if (a.timer) clearTimeout(a.timer);
      a.timer = null;
    }
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

  #portError(iface: string, family: 4 | 6, op: string, err: unknown): void {
    this.#stats.portErrors++;
    this.#count({ kind: 'portError', family, iface });
    this.#opts.logger.warn({ op, iface, family, err: errText(err) }, 'packet socket error');
  }

  #openResponder(key: string, iface: EligibleInterface, kind: PortKind): void {
    const family = kind === 'arp' ? 4 : 6;
    let port: PacketPort;
    try {
      port = this.#opts.openPort(iface, kind);
    } catch (err) {
      // Retried by the next rescan.
      this.#portError(iface.name, family, 'open', err);
      return;
    }
    const r: Responder = { iface, kind, port, groups: new Set() };
    this.#responders.set(key, r);
    port.onFrame((frame) => this.#onFrame(r, frame));
    this.#opts.logger.info({ op: 'open', iface: iface.name, kind }, 'responder started');
    if (kind === 'ndp') this.#syncMemberships(r);
    // A link that appears while we lead must learn our IPs without waiting for a refresh.
    for (const [ip, a] of this.#ips) {
      if (a.family === family && this.#allowedOn(a, iface.name)) this.#sendGratuitous(r, ip);
    }
  }

  #closeResponder(key: string, r: Responder): void {
    this.#responders.delete(key);
    try {
      r.port.close();
    } catch (err) {
      this.#opts.logger.warn({ op: 'close', iface: r.iface.name, err: errText(err) }, 'close failed');
    }
    this.#opts.logger.info({ op: 'close', iface: r.iface.name, kind: r.kind }, 'responder stopped');
  }

  #onFrame(r: Responder, frame: Uint8Array): void {
    if (this.#responders.get(`${r.kind}/${r.iface.name}`) !== r) return;
    const family = r.kind === 'arp' ? 4 : 6;
    this.#stats.requestsReceived++;
    this.#count({ kind: 'received', family, iface: r.iface.name });
    const lookup = (ip: string, ifname: string): AnnounceVerdict => this.verdict(ip, ifname);
    const d = r.kind === 'arp' ? decideArp(frame, r.iface, lookup) : decideNdp(frame, r.iface, lookup);
    if (d.action === 'drop') {
      this.#drop(r, d.reason);
      return;
    }
    try {
      r.port.send(d.frame);
    } catch (err) {
      this.#drop(r, 'sendFailed');
      this.#opts.logger.warn({ op: 'reply', iface: r.iface.name, ip: d.ip, err: errText(err) }, 'reply not sent');
      return;
    }
    this.#stats.repliesSent++;
    this.#count({ kind: 'reply', family, iface: r.iface.name });
  }

  #drop(r: Responder, reason: DropReason): void {
    this.#stats.drops[reason]++;
    this.#count({ kind: 'drop', family: r.kind === 'arp' ? 4 : 6, iface: r.iface.name, reason });
  }

  #startBurst(ip: string, a: Announced): void {
    if (a.timer) clearTimeout(a.timer);
    a.timer = null;
    this.#gratuitousRound(ip, a);
    this.#scheduleNext(ip, a, 0);
  }

  /** Schedules the round after round `k` of the burst, or the first refresh after the burst. */
  #scheduleNext(ip: string, a: Announced, k: number): void {
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

  #gratuitousRound(ip: string, a: Announced): void {
    const kind: PortKind = a.family === 4 ? 'arp' : 'ndp';
    for (const r of this.#responders.values()) {
      if (r.kind === kind && this.#allowedOn(a, r.iface.name)) this.#sendGratuitous(r, ip);
    }
  }

  #sendGratuitous(r: Responder, ip: string): void {
    const frames =
      r.kind === 'arp' ? gratuitousArpFrames(r.iface.mac, ip) : [unsolicitedNaFrame(r.iface.mac, r.iface.linkLocal ?? ip, ip)];
    for (const f of frames) {
      try {
        r.port.send(f);
      } catch (err) {
        this.#stats.gratuitousErrors++;
        this.#opts.logger.warn({ op: 'gratuitous', iface: r.iface.name, ip, err: errText(err) }, 'gratuitous not sent');
        continue;
      }
      this.#stats.gratuitousSent++;
      this.#count({ kind: 'gratuitous', family: r.kind === 'arp' ? 4 : 6, iface: r.iface.name });
    }
  }

  #syncAllMemberships(): void {
    for (const r of this.#responders.values()) if (r.kind === 'ndp') this.#syncMemberships(r);
  }

  /** Joins the solicited-node groups of the v6 IPs allowed on r's interface, leaves the rest. */
  #syncMemberships(r: Responder): void {
    const want = new Set<string>();
    for (const [ip, a] of this.#ips) {
      if (a.family === 6 && this.#allowedOn(a, r.iface.name)) want.add(ipv6MulticastMac(solicitedNodeMulticast(ip)));
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
    try {
      if (join) r.port.addMembership(mac);
      else r.port.dropMembership(mac);
      return true;
    } catch (err) {
      this.#portError(r.iface.name, 6, join ? `join ${mac}` : `leave ${mac}`, err);
      return false;
    }
  }
}
