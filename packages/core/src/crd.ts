/**
 * The configuration MetalLB users write since v0.13: IPAddressPool and L2Advertisement objects
 * (group ironlb.io, MetalLB v1beta1's fields and meaning), turned into the one config model the
 * allocator and the speaker use, merged with the legacy ConfigMap when both exist. Pure: the
 * inputs are plain objects (name, labels, spec as decoded JSON), so the controller, the admission
 * webhook and `kubectl ironlb migrate` share every rule and every message.
 *
 * Both styles together (documented in the README):
 *  - pools are the union of the ConfigMap's and the IPAddressPools; a name defined in both is the
 *    IPAddressPool's (silently when the addresses agree: a migration in progress);
 *  - the ConfigMap implies one advertisement of the pools it names, on every node and interface,
 *    so applying the migrated objects before deleting the ConfigMap never silences an IP;
 *  - overlapping pools are refused whoever defines them: the pool already in force keeps its
 *    addresses, the newcomer is reported invalid (and keeps its own previous version, if any).
 *
 * An invalid object never takes anything away: the version of it in force stays (and the object
 * is reported), exactly like a rejected ConfigMap edit keeps the last good config.
 */
import {
  type Config,
  type ConfigLimits,
  CONFIG_LIMITS,
  type L2Advertisement,
  type Pool,
  type ServiceAllocation,
  forbiddenRange,
  legacyAdvertisement,
  parsePoolAddress,
  usableWarning,
} from './config.js';
import { familyName, quote, type IPRange } from './ip.js';
import { type LabelSelector, type Labels, kindOf, labelKeyProblem, labelValueProblem, matchesSelector, parseSelector, selectorKey } from './selector.js';

/** An IPAddressPool as the builder reads it (decoded from the API or a file). */
export interface PoolObject {
  readonly name: string;
  readonly labels?: Labels | undefined;
  /** `spec`, untrusted: every field is checked. */
  readonly spec: unknown;
  /** creationTimestamp in epoch ms: among new objects, the older one keeps contested addresses. */
  readonly createdMs?: number | undefined;
}

/** An L2Advertisement as the builder reads it. */
export interface AdvertisementObject {
  readonly name: string;
  readonly labels?: Labels | undefined;
  readonly spec: unknown;
  readonly createdMs?: number | undefined;
}

/** Kinds of configuration objects. */
export type ConfigKind = 'IPAddressPool' | 'L2Advertisement' | 'ConfigMap';

/** What is wrong with one object, and what the builder did about it. */
export interface ObjectProblem {
  readonly kind: ConfigKind;
  readonly name: string;
  /** Messages naming the field and the value. */
  readonly errors: readonly string[];
  /** True when the object's previous valid version stays in force; false when it is left out. */
  readonly keptPrevious: boolean;
}

/** Everything the builder merges. */
export interface BuildInput {
  /** The ConfigMap's config in force (its last good parse), if any. */
  readonly legacy?: Config | undefined;
  readonly pools: readonly PoolObject[];
  readonly advertisements: readonly AdvertisementObject[];
  /** The config in force now: an invalid object keeps its version from here. */
  readonly previous?: Config | undefined;
  readonly limits?: ConfigLimits;
}

/** The merged config, the objects that are invalid, and per-object warnings. */
export interface BuildResult {
  readonly config: Config;
  readonly problems: readonly ObjectProblem[];
  /** Allowed but probably wrong, per object (a pool no advertisement covers, a name in both styles). */
  readonly objectWarnings: readonly { readonly kind: ConfigKind; readonly name: string; readonly message: string }[];
}

/** Result of parsing one object. */
export type Parsed<T> = { readonly ok: true; readonly value: T; readonly warnings: readonly string[] } | { readonly ok: false; readonly errors: readonly string[] };

