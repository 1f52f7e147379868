/**
 * The IP allocator (MetalLB `internal/allocator` semantics), in memory and free of I/O.
 * Service status is the source of truth: after a restart the caller re-admits existing IPs
 * with `assign` before it `allocate`s for pending services, so nobody steals an in-use IP.
 */
import type { Config, Pool } from './config.js';
import { countBuggy, familyName, formatIP, isBuggyIP, parseIP, quote, rangeSize, type Family, type IP, type IPRange } from './ip.js';
import { type Labels, formatSelector, matchesAny } from './selector.js';

/** Kubernetes `spec.ipFamilyPolicy`. */
export type IPFamilyPolicy = 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';

/** L4 protocol of a service port. */
export type PortProtocol = 'TCP' | 'UDP' | 'SCTP';

/** One service port as far as IP sharing cares. */
export interface ServicePort {
  readonly protocol: PortProtocol;
  readonly port: number;
}

/** The domain record the allocator works on, built by a tiny adapter from a V1Service. */
export interface ServiceRecord {
  /** "namespace/name". */
  readonly key: string;
  /** `spec.ipFamilies`, primary first. */
  readonly families: readonly Family[];
  readonly familyPolicy: IPFamilyPolicy;
  readonly ports: readonly ServicePort[];
  /** `allow-shared-ip` annotation; absent or "" means the IP is not shared. */
  readonly sharingKey?: string;
  /** "" for externalTrafficPolicy Cluster, the pod selector as a label string for Local. */
  readonly backendKey?: string;
  /** From spec.loadBalancerIP or the loadBalancerIPs annotation; [] when none. */
  readonly requestedIPs: readonly string[];
  /** The address-pool annotation. */
  readonly requestedPool?: string;
  /** The Service's namespace (default: the part of `key` before "/"); pools' serviceAllocation reads it. */
  readonly namespace?: string;
  /** The Service's labels (serviceAllocation.serviceSelectors). */
  readonly labels?: Labels;
  /** Its namespace's labels (serviceAllocation.namespaceSelectors). */
  readonly namespaceLabels?: Labels;
}

/** A service's current allocation: a live read-only view (a re-homed allocation shows its new pool). */
export interface Allocation {
  readonly key: string;
  readonly pool: string;
  /** Primary family first; format with `formatIP`, or use `addresses`. */
  readonly ips: readonly IP[];
  /** `ips` as canonical text (what goes into status.loadBalancer.ingress). */
  readonly addresses: readonly string[];
}

/** Typed reasons an allocation or assignment fails. */
export type AllocationFailureReason =
  | 'poolExhausted'
  | 'ipNotInPool'
  | 'ipInUse'
  | 'familyMismatch'
  | 'unknownPool'
  | 'poolLacksFamily'
  | 'requestedIPPoolConflict'
  | 'requestedIPsInDifferentPools'
  | 'buggyIP'
  /** The pool's serviceAllocation does not serve this Service (namespace or labels). */
  | 'poolNotAllowed'
  | 'invalidIP'
  | 'requestMismatch';

/** Why an in-use IP could not be shared. */
export type SharingConflict = 'notShared' | 'differentSharingKey' | 'portConflict' | 'backendKeysDiffer';

/** A failure: the reason, a message fit for a Kubernetes Event, and context. */
export interface AllocationFailure {
  readonly reason: AllocationFailureReason;
  readonly message: string;
  readonly ip?: string;
  readonly pool?: string;
  /** For ipInUse: the service holding the IP and why it cannot share. */
  readonly holder?: string;
  readonly conflict?: SharingConflict;
}

/**
 * Result of `allocate` / `assign`. `ruleMismatch` is set when the Service kept IPs it already
 * held although its pool's serviceAllocation no longer serves it (labels or rules changed):
 * rules decide new allocations only, so nothing moves behind the user's back; the caller warns.
 */
export type AllocationResult = { readonly ok: true; readonly allocation: Allocation; readonly ruleMismatch?: AllocationFailure } | { readonly ok: false; readonly failure: AllocationFailure };

/** Per-pool usage, for IPAddressPool-like status and metrics. */
export interface PoolStats {
  readonly pool: string;
  /** Allocatable addresses (buggy ones excluded when the pool avoids them). */
  readonly total: bigint;
  readonly totalV4: bigint;
  readonly totalV6: bigint;
  /** Distinct IPs in use (a shared IP counts once). */
  readonly inUse: number;
  readonly inUseV4: number;
  readonly inUseV6: number;
  readonly servicesAllocated: number;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Key of an address inside its range: the offset as a number (fast Map key), as text past 2^53. */
type SlotKey = number | string;

function slotKey(offset: bigint): SlotKey {
  // BigInt Map keys cost ~5x number keys in V8, and this is the hot path.
  return offset <= MAX_SAFE ? Number(offset) : offset.toString();
}

/**
 * One service's allocation as the allocator keeps it; it is also the `Allocation` handed out
 * (one object per service keeps 100k allocations small), so callers see a live, read-only view.
 */
class Holder implements Allocation {
  private text: readonly string[] | undefined;
  constructor(
    readonly key: string,
    public home: PoolState,
    readonly ips: readonly IP[],
    public ports: readonly ServicePort[],
    public sharingKey: string,
    public backendKey: string,
  ) {}

