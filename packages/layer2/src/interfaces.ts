// Which interfaces get responders. The selection is a pure function over plain records so it can
// be table-tested; readLinks() is the thin reader that fills those records from /sys and /proc.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { formatIPv6 } from './addr.js';

/** Linux IFF_UP. */
export const IFF_UP = 0x1;
/** Linux IFF_BROADCAST. */
export const IFF_BROADCAST = 0x2;
/** Linux IFF_LOOPBACK. */
export const IFF_LOOPBACK = 0x8;
/** Linux IFF_NOARP: the kernel does neither ARP nor neighbour discovery on this link. */
export const IFF_NOARP = 0x80;
/** ARPHRD_ETHER: the only link type whose frames our codecs build. */
export const ARPHRD_ETHER = 1;

/**
 * Default exclusion, after MetalLB's list: container, CNI, tunnel and virtual-bridge links are
 * never the node's LAN uplink, and answering ARP on them would leak VIPs into pod networks.
 */
export const DEFAULT_EXCLUDE = /^(docker|cbr|dummy|virbr|lxcbr|veth|lo$|cali|tunl|flannel|kube-ipvs|cni|vxlan\.calico|nodelocaldns|lxc)/;

/** The facts about one link that the selection needs, as read from /sys and /proc. */
export interface LinkRecord {
  /** Interface name. */
  readonly name: string;
  /** Kernel ifindex. */
  readonly ifindex: number;
  /** IFF_* flags (/sys/class/net/NAME/flags). */
  readonly flags: number;
  /** ARPHRD_* type (/sys/class/net/NAME/type). */
  readonly type: number;
  /** MAC address, or null when absent or not 6 bytes. */
  readonly mac: string | null;
  /** Name of the bridge/bond this link is enslaved to, or null. */
  readonly master: string | null;
  /** First IPv6 link-local address, or null when the link has none. */
  readonly linkLocal: string | null;
}

/** An interface a responder runs on. */
export interface EligibleInterface {
  /** Interface name. */
  readonly name: string;
  /** Kernel ifindex. */
  readonly ifindex: number;
  /** MAC replies and announcements are sent from. */
  readonly mac: string;
  /** Link-local source for unsolicited NAs; null on ARP-only interfaces. */
  readonly linkLocal: string | null;
}

/** Why an interface got no responder (or only an ARP one). */
export type SkipReason = 'notAllowed' | 'excluded' | 'down' | 'loopback' | 'notEthernet' | 'noMac' | 'enslaved' | 'noArp' | 'noBroadcast' | 'noLinkLocal';

/** Selection options. */
export interface SelectOptions {
  /** Names matching this are skipped; default DEFAULT_EXCLUDE. */
  readonly exclude?: RegExp;
  /** If set, only these names are considered, and the exclude regex does not apply to them. */
  readonly allow?: readonly string[];
}

/** The outcome of a selection: ARP and NDP candidates plus the reasons for everything left out. */
export interface Selection {
  /** Interfaces that get an ARP responder. */
  readonly arp: readonly EligibleInterface[];
  /** Interfaces that get an NDP responder. */
  readonly ndp: readonly EligibleInterface[];
  /** Per family, what was skipped and why (for logs). */
  readonly skipped: readonly { readonly name: string; readonly family: 4 | 6; readonly reason: SkipReason }[];
}

/** Pure: why a link name alone rules it out (allow list, exclusion), or null if it may be eligible. */
export function nameSkip(name: string, opts: SelectOptions = {}): 'notAllowed' | 'excluded' | null {
  if (opts.allow !== undefined) {
    // An explicit allow list is the operator's decision; the default exclusion would only get
    // in the way of e.g. a 'veth' uplink in a lab.
    return opts.allow.includes(name) ? null : 'notAllowed';
  }
  return (opts.exclude ?? DEFAULT_EXCLUDE).test(name) ? 'excluded' : null;
}