const POOL_FIELDS = new Set(['addresses', 'autoAssign', 'avoidBuggyIPs', 'serviceAllocation']);
const ALLOCATION_FIELDS = new Set(['priority', 'namespaces', 'namespaceSelectors', 'serviceSelectors']);
const ADV_FIELDS = new Set(['ipAddressPools', 'ipAddressPoolSelectors', 'nodeSelectors', 'interfaces']);
/** MetalLB fields ironlb does not implement: refused with a reason instead of silently ignored. */
const ADV_UNSUPPORTED: Record<string, string> = {
  serviceSelectors: 'serviceSelectors is not supported (MetalLB itself refuses it with shared IPs); use one pool per set of Services',
  preferredNodeSelectors: 'preferredNodeSelectors is not supported yet; use nodeSelectors',
};
const DNS_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Linux IFNAMSIZ is 16 with the NUL; "/" and white space never occur in an interface name. */
const IFACE_RE = /^[^\s/:]{1,15}$/;
/** Per-list caps on what one object may hold (the CRD schema says the same). */
export const CRD_LIMITS = Object.freeze({ addressesPerPool: 256, namesPerList: 256, selectorsPerList: 32, maxPriority: 1_000_000 });

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses a list of label selectors at `path`. */
function selectors(raw: unknown, path: string, errors: string[]): LabelSelector[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    errors.push(`${path}: must be a list of label selectors, got ${kindOf(raw)}`);
    return [];
  }
  if (raw.length > CRD_LIMITS.selectorsPerList) {
    errors.push(`${path}: ${raw.length} selectors; the limit is ${CRD_LIMITS.selectorsPerList}`);
    return [];
  }
  const out: LabelSelector[] = [];
  const seen = new Set<string>();
  raw.forEach((s: unknown, i) => {
    const r = parseSelector(s, `${path}[${i}]`);
    if (!r.ok) errors.push(...r.errors);
    else {
      const k = selectorKey(r.selector);
      if (seen.has(k)) errors.push(`${path}[${i}]: duplicate selector (the same as an earlier one)`);
      seen.add(k);
      out.push(r.selector);
    }
  });
  return out;
}

/** Parses a list of unique names at `path`, each checked by `check`. */
function names(raw: unknown, path: string, errors: string[], check: (s: string) => string | undefined): string[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    errors.push(`${path}: must be a list of strings, got ${kindOf(raw)}`);
    return [];
  }
  if (raw.length > CRD_LIMITS.namesPerList) {
    errors.push(`${path}: ${raw.length} entries; the limit is ${CRD_LIMITS.namesPerList}`);
    return [];
  }
  const out: string[] = [];
  raw.forEach((v: unknown, i) => {
    if (typeof v !== 'string') return errors.push(`${path}[${i}]: must be a string, got ${kindOf(v)}`);
    const bad = check(v);
    if (bad !== undefined) return errors.push(`${path}[${i}]: ${quote(v)} ${bad}`);
    if (out.includes(v)) return errors.push(`${path}[${i}]: ${quote(v)} is listed twice`);
    out.push(v);
  });
  return out;
}

function unknownFields(raw: Record<string, unknown>, allowed: ReadonlySet<string>, path: string, errors: string[], unsupported: Record<string, string> = {}): void {
  for (const k of Object.keys(raw)) {
    if (allowed.has(k)) continue;
    const why = unsupported[k];
    errors.push(why !== undefined ? `${path}.${k}: ${why}` : `${path}: unknown field ${quote(k)} (allowed: ${[...allowed].join(', ')})`);
  }
}

function labelsProblems(labels: Labels | undefined, errors: string[]): Labels {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels ?? {})) {
    const p = labelKeyProblem(k) ?? labelValueProblem(v);
    if (p !== undefined) errors.push(`metadata.labels: ${p}`);
    else out[k] = v;
  }
  return out;
}

/**
 * Parses one IPAddressPool (MetalLB v1beta1 fields and defaults: autoAssign true, avoidBuggyIPs
 * false, no serviceAllocation). Messages are prefixed `IPAddressPool "name": spec.field`.
 */