  get pool(): string {
    return this.home.pool.name;
  }

  // Formatting IPv6 text costs about as much as the allocation itself, so it is done on demand.
  get addresses(): readonly string[] {
    this.text ??= Object.freeze(this.ips.map(formatIP));
    return this.text;
  }

  // `home` links into the allocator's state (cyclic, huge): logs and JSON see only the view.
  toJSON(): { key: string; pool: string; addresses: readonly string[] } {
    return { key: this.key, pool: this.pool, addresses: this.addresses };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): { key: string; pool: string; addresses: readonly string[] } {
    return this.toJSON();
  }
}

/** The services on one IP: the holder itself when alone (the common case), else a list. */
type Slot = Holder | Holder[];

function slotHolders(slot: Slot): readonly Holder[] {
  return Array.isArray(slot) ? slot : [slot];
}

/**
 * Allocation state of one configured range. Invariant: every offset below `cursor` is in use,
 * is a skipped buggy address, or sits in the `freed` min-heap. So the lowest free address is
 * the heap's top if any, else the first unused offset at or after the cursor, and allocation
 * never rescans from the start of a huge range (only once after `setConfig`, which rebuilds
 * ranges with the cursor at 0 and skips the in-use addresses on the first pass).
 */
class RangeState {
  readonly family: Family;
  readonly first: bigint;
  readonly last: bigint;
  /** Offsets the cursor may reach: min(size, 2^53); beyond that only explicit requests land. */
  readonly limit: number;
  readonly firstLow: number;
  readonly used = new Map<SlotKey, Slot>();
  readonly freed: number[] = [];
  cursor = 0;

  constructor(
    r: IPRange,
    readonly pool: PoolState,
  ) {
    this.family = r.family;
    this.first = r.first;
    this.last = r.last;
    const size = rangeSize(r);
    this.limit = Number(size > MAX_SAFE ? MAX_SAFE : size);
    this.firstLow = Number(r.first & 0xffn);
  }

  contains(ip: IP): boolean {
    return ip.family === this.family && ip.value >= this.first && ip.value <= this.last;
  }

  private skipsOffset(offset: number): boolean {
    if (!this.pool.pool.avoidBuggyIPs || this.family !== 'ipv4') return false;
    const low = (this.firstLow + offset) % 256;
    return low === 0 || low === 255;
  }

  /** Lowest free offset, or undefined when the range is full. Only drops stale bookkeeping. */
  peekFree(): number | undefined {
    const heap = this.freed;
    while (heap.length > 0) {
      const top = heap[0] as number;
      if (!this.used.has(top)) return top;
      heapPop(heap); // taken by an explicit request since it was freed
    }
    let c = this.cursor;
    while (c < this.limit && (this.used.has(c) || this.skipsOffset(c))) c++;
    this.cursor = c;
    return c < this.limit ? c : undefined;
  }

  /** Records that the address at `offset` left its last user. */
  noteFreed(key: SlotKey): void {
    if (typeof key === 'number' && key < this.cursor && !this.skipsOffset(key)) heapPush(this.freed, key);
  }
}

/** A configured pool plus usage counters. */
class PoolState {
  readonly ranges: RangeState[] = [];
  readonly totalV4: bigint;
  readonly totalV6: bigint;
  inUseV4 = 0;
  inUseV6 = 0;
  services = 0;

  constructor(readonly pool: Pool) {
    let v4 = 0n;
    let v6 = 0n;
    for (const r of pool.addresses) {
      this.ranges.push(new RangeState(r, this));
      const n = rangeSize(r) - (pool.avoidBuggyIPs ? countBuggy(r) : 0n);
      if (r.family === 'ipv4') v4 += n;
      else v6 += n;
    }
    this.totalV4 = v4;
    this.totalV6 = v6;
  }