function commonSkip(l: LinkRecord, opts: SelectOptions): SkipReason | null {
  const byName = nameSkip(l.name, opts);
  if (byName !== null) return byName;
  if ((l.flags & IFF_UP) === 0) return 'down';
  if ((l.flags & IFF_LOOPBACK) !== 0) return 'loopback';
  if (l.type !== ARPHRD_ETHER) return 'notEthernet';
  if (l.mac === null) return 'noMac';
  // A bridge port or bond slave sees traffic the master answers for; a responder there would
  // reply with the wrong MAC.
  if (l.master !== null) return 'enslaved';
  if ((l.flags & IFF_NOARP) !== 0) return 'noArp';
  return null;
}

/** Pure: decides which links get an ARP and/or NDP responder, in input order. */
export function selectInterfaces(links: readonly LinkRecord[], opts: SelectOptions = {}): Selection {
  const arp: EligibleInterface[] = [];
  const ndp: EligibleInterface[] = [];
  const skipped: { name: string; family: 4 | 6; reason: SkipReason }[] = [];
  for (const l of links) {
    const common = commonSkip(l, opts);
    if (common !== null || l.mac === null) {
      const reason = common ?? 'noMac';
      skipped.push({ name: l.name, family: 4, reason }, { name: l.name, family: 6, reason });
      continue;
    }
    const e: EligibleInterface = { name: l.name, ifindex: l.ifindex, mac: l.mac, linkLocal: l.linkLocal };
    if ((l.flags & IFF_BROADCAST) === 0) skipped.push({ name: l.name, family: 4, reason: 'noBroadcast' });
    else arp.push(e);
    // Without a link-local address there is no valid source for unsolicited NAs (MetalLB #1507).
    if (l.linkLocal === null) skipped.push({ name: l.name, family: 6, reason: 'noLinkLocal' });
    else ndp.push(e);
  }
  return { arp, ndp, skipped };
}

/**
 * Parses /proc/net/if_inet6 into ifname → first link-local address. Lines are
 * "fe800000000000000000000000000001 02 40 20 80 eth0": address, ifindex, prefix length,
 * scope (0x20 = link), flags, name.
 */
export function parseIfInet6(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6) continue;
    const [hex, , , scope, , name] = f;
    if (hex === undefined || name === undefined || scope === undefined || !/^[0-9a-f]{32}$/i.test(hex)) continue;
    if (parseInt(scope, 16) !== 0x20 || out.has(name)) continue;
    out.set(name, formatIPv6(Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16))));
  }
  return out;
}

function readTrim(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Reads every link from `sysNet` (/sys/class/net) and `ifInet6` (/proc/net/if_inet6). */
export function readLinks(sysNet = '/sys/class/net', ifInet6 = '/proc/net/if_inet6'): LinkRecord[] {
  const linkLocals = parseIfInet6(readTrim(ifInet6) ?? '');
  const out: LinkRecord[] = [];
  let names: string[];
  try {
    names = readdirSync(sysNet);
  } catch (err) {
    throw new Error(`cannot list ${sysNet}`, { cause: err });
  }
  for (const name of names.sort()) {
    const dir = join(sysNet, name);
    const ifindex = Number(readTrim(join(dir, 'ifindex')));
    const flags = Number(readTrim(join(dir, 'flags')));
    const type = Number(readTrim(join(dir, 'type')));
    // A link can vanish between readdir and these reads; skip it rather than fail the scan.
    if (!Number.isInteger(ifindex) || ifindex <= 0 || !Number.isInteger(flags)) continue;
    const addr = readTrim(join(dir, 'address'));
    const mac = addr !== null && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(addr) ? addr.toLowerCase() : null;
    out.push({
      name,
      ifindex,
      flags,
      type,
      mac,
      master: masterName(dir),
      linkLocal: linkLocals.get(name) ?? null,
    });
  }
  return out;
}

function masterName(dir: string): string | null {
  try {
    return basename(readlinkSync(join(dir, 'master')));
  } catch {
    return null;
  }
}