export function parsePoolObject(obj: PoolObject): Parsed<Pool> {
  const errors: string[] = [];
  const warnings: string[] = [];
  const where = `IPAddressPool ${quote(obj.name)}`;
  const spec = obj.spec;
  if (!isRecord(spec)) return { ok: false, errors: [`${where}: spec must be a mapping, got ${kindOf(spec)}`] };
  unknownFields(spec, POOL_FIELDS, 'spec', errors);
  const addresses: IPRange[] = [];
  const rawAddrs = spec['addresses'];
  if (rawAddrs === undefined || rawAddrs === null) errors.push('spec.addresses: required (CIDRs, start-end ranges or IPs)');
  else if (!Array.isArray(rawAddrs)) errors.push(`spec.addresses: must be a list, got ${kindOf(rawAddrs)}`);
  else if (rawAddrs.length === 0) errors.push('spec.addresses: is empty; list at least one CIDR, range or IP');
  else if (rawAddrs.length > CRD_LIMITS.addressesPerPool) errors.push(`spec.addresses: ${rawAddrs.length} entries; the limit is ${CRD_LIMITS.addressesPerPool}`);
  else {
    rawAddrs.forEach((a: unknown, i) => {
      const at = `spec.addresses[${i}]`;
      if (typeof a !== 'string') return errors.push(`${at}: must be a string (CIDR, start-end range or IP), got ${kindOf(a)}`);
      const r = parsePoolAddress(a);
      if (!r.ok) return errors.push(`${at}: ${r.error}`);
      if (r.warning !== undefined) warnings.push(`${where}: ${at}: ${r.warning}`);
      const bad = forbiddenRange(r.range);
      if (bad !== undefined) return errors.push(`${at}: ${bad}`);
      addresses.push(r.range);
    });
    const sorted = [...addresses].sort((x, y) => (x.family !== y.family ? (x.family < y.family ? -1 : 1) : x.first < y.first ? -1 : x.first > y.first ? 1 : 0));
    for (let i = 1; i < sorted.length; i++) {
      const a = sorted[i - 1] as IPRange;
      const b = sorted[i] as IPRange;
      if (a.family === b.family && b.first <= a.last) errors.push(`spec.addresses: ${familyName(b.family)} range ${b.text} overlaps ${a.text} in the same pool`);
    }
  }
  const autoAssign = bool(spec['autoAssign'], 'spec.autoAssign', true, errors);
  const avoidBuggyIPs = bool(spec['avoidBuggyIPs'], 'spec.avoidBuggyIPs', false, errors);
  let serviceAllocation: ServiceAllocation | undefined;
  const sa = spec['serviceAllocation'];
  if (sa !== undefined && sa !== null) {
    if (!isRecord(sa)) errors.push(`spec.serviceAllocation: must be a mapping, got ${kindOf(sa)}`);
    else {
      unknownFields(sa, ALLOCATION_FIELDS, 'spec.serviceAllocation', errors);
      const pr = sa['priority'];
      let priority = 0;
      if (pr !== undefined && pr !== null) {
        if (typeof pr !== 'number' || !Number.isInteger(pr) || pr < 0 || pr > CRD_LIMITS.maxPriority) {
          errors.push(`spec.serviceAllocation.priority: ${kindOf(pr)} must be a whole number from 0 to ${CRD_LIMITS.maxPriority} (1 is tried first, 0 means last)`);
        } else priority = pr;
      }
      const namespaces = names(sa['namespaces'], 'spec.serviceAllocation.namespaces', errors, (n) => (n.length <= 63 && DNS_LABEL_RE.test(n) ? undefined : 'is not a namespace name'));
      const namespaceSelectors = selectors(sa['namespaceSelectors'], 'spec.serviceAllocation.namespaceSelectors', errors);
      const serviceSelectors = selectors(sa['serviceSelectors'], 'spec.serviceAllocation.serviceSelectors', errors);
      serviceAllocation = { priority, namespaces, namespaceSelectors, serviceSelectors };
      if (namespaces.length === 0 && namespaceSelectors.length === 0 && serviceSelectors.length === 0) {
        warnings.push(
          `${where}: spec.serviceAllocation selects no namespace and no Service, so (as in MetalLB) the pool is never auto-assigned; it serves only Services that ask for it by name or IP. Add namespaces or selectors, or remove serviceAllocation to auto-assign from it`,
        );
      }
    }
  }
  const labels = labelsProblems(obj.labels, errors);
  if (errors.length > 0) return { ok: false, errors: errors.map((e) => `${where}: ${e}`) };
  const pool: Pool = {
    name: obj.name,
    protocol: 'layer2',
    addresses,
    autoAssign,
    avoidBuggyIPs,
    labels,
    source: 'crd',
    ...(serviceAllocation !== undefined ? { serviceAllocation } : {}),
  };
  const w = usableWarning(pool);
  if (w !== undefined) warnings.push(w);
  return { ok: true, value: pool, warnings };
}