  hasFamily(f: Family): boolean {
    return this.ranges.some((r) => r.family === f);
  }
}

const NOTHING_SHAREABLE: ReadonlyMap<RangeState, IP[]> = new Map();

/** An address picked for a service but not yet committed. */
interface Pick {
  readonly range: RangeState;
  readonly ip: IP;
  /** `slotKey(ip.value - range.first)`, computed once. */
  readonly key: SlotKey;
}

function samePicks(ips: readonly IP[], picks: readonly Pick[]): boolean {
  if (ips.length !== picks.length) return false;
  for (let i = 0; i < ips.length; i++) {
    const a = ips[i] as IP;
    const b = (picks[i] as Pick).ip;
    if (a.family !== b.family || a.value !== b.value) return false;
  }
  return true;
}

type Failure = { readonly ok: false; readonly failure: AllocationFailure };

function fail(reason: AllocationFailureReason, message: string, extra: Omit<AllocationFailure, 'reason' | 'message'> = {}): Failure {
  return { ok: false, failure: { reason, message, ...extra } };
}

function portText(p: ServicePort): string {
  return `${p.protocol}/${p.port}`;
}

/**
 * In-memory allocator with MetalLB semantics: first free address, lowest first, pools in config
 * order; sharing by key; dual-stack from one pool. Create one per controller process; on start,
 * `assign` every service that already has IPs before `allocate`-ing pending ones.
 */
export class Allocator {
  private pools: PoolState[] = [];
  /** Auto-assign pools without serviceAllocation, in config order (tried after the pinned ones). */
  private autoPools: PoolState[] = [];
  /** Auto-assign pools with serviceAllocation, by priority (1 first, 0 last), ties in config order. */
  private pinnedPools: PoolState[] = [];
  private readonly poolByName = new Map<string, PoolState>();
  private readonly allocations = new Map<string, Holder>();
  /** Holders by non-empty sharing key, to find shareable IPs without scanning every IP. */
  private readonly bySharingKey = new Map<string, Set<Holder>>();
  /** Ranges of each family sorted by start, for a binary search from IP to range. */
  private byStart: Record<Family, RangeState[]> = { ipv4: [], ipv6: [] };
  /** False if some ranges overlap (only a hand-made Config can do that): search linearly then. */
  private disjoint = true;

  /** Starts with `config` (default: no pools). The config object is never mutated. */
  constructor(config?: Config) {
    if (config !== undefined) this.setConfig(config);
  }

  /**
   * Replaces the config. Allocations still inside some pool are kept (and re-homed if their pool
   * changed); the others are released and their keys returned so the caller can re-allocate them
   * and warn the user (MetalLB v0.14+ behaviour, instead of refusing the config as v0.12 did).
   */
  setConfig(config: Config): string[] {
    this.pools = config.pools.map((p) => new PoolState(p));
    this.autoPools = this.pools.filter((p) => p.pool.autoAssign && p.pool.serviceAllocation === undefined);
    const rank = (p: PoolState): number => {
      const pr = p.pool.serviceAllocation?.priority ?? 0;
      return pr > 0 ? pr : Number.MAX_SAFE_INTEGER;
    };
    // Array.prototype.sort is stable: equal priorities keep config order (MetalLB: random).
    // A serviceAllocation that names no namespace and no selector (only a priority, or {}) pins
    // the pool to nobody: MetalLB then never auto-assigns from it (it is in neither its by-namespace
    // nor its by-selector index, and pools with serviceAllocation are left out of the general list),
    // so it serves explicit requests only, like autoAssign: false.
    this.pinnedPools = this.pools.filter((p) => p.pool.autoAssign && p.pool.serviceAllocation !== undefined && selectsAnything(p.pool)).sort((a, b) => rank(a) - rank(b));
    this.indexRanges();
    this.poolByName.clear();
    for (const p of this.pools) this.poolByName.set(p.pool.name, p);
    const released: string[] = [];
    for (const h of [...this.allocations.values()]) {
      const ranges = h.ips.map((ip) => this.rangeOf(ip));
      const pool = ranges[0]?.pool;
      if (pool === undefined || ranges.some((r) => r?.pool !== pool)) {
        this.forget(h);
        released.push(h.key);
        continue;
      }
      h.home = pool; // re-homed when the IPs now belong to another pool
      this.occupy(h);
    }
    return released;
  }

  /**
   * Re-admits an allocation the service already has (restart/resync: service status is the
   * source of truth). Checks parsing, families, pool membership, the service's requested IPs and
   * pool, and sharing. Idempotent for the same service; on failure the previous allocation of
   * the service, if any, is left untouched.
   */
  assign(svc: ServiceRecord, ips: readonly string[]): AllocationResult {
    const parsed = this.parseIPs(svc, ips);
    if (!parsed.ok) return parsed;
    if (svc.requestedIPs.length > 0) {
      const req = this.parseIPs(svc, svc.requestedIPs);
      if (!req.ok) return req;
      const want = new Set(req.ips.map((ip) => `${ip.family}/${ip.value}`));
      const have = parsed.ips.map((ip) => `${ip.family}/${ip.value}`);
      if (have.length !== want.size || have.some((k) => !want.has(k))) {
        return fail('requestMismatch', `service requests ${req.ips.map(formatIP).join(', ')} but holds ${parsed.ips.map(formatIP).join(', ')}`);
      }
    }
    // IPs a Service already holds stay while they are in a pool: serviceAllocation decides new
    // allocations only (a label edit must never move hundreds of IPs past the mass-release guard).
    return this.admit(svc, parsed.ips, true);
  }

  /**
   * Gives the service IPs: its current ones when they still satisfy the request, else the
   * requested IPs, else the first free ones from the requested pool or from the auto-assign
   * pools in config order. On failure the service holds nothing.
   */
  allocate(svc: ServiceRecord): AllocationResult {
    const current = this.allocations.get(svc.key);
    if (current !== undefined) {
      const again = this.assign(svc, current.addresses);
      if (again.ok) return again;
      this.release(svc.key);
    }
    const fam = checkServiceFamilies(svc);
    if (fam !== null) return fam;

    if (svc.requestedIPs.length > 0) {
      const parsed = this.parseIPs(svc, svc.requestedIPs);
      if (!parsed.ok) return parsed;
      return this.admit(svc, parsed.ips, false);
    }

    if (svc.requestedPool !== undefined && svc.requestedPool !== '') {
      const pool = this.poolByName.get(svc.requestedPool);
      if (pool === undefined) {
        return fail('unknownPool', `unknown pool "${svc.requestedPool}"`, { pool: svc.requestedPool });
      }
      const refused = notAllowed(pool.pool, svc);
      if (refused !== null) return refused;
      if (svc.familyPolicy === 'RequireDualStack' && (!pool.hasFamily('ipv4') || !pool.hasFamily('ipv6'))) {
        const missing = pool.hasFamily('ipv4') ? 'IPv6' : 'IPv4';
        return fail('poolLacksFamily', `pool "${pool.pool.name}" has no ${missing} addresses, needed for RequireDualStack`, {
          pool: pool.pool.name,
        });
      }
      const primary = svc.families[0] as Family;
      if (svc.familyPolicy === 'SingleStack' && !pool.hasFamily(primary)) {
        return fail('poolLacksFamily', `pool "${pool.pool.name}" has no ${familyName(primary)} addresses`, { pool: pool.pool.name });
      }
      if (!svc.families.some((f) => pool.hasFamily(f))) {
        return fail('poolLacksFamily', `pool "${pool.pool.name}" has no ${svc.families.map(familyName).join(' or ')} addresses`, {
          pool: pool.pool.name,
        });
      }
      for (const want of wantedFamilySets(svc)) {
        const picks = this.pickAll(pool, want, svc);
        if (picks !== null) return this.commit(svc, pool, picks);
      }
      return fail('poolExhausted', `no available IPs in pool "${pool.pool.name}"`, { pool: pool.pool.name });
    }

    // MetalLB: first the pinned pools that serve this Service, by priority; then every other
    // auto-assign pool. In each list the most wanted family set is tried in every pool before
    // settling for less (PreferDualStack: both families from one pool if any pool can, else one).
    const pinned = this.pinnedPools.length === 0 ? this.pinnedPools : this.pinnedPools.filter((p) => notAllowed(p.pool, svc) === null);
    for (const list of [pinned, this.autoPools]) {
      for (const want of wantedFamilySets(svc)) {
        for (const pool of list) {
          const picks = this.pickAll(pool, want, svc);
          if (picks !== null) return this.commit(svc, pool, picks);
        }
      }
    }
    const auto = pinned.length === 0 ? this.autoPools : [...pinned, ...this.autoPools];
    if (svc.familyPolicy === 'RequireDualStack' && !auto.some((p) => p.hasFamily('ipv4') && p.hasFamily('ipv6'))) {
      return fail('poolLacksFamily', 'no auto-assign pool has both IPv4 and IPv6 addresses, needed for RequireDualStack');
    }
    if (!auto.some((p) => svc.families.some((f) => p.hasFamily(f)))) {
      return fail('poolExhausted', `no available IPs (no auto-assign pool has ${svc.families.map(familyName).join(' or ')} addresses)`);
    }
    return fail('poolExhausted', 'no available IPs');
  }

  /** Frees whatever the service holds; returns whether it held anything. */
  release(key: string): boolean {
    const h = this.allocations.get(key);
    if (h === undefined) return false;
    this.vacate(h);
    this.forget(h);
    return true;
  }

  /** The service's allocation, if any. */
  allocationOf(key: string): Allocation | undefined {
    return this.allocations.get(key);
  }

  /** Every service key holding IPs, in allocation order. */
  allocatedKeys(): string[] {
    return [...this.allocations.keys()];
  }

  /** The service keys using an IP (several when shared); [] when free or not parseable. */
  usersOf(ip: string): string[] {
    const parsed = parseIP(ip);
    if (parsed === null) return [];
    const r = this.rangeOf(parsed);
    const slot = r?.used.get(slotKey(parsed.value - r.first));
    return slot === undefined ? [] : slotHolders(slot).map((h) => h.key);
  }

  /** The name of the pool containing an IP, if any. */
  poolOf(ip: string): string | undefined {
    const parsed = parseIP(ip);
    return parsed === null ? undefined : this.rangeOf(parsed)?.pool.pool.name;
  }