/** Parses one L2Advertisement (MetalLB v1beta1 fields). */
export function parseAdvertisementObject(obj: AdvertisementObject): Parsed<L2Advertisement> {
  const errors: string[] = [];
  const where = `L2Advertisement ${quote(obj.name)}`;
  const spec = obj.spec ?? {};
  if (!isRecord(spec)) return { ok: false, errors: [`${where}: spec must be a mapping, got ${kindOf(spec)}`] };
  unknownFields(spec, ADV_FIELDS, 'spec', errors, ADV_UNSUPPORTED);
  const ipAddressPools = names(spec['ipAddressPools'], 'spec.ipAddressPools', errors, (n) => (n.length <= 253 && DNS_SUBDOMAIN_RE.test(n) ? undefined : 'is not an IPAddressPool name'));
  const ipAddressPoolSelectors = selectors(spec['ipAddressPoolSelectors'], 'spec.ipAddressPoolSelectors', errors);
  const nodeSelectors = selectors(spec['nodeSelectors'], 'spec.nodeSelectors', errors);
  const interfaces = names(spec['interfaces'], 'spec.interfaces', errors, (n) =>
    IFACE_RE.test(n) && n !== '.' && n !== '..' ? undefined : 'is not an interface name (1-15 characters, no "/", ":" or white space)',
  );
  labelsProblems(obj.labels, errors);
  if (errors.length > 0) return { ok: false, errors: errors.map((e) => `${where}: ${e}`) };
  return { ok: true, value: { name: obj.name, source: 'crd', ipAddressPools, ipAddressPoolSelectors, nodeSelectors, interfaces }, warnings: [] };
}

function bool(v: unknown, path: string, dflt: boolean, errors: string[]): boolean {
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'boolean') return v;
  errors.push(`${path}: must be true or false, got ${kindOf(v)}`);
  return dflt;
}

/** True when two pools hand out the same addresses the same way (a ConfigMap pool migrated as is). */
function sameAddresses(a: Pool, b: Pool): boolean {
  const t = (p: Pool): string => JSON.stringify([p.addresses.map((r) => `${r.family}/${r.first}/${r.last}`), p.autoAssign, p.avoidBuggyIPs]);
  return t(a) === t(b);
}

/** A canonical text of a pool's meaning, to tell an unchanged pool from a changed one. */
export function poolKey(p: Pool): string {
  const sa = p.serviceAllocation;
  return JSON.stringify([
    p.source ?? 'configmap',
    p.addresses.map((r) => `${r.family}/${r.first}/${r.last}`),
    p.autoAssign,
    p.avoidBuggyIPs,
    Object.entries(p.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)),
    sa === undefined ? null : [sa.priority, [...sa.namespaces].sort(), sa.namespaceSelectors.map(selectorKey).sort(), sa.serviceSelectors.map(selectorKey).sort()],
  ]);
}

/** A canonical text of an advertisement's meaning. */
export function advertisementKey(a: L2Advertisement): string {
  return JSON.stringify([a.source, [...a.ipAddressPools].sort(), a.ipAddressPoolSelectors.map(selectorKey).sort(), a.nodeSelectors.map(selectorKey).sort(), [...a.interfaces].sort()]);
}

/** Disjoint ranges of one family sorted by start; overlap test and insert by binary search. */
class RangeSet {
  readonly #byFamily = new Map<string, { r: IPRange; pool: string }[]>();

  /** The accepted range `r` overlaps, with its pool, if any. */
  overlap(r: IPRange): { r: IPRange; pool: string } | undefined {
    const list = this.#byFamily.get(r.family) ?? [];
    // First range whose end is at or after r.first; ranges are disjoint, so ends are sorted too.
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((list[mid] as { r: IPRange }).r.last < r.first) lo = mid + 1;
      else hi = mid;
    }
    const cand = list[lo];
    return cand !== undefined && cand.r.first <= r.last ? cand : undefined;
  }

  add(r: IPRange, pool: string): void {
    let list = this.#byFamily.get(r.family);
    if (list === undefined) this.#byFamily.set(r.family, (list = []));
    let i = 0;
    while (i < list.length && (list[i] as { r: IPRange }).r.first < r.first) i++;
    list.splice(i, 0, { r, pool });
  }
}

/**
 * Merges the legacy ConfigMap's config with IPAddressPools and L2Advertisements into the config
 * in force (rules in the file comment). Never throws; every object that is wrong is in `problems`.
 * Pools come in "config order": the ConfigMap's in its order, then IPAddressPools by name.
 */