  /**
   * The auto-assign pools whose serviceAllocation serves `svc` and that have one of its families,
   * in the order `allocate` tries them (free space not checked): where a new allocation would
   * look first. For messages that tell a user which pool to ask for.
   */
  servingPools(svc: ServiceRecord): string[] {
    const pinned = this.pinnedPools.filter((p) => notAllowed(p.pool, svc) === null);
    return [...pinned, ...this.autoPools].filter((p) => svc.families.some((f) => p.hasFamily(f))).map((p) => p.pool.name);
  }

  /** Usage of one pool, or undefined for an unknown pool. */
  poolStats(pool: string): PoolStats | undefined {
    const p = this.poolByName.get(pool);
    return p === undefined ? undefined : stats(p);
  }

  /** Usage of every pool, in config order. */
  allPoolStats(): PoolStats[] {
    return this.pools.map(stats);
  }

  // ---- internals -------------------------------------------------------------------------

  /**
   * The range holding an IP: a binary search over the ranges of its family (parseConfig
   * guarantees they are disjoint), so a config with hundreds of pools costs O(log n) per lookup
   * instead of a scan of every range on every allocation, release and status re-admission.
   */
  private rangeOf(ip: IP): RangeState | undefined {
    if (!this.disjoint) {
      for (const p of this.pools) for (const r of p.ranges) if (r.contains(ip)) return r;
      return undefined;
    }
    const sorted = this.byStart[ip.family];
    let lo = 0;
    let hi = sorted.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = sorted[mid] as RangeState;
      if (ip.value < r.first) hi = mid - 1;
      else if (ip.value > r.last) lo = mid + 1;
      else return r;
    }
    return undefined;
  }

  private indexRanges(): void {
    this.byStart = { ipv4: [], ipv6: [] };
    for (const p of this.pools) for (const r of p.ranges) this.byStart[r.family].push(r);
    this.disjoint = true;
    for (const list of Object.values(this.byStart)) {
      list.sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
      for (let i = 1; i < list.length; i++) if ((list[i] as RangeState).first <= (list[i - 1] as RangeState).last) this.disjoint = false;
    }
  }

  private parseIPs(svc: ServiceRecord, texts: readonly string[]): { ok: true; ips: IP[] } | Failure {
    if (texts.length === 0) return fail('invalidIP', 'no IPs given');
    const ips: IP[] = [];
    for (const t of texts) {
      const ip = parseIP(t.trim());
      if (ip === null) return fail('invalidIP', `${quote(t)} is not a valid IP address`, { ip: t.slice(0, 64) });
      // As in pools: one address, one spelling. MetalLB's To4() would quietly hand out the IPv4
      // address, so status would not show what was asked for.
      if (ip.family === 'ipv6' && ip.value >> 32n === 0xffffn) {
        const v4 = formatIP({ family: 'ipv4', value: ip.value & 0xffffffffn });
        return fail('invalidIP', `${quote(t)} is an IPv4-mapped IPv6 address: request the IPv4 form ${v4}`, { ip: t.slice(0, 64) });
      }
      ips.push(ip);
    }
    const fam = checkServiceFamilies(svc);
    if (fam !== null) return fam;
    const seen = new Set<Family>();
    for (const ip of ips) {
      const text = formatIP(ip);
      if (!svc.families.includes(ip.family)) {
        return fail('familyMismatch', `IP ${text} is ${familyName(ip.family)} but the service is ${svc.families.map(familyName).join('/')} only`, {
          ip: text,
        });
      }
      if (seen.has(ip.family)) {
        return fail('familyMismatch', `more than one ${familyName(ip.family)} address given (${texts.slice(0, 4).join(', ')})`, { ip: text });
      }
      seen.add(ip.family);
    }
    if (svc.familyPolicy === 'SingleStack' && ips[0]?.family !== svc.families[0]) {
      return fail('familyMismatch', `SingleStack ${familyName(svc.families[0] as Family)} service cannot use ${texts.join(', ')}`);
    }
    if (svc.familyPolicy === 'RequireDualStack' && ips.length !== 2) {
      return fail('familyMismatch', `RequireDualStack service needs an IPv4 and an IPv6 address, got ${texts.join(', ')}`);
    }
    // Primary family first, as Kubernetes orders status ingress.
    ips.sort((a, b) => svc.families.indexOf(a.family) - svc.families.indexOf(b.family));
    return { ok: true, ips };
  }