export function buildConfig(input: BuildInput): BuildResult {
  const limits = input.limits ?? CONFIG_LIMITS;
  const problems: ObjectProblem[] = [];
  const objectWarnings: { kind: ConfigKind; name: string; message: string }[] = [];
  const previousPools = new Map((input.previous?.pools ?? []).map((p) => [p.name, p] as const));
  const previousAds = new Map((input.previous?.l2Advertisements ?? []).filter((a) => a.source === 'crd').map((a) => [a.name, a] as const));
  const legacyPools = input.legacy?.pools ?? [];
  const legacyByName = new Map(legacyPools.map((p) => [p.name, p] as const));

  // Candidate versions per pool name, best first: the object as written, the version in force, the ConfigMap's.
  interface Candidate {
    name: string;
    versions: Pool[];
    /** Errors of the object as written (undefined when it parsed). */
    errors: readonly string[] | undefined;
    fromObject: boolean;
    createdMs: number;
    order: number;
  }
  const candidates = new Map<string, Candidate>();
  let order = 0;
  for (const p of legacyPools) candidates.set(p.name, { name: p.name, versions: [p], errors: undefined, fromObject: false, createdMs: -Infinity, order: order++ });
  const objects = [...input.pools].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const obj of objects) {
    if (candidates.has(obj.name) && candidates.get(obj.name)?.fromObject === true) continue; // one object per name
    const parsed = parsePoolObject(obj);
    const versions: Pool[] = [];
    if (parsed.ok) {
      versions.push(parsed.value);
      for (const w of parsed.warnings) objectWarnings.push({ kind: 'IPAddressPool', name: obj.name, message: w });
    }
    const prev = previousPools.get(obj.name);
    if (prev !== undefined && prev.source === 'crd') versions.push(prev);
    const legacy = legacyByName.get(obj.name);
    if (legacy !== undefined) {
      versions.push(legacy);
      if (parsed.ok && !sameAddresses(legacy, parsed.value)) {
        const message = `pool ${quote(obj.name)} is defined both in the ConfigMap and as an IPAddressPool, differently; the IPAddressPool is used (remove the pool from the ConfigMap)`;
        objectWarnings.push({ kind: 'IPAddressPool', name: obj.name, message }, { kind: 'ConfigMap', name: obj.name, message });
      }
    }
    candidates.set(obj.name, {
      name: obj.name,
      versions,
      errors: parsed.ok ? undefined : parsed.errors,
      fromObject: true,
      createdMs: obj.createdMs ?? Infinity,
      order: order++,
    });
  }

  // Acceptance order: what is in force unchanged, then the ConfigMap's, then new objects, oldest first.
  // Precedence over contested addresses: 0 a pool in force whose addresses did not change (its
  // labels, autoAssign or serviceAllocation may have: a metadata edit must not cost a pool its
  // addresses), 1 a pool in force that was edited (its previous version still holds the
  // addresses it had), 2 everything not in force.
  const established = (c: Candidate): number => {
    const prev = previousPools.get(c.name);
    if (prev === undefined) return 2;
    const first = c.versions[0];
    return first !== undefined && c.errors === undefined && sameAddresses(prev, first) ? 0 : 1;
  };
  const ordered = [...candidates.values()].sort((a, b) => {
    const ea = established(a);
    const eb = established(b);
    if (ea !== eb) return ea - eb;
    const la = a.fromObject ? 1 : 0;
    const lb = b.fromObject ? 1 : 0;
    if (la !== lb) return la - lb;
    return a.createdMs - b.createdMs || a.order - b.order;
  });

  const taken = new RangeSet();
  const accepted = new Map<string, Pool>();
  let addressBudget = limits.maxAddresses;
  for (const c of ordered) {
    const why: string[] = [...(c.errors ?? [])];
    let chosen: Pool | undefined;
    for (const v of c.versions) {
      if (accepted.size >= limits.maxPools) {
        why.push(`IPAddressPool ${quote(c.name)}: more than ${limits.maxPools} pools in all; this one is left out`);
        break;
      }
      if (v.addresses.length > addressBudget) {
        why.push(`IPAddressPool ${quote(c.name)}: more than ${limits.maxAddresses} address entries across all pools; this one is left out`);
        continue;
      }
      const clash = v.addresses.map((r) => ({ r, other: taken.overlap(r) })).find((x) => x.other !== undefined);
      if (clash?.other !== undefined) {
        if (v === c.versions[0] && c.errors === undefined) {
          const who = c.fromObject ? `IPAddressPool ${quote(c.name)}` : `ConfigMap pool ${quote(c.name)}`;
          why.push(`${who}: ${familyName(clash.r.family)} range ${clash.r.text} overlaps ${clash.other.r.text} in pool ${quote(clash.other.pool)}`);
        }
        continue;
      }
      chosen = v;
      break;
    }
    const wrote = c.versions[0];
    const objectOk = c.errors === undefined && chosen !== undefined && chosen === wrote;
    if (c.fromObject && !objectOk) {
      problems.push({ kind: 'IPAddressPool', name: c.name, errors: why.length > 0 ? why : [`IPAddressPool ${quote(c.name)}: not applied`], keptPrevious: chosen !== undefined });
    } else if (!c.fromObject && chosen === undefined) {
      problems.push({ kind: 'ConfigMap', name: c.name, errors: why, keptPrevious: false });
    }
    if (chosen === undefined) continue;
    for (const r of chosen.addresses) taken.add(r, c.name);
    addressBudget -= chosen.addresses.length;
    accepted.set(c.name, chosen);
  }

  // Config order: the ConfigMap's pools in their order (unless an object has the name), then objects by name.
  const objectNames = new Set(objects.map((o) => o.name));
  const pools: Pool[] = [];
  for (const p of legacyPools) {
    const a = accepted.get(p.name);
    if (a !== undefined && !objectNames.has(p.name)) pools.push(a);
  }
  for (const name of objectNames) {
    const a = accepted.get(name);
    if (a !== undefined) pools.push(a);
  }

  const l2Advertisements: L2Advertisement[] = [];
  if (input.legacy !== undefined && legacyPools.length > 0) l2Advertisements.push(legacyAdvertisement(legacyPools.map((p) => p.name)));
  const ads = [...input.advertisements].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const seenAds = new Set<string>();
  for (const obj of ads) {
    if (seenAds.has(obj.name)) continue;
    seenAds.add(obj.name);
    const parsed = parseAdvertisementObject(obj);
    if (parsed.ok) {
      l2Advertisements.push(parsed.value);
      for (const n of parsed.value.ipAddressPools) {
        if (!accepted.has(n)) objectWarnings.push({ kind: 'L2Advertisement', name: obj.name, message: `spec.ipAddressPools: no pool named ${quote(n)} exists (yet)` });
      }
      continue;
    }
    const prev = previousAds.get(obj.name);
    if (prev !== undefined) l2Advertisements.push(prev);
    problems.push({ kind: 'L2Advertisement', name: obj.name, errors: parsed.errors, keptPrevious: prev !== undefined });
  }

  const config: Config = {
    kind: 'Config',
    pools,
    warnings: objectWarnings.map((w) => w.message),
    blank: pools.length === 0 && input.pools.length === 0 && input.advertisements.length === 0 && (input.legacy?.blank ?? true),
    l2Advertisements,
  };
  for (const p of pools) {
    if (!poolAdvertisedAnywhere(config, p)) {
      const message = `pool ${quote(p.name)}: no L2Advertisement covers it, so its IPs are allocated but never announced (create an L2Advertisement listing it)`;
      objectWarnings.push({ kind: p.source === 'crd' ? 'IPAddressPool' : 'ConfigMap', name: p.name, message });
    }
  }
  return { config: { ...config, warnings: objectWarnings.map((w) => w.message) }, problems, objectWarnings };
}

/** True when at least one advertisement of the config covers the pool (on some nodes). */
function poolAdvertisedAnywhere(config: Config, pool: Pool): boolean {
  if (config.l2Advertisements === undefined) return true;
  return config.l2Advertisements.some((a) => advertisementCoversPool(a, pool));
}

/**
 * Whether an advertisement covers a pool (MetalLB: listed by name, or matched by one of the pool
 * selectors; an advertisement that lists nothing and selects nothing covers every pool).
 */
export function advertisementCoversPool(a: L2Advertisement, pool: Pick<Pool, 'name' | 'labels'>): boolean {
  if (a.ipAddressPools.length === 0 && a.ipAddressPoolSelectors.length === 0) return true;
  if (a.ipAddressPools.includes(pool.name)) return true;
  const labels = pool.labels ?? {};
  return a.ipAddressPoolSelectors.some((s) => matchesSelector(s, labels));
}