  /**
   * Places `svc` on exactly `ips` (explicit request or re-admission) after checking every rule;
   * `held`: the Service already holds them, so a serviceAllocation mismatch is reported, not refused.
   */
  private admit(svc: ServiceRecord, ips: readonly IP[], held: boolean): AllocationResult {
    const picks: Pick[] = [];
    for (const ip of ips) {
      const r = this.rangeOf(ip);
      const text = formatIP(ip);
      if (r === undefined) return fail('ipNotInPool', `IP ${text} is not in any pool`, { ip: text });
      picks.push({ range: r, ip, key: slotKey(ip.value - r.first) });
    }
    const pool = (picks[0] as Pick).range.pool;
    const name = pool.pool.name;
    const other = picks.find((p) => p.range.pool !== pool);
    if (other !== undefined) {
      return fail('requestedIPsInDifferentPools', `IPs ${ips.map(formatIP).join(', ')} are in different pools ("${name}", "${other.range.pool.pool.name}")`, {
        pool: name,
      });
    }
    if (svc.requestedPool !== undefined && svc.requestedPool !== '' && svc.requestedPool !== name) {
      const ipText = ips.map(formatIP).join(', ');
      if (svc.requestedIPs.length > 0) {
        return fail('requestedIPPoolConflict', `requested IP ${ipText} is in pool "${name}", not in the requested pool "${svc.requestedPool}"`, {
          ip: ipText,
          pool: svc.requestedPool,
        });
      }
      return fail('requestMismatch', `service requests pool "${svc.requestedPool}" but holds ${ipText} from pool "${name}"`, {
        ip: ipText,
        pool: svc.requestedPool,
      });
    }
    const refused = notAllowed(pool.pool, svc);
    if (refused !== null && !held) return refused;
    for (const p of picks) {
      if (pool.pool.avoidBuggyIPs && isBuggyIP(p.ip)) {
        const text = formatIP(p.ip);
        return fail('buggyIP', `IP ${text} ends in .0 or .255 and pool "${name}" has avoid-buggy-ips set`, { ip: text, pool: name });
      }
      const blocked = this.conflict(p, svc);
      if (blocked !== null) return blocked;
    }
    const done = this.commit(svc, pool, picks);
    return refused === null || !done.ok ? done : { ...done, ruleMismatch: refused.failure };
  }

  /** Why `svc` cannot sit on the picked IP, or null if it can (free, its own, or shareable). */
  private conflict(p: Pick, svc: ServiceRecord): Failure | null {
    const slot = p.range.used.get(slotKey(p.ip.value - p.range.first));
    if (slot === undefined) return null;
    const reason = sharingConflict(slot, svc);
    if (reason === null) return null;
    const text = formatIP(p.ip);
    const why: Record<SharingConflict, string> = {
      notShared: 'not shared: both services need the same allow-shared-ip key',
      differentSharingKey: 'different sharing key',
      portConflict: `port conflict on ${reason.port === undefined ? '?' : portText(reason.port)}`,
      backendKeysDiffer: 'backend keys differ: Local services need identical selectors and Local never shares with Cluster',
    };
    return fail('ipInUse', `IP ${text} is in use by ${reason.holder} (${why[reason.conflict]})`, {
      ip: text,
      pool: p.range.pool.pool.name,
      holder: reason.holder,
      conflict: reason.conflict,
    });
  }

  /** One address per wanted family from `pool`, or null if any family cannot be served. */
  private pickAll(pool: PoolState, want: readonly Family[], svc: ServiceRecord): Pick[] | null {
    const picks: Pick[] = [];
    for (let i = 0; i < want.length; i++) {
      const p = this.pickIn(pool, want[i] as Family, svc);
      if (p === null) return null;
      picks.push(p);
    }
    return picks;
  }

  /** First usable address of family `f` in `pool`: ranges in config order, lowest first in each. */
  private pickIn(pool: PoolState, f: Family, svc: ServiceRecord): Pick | null {
    const shareable = this.shareableIn(pool, f, svc);
    const ranges = pool.ranges;
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i] as RangeState;
      if (r.family !== f) continue;
      const off = r.peekFree();
      let best: IP | undefined = off === undefined ? undefined : { family: f, value: r.first + BigInt(off) };
      let shared = false;
      if (shareable.size > 0) {
        for (const ip of shareable.get(r) ?? []) {
          if (best !== undefined && ip.value >= best.value) continue;
          best = ip;
          shared = true;
        }
      }
      if (best !== undefined) return { range: r, ip: best, key: shared || off === undefined ? slotKey(best.value - r.first) : off };
    }
    return null;
  }

  /** In-use IPs of family `f` in `pool` that `svc` could share, grouped by range. */
  private shareableIn(pool: PoolState, f: Family, svc: ServiceRecord): ReadonlyMap<RangeState, IP[]> {
    if (svc.sharingKey === undefined || svc.sharingKey === '') return NOTHING_SHAREABLE;
    const out = new Map<RangeState, IP[]>();
    for (const h of this.bySharingKey.get(svc.sharingKey) ?? []) {
      if (h.key === svc.key) continue;
      if (h.home !== pool) continue;
      for (const ip of h.ips) {
        const r = ip.family === f ? this.rangeOf(ip) : undefined;
        if (r === undefined) continue;
        const slot = r.used.get(slotKey(ip.value - r.first));
        if (slot === undefined || sharingConflict(slot, svc) !== null) continue;
        const list = out.get(r) ?? [];
        list.push(ip);
        out.set(r, list);
      }
    }
    return out;
  }

  private commit(svc: ServiceRecord, pool: PoolState, picks: readonly Pick[]): AllocationResult {
    const old = this.allocations.get(svc.key);
    if (old !== undefined && old.home === pool && samePicks(old.ips, picks)) {
      // Idempotent re-admission: refresh what sharing looks at (ports, key, backend).
      this.unindex(old);
      old.ports = svc.ports;
      old.sharingKey = svc.sharingKey ?? '';
      old.backendKey = svc.backendKey ?? '';
      this.index(old);
      return { ok: true, allocation: old };
    }
    if (old !== undefined) this.release(svc.key);
    const ips = picks.length === 1 ? [(picks[0] as Pick).ip] : picks.map((p) => p.ip);
    const h = new Holder(svc.key, pool, ips, svc.ports, svc.sharingKey ?? '', svc.backendKey ?? '');
    this.allocations.set(svc.key, h);
    this.index(h);
    this.occupy(h, picks);
    return { ok: true, allocation: h };
  }

  /** Puts the holder on its IPs' slots and counts them; `picks` (same order as ips) saves lookups. */
  private occupy(h: Holder, picks?: readonly Pick[]): void {
    h.home.services++;
    for (let i = 0; i < h.ips.length; i++) {
      const ip = h.ips[i] as IP;
      const pick = picks?.[i];
      const r = pick?.range ?? this.rangeOf(ip);
      if (r === undefined) continue; // unreachable: callers place holders inside pools
      const key = pick?.key ?? slotKey(ip.value - r.first);
      const slot = r.used.get(key);
      if (slot !== undefined) {
        r.used.set(key, [...slotHolders(slot), h]);
        continue;
      }
      r.used.set(key, h);
      if (r.freed[0] === key) heapPop(r.freed);
      if (ip.family === 'ipv4') r.pool.inUseV4++;
      else r.pool.inUseV6++;
    }
  }

  /** Takes the holder off its IPs' slots; an IP left without users becomes free. */
  private vacate(h: Holder): void {
    h.home.services--;
    for (const ip of h.ips) {
      const r = this.rangeOf(ip);
      if (r === undefined) continue;
      const key = slotKey(ip.value - r.first);
      const slot = r.used.get(key);
      if (slot === undefined) continue;
      if (slot !== h) {
        const rest = slotHolders(slot).filter((x) => x !== h);
        if (rest.length > 0) {
          r.used.set(key, rest.length === 1 ? (rest[0] as Holder) : rest);
          continue;
        }
      }
      r.used.delete(key);
      r.noteFreed(key);
      if (ip.family === 'ipv4') r.pool.inUseV4--;
      else r.pool.inUseV6--;
    }
  }

  private forget(h: Holder): void {
    this.allocations.delete(h.key);
    this.unindex(h);
  }

  private index(h: Holder): void {
    if (h.sharingKey === '') return;
    let set = this.bySharingKey.get(h.sharingKey);
    if (set === undefined) this.bySharingKey.set(h.sharingKey, (set = new Set()));
    set.add(h);
  }

  private unindex(h: Holder): void {
    if (h.sharingKey === '') return;
    const set = this.bySharingKey.get(h.sharingKey);
    if (set === undefined) return;
    set.delete(h);
    if (set.size === 0) this.bySharingKey.delete(h.sharingKey);
  }
}

/** True when the pool's serviceAllocation names a namespace or has a selector (it pins the pool to someone). */
function selectsAnything(pool: Pool): boolean {
  const sa = pool.serviceAllocation;
  return sa !== undefined && (sa.namespaces.length > 0 || sa.namespaceSelectors.length > 0 || sa.serviceSelectors.length > 0);
}

/** Up to `n` items joined, "and N more" past that: messages quote user input, so they stay bounded. */
function few(items: readonly string[], n = 3): string {
  return items.slice(0, n).join('; ') + (items.length > n ? ` and ${items.length - n} more` : '');
}

/**
 * Why the pool's serviceAllocation does not serve `svc`, or null when it does (no allocation set;
 * the namespace is listed or selected, when namespaces are restricted; a service selector matches,
 * when services are). MetalLB's isPoolCompatibleWithService. It gates new allocations, requested
 * IPs and requested pools; IPs a Service already holds stay (`admit` with `held`).
 * The message names the pool, the rule that does not match, and how to make it match.
 */
function notAllowed(pool: Pool, svc: ServiceRecord): Failure | null {
  const sa = pool.serviceAllocation;
  if (sa === undefined) return null;
  const ns = svc.namespace ?? svc.key.slice(0, Math.max(0, svc.key.indexOf('/')));
  const name = quote(pool.name);
  if (sa.namespaces.length > 0 || sa.namespaceSelectors.length > 0) {
    const listed = sa.namespaces.includes(ns);
    const selected = sa.namespaceSelectors.length > 0 && matchesAny(sa.namespaceSelectors, svc.namespaceLabels ?? {});
    if (!listed && !selected) {
      const rules: string[] = [];
      if (sa.namespaces.length > 0)
        rules.push(
          `namespaces [${few(
            sa.namespaces.map((n) => quote(n, 63)),
            5,
          )}]`,
        );
      if (sa.namespaceSelectors.length > 0) rules.push(`namespaceSelectors [${few(sa.namespaceSelectors.map((x) => quote(formatSelector(x), 80)))}]`);
      const fix = sa.namespaceSelectors.length > 0 ? "label the namespace to match, add it to the pool's namespaces" : "add it to the pool's namespaces";
      return fail('poolNotAllowed', `pool ${name} does not serve namespace ${quote(ns, 63)}: its serviceAllocation allows only ${rules.join(' or ')}; ${fix}, or use another pool`, {
        pool: pool.name,
      });
    }
  }
  if (sa.serviceSelectors.length > 0 && !matchesAny(sa.serviceSelectors, svc.labels ?? {})) {
    return fail(
      'poolNotAllowed',
      `pool ${name} does not serve this Service: its labels match none of the pool's serviceAllocation.serviceSelectors [${few(sa.serviceSelectors.map((x) => quote(formatSelector(x), 80)))}]; label the Service to match, or use another pool`,
      {
        pool: pool.name,
      },
    );
  }
  return null;
}

/** Rejects services whose family list cannot be served at all. */
function checkServiceFamilies(svc: ServiceRecord): Failure | null {
  const fams = svc.families;
  if (fams.length === 0) return fail('familyMismatch', 'service has no IP families');
  if (fams.length > 2 || (fams.length === 2 && fams[0] === fams[1])) {
    return fail('familyMismatch', `service has invalid IP families [${fams.join(', ')}]`);
  }
  if (svc.familyPolicy === 'RequireDualStack' && fams.length !== 2) {
    return fail('familyMismatch', `RequireDualStack service lists only ${fams.map(familyName).join(', ')}`);
  }
  return null;
}

const V4: readonly Family[] = ['ipv4'];
const V6: readonly Family[] = ['ipv6'];
const V4V6: readonly Family[] = ['ipv4', 'ipv6'];
const V6V4: readonly Family[] = ['ipv6', 'ipv4'];
// Precomputed because allocate is hot: [single-stack, require-dual, prefer-dual] per primary family.
const WANTED: Record<Family, readonly (readonly (readonly Family[])[])[]> = {
  ipv4: [[V4], [V4V6], [V4V6, V4, V6]],
  ipv6: [[V6], [V6V4], [V6V4, V6, V4]],
};

/** The family sets to try, most wanted first (PreferDualStack: both, else primary, else secondary). */
function wantedFamilySets(svc: ServiceRecord): readonly (readonly Family[])[] {
  const primary = svc.families[0] as Family;
  const policy = svc.families.length < 2 || svc.familyPolicy === 'SingleStack' ? 0 : svc.familyPolicy === 'RequireDualStack' ? 1 : 2;
  return WANTED[primary][policy] as readonly (readonly Family[])[];
}

/** Why `svc` may not join the services on a slot, or null if it may. */
function sharingConflict(slot: Slot, svc: ServiceRecord): { conflict: SharingConflict; holder: string; port?: ServicePort } | null {
  const others = slotHolders(slot).filter((h) => h.key !== svc.key);
  const first = others[0];
  // A lone user (or nobody) imposes nothing: that is how a lone user changes its key in place.
  if (first === undefined) return null;
  const key = svc.sharingKey ?? '';
  if (key === '' || first.sharingKey === '') return { conflict: 'notShared', holder: first.key };
  if (first.sharingKey !== key) return { conflict: 'differentSharingKey', holder: first.key };
  if (first.backendKey !== (svc.backendKey ?? '')) return { conflict: 'backendKeysDiffer', holder: first.key };
  for (const h of others) {
    for (const p of svc.ports) {
      if (h.ports.some((q) => q.protocol === p.protocol && q.port === p.port)) return { conflict: 'portConflict', holder: h.key, port: p };
    }
  }
  return null;
}

function stats(p: PoolState): PoolStats {
  return {
    pool: p.pool.name,
    total: p.totalV4 + p.totalV6,
    totalV4: p.totalV4,
    totalV6: p.totalV6,
    inUse: p.inUseV4 + p.inUseV6,
    inUseV4: p.inUseV4,
    inUseV6: p.inUseV6,
    servicesAllocated: p.services,
  };
}

// Minimal binary min-heap on numbers (freed offsets below a range's cursor).
function heapPush(h: number[], v: number): void {
  h.push(v);
  let i = h.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const pv = h[parent] as number;
    if (pv <= v) break;
    h[i] = pv;
    i = parent;
  }
  h[i] = v;
}

function heapPop(h: number[]): void {
  const last = h.pop();
  if (last === undefined || h.length === 0) return;
  let i = 0;
  const n = h.length;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    const r = l + 1;
    const c = r < n && (h[r] as number) < (h[l] as number) ? r : l;
    if ((h[c] as number) >= last) break;
    h[i] = h[c] as number;
    i = c;
  }
  h[i] = last;
}
