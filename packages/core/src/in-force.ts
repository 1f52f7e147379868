/**
 * The config in force, as a document every component can read: the controller publishes it (in
 * the ConfigMap IN_FORCE_CONFIGMAP, key IN_FORCE_KEY) and the controller after a restart, the
 * speakers and the CLI seed buildConfig's `previous` from it. Without it, "the version in force
 * stays" (overlapping pools, an invalid edit of a valid object, a deleted ConfigMap) lived only
 * in one process's memory: a restart changed which pool won, and the components disagreed.
 *
 * The format is versioned JSON, re-parseable by hand: pools in config order (name, source,
 * addresses as canonical range text, autoAssign, avoidBuggyIPs, labels, serviceAllocation) and
 * advertisements. The decoder trusts nothing (anyone with write access to the namespace can edit
 * the ConfigMap): the text size is bounded before JSON.parse, every field is checked with the same
 * rules as the objects it came from, pools must not overlap, and junk is an error value, never a
 * throw. Pure: no I/O.
 */
import { type Config, CONFIG_LIMITS, type ConfigSource, type L2Advertisement, LEGACY_ADVERTISEMENT, type Pool, type ServiceAllocation, forbiddenRange, legacyAdvertisement } from './config.js';
import { CRD_LIMITS } from './crd.js';
import { type IPRange, familyName, formatRange, parseRange, quote } from './ip.js';
import { type LabelSelector, type Labels, kindOf, labelKeyProblem, labelValueProblem, parseSelector } from './selector.js';

/** Name of the ConfigMap (in the ironlb namespace) the controller publishes the config in force to. */
export const IN_FORCE_CONFIGMAP = 'ironlb-config-in-force';
/** Its data key holding the document. */
export const IN_FORCE_KEY = 'config.json';
/** The document's `format` field: says what the JSON is when read out of context. */
export const IN_FORCE_FORMAT = 'ironlb.io/config-in-force';
/** The format version this code writes and reads; a newer one is refused (never half-read). */
export const IN_FORCE_VERSION = 1;

/** Bounds on what decoding one document may cost. */
export interface InForceLimits {
  /** Longest accepted text (a ConfigMap holds at most 1 MiB in all). */
  readonly maxChars: number;
  readonly maxPools: number;
  /** Address entries across all pools. */
  readonly maxAddresses: number;
  readonly maxAdvertisements: number;
  readonly maxLabels: number;
  /** Problems listed in the error message; the rest are counted. */
  readonly maxErrors: number;
}

/**
 * The defaults: twice what buildConfig lets into force (so a controller with raised limits still
 * reads back what it wrote), and a text limit under the 1 MiB a ConfigMap may hold.
 */
export const IN_FORCE_LIMITS: InForceLimits = Object.freeze({
  maxChars: 900 * 1024,
  maxPools: 2 * CONFIG_LIMITS.maxPools,
  maxAddresses: 2 * CONFIG_LIMITS.maxAddresses,
  maxAdvertisements: 2 * CONFIG_LIMITS.maxPools,
  maxLabels: 64,
  maxErrors: 10,
});

/** A decoded document, or why it cannot be used. */
export type InForceDecode = { readonly ok: true; readonly config: Config } | { readonly ok: false; readonly error: string };

const TOP_FIELDS = new Set(['format', 'version', 'pools', 'l2Advertisements']);
const POOL_FIELDS = new Set(['name', 'source', 'addresses', 'autoAssign', 'avoidBuggyIPs', 'labels', 'serviceAllocation']);
const ALLOCATION_FIELDS = new Set(['priority', 'namespaces', 'namespaceSelectors', 'serviceSelectors']);
const ADV_FIELDS = new Set(['name', 'source', 'ipAddressPools', 'ipAddressPoolSelectors', 'nodeSelectors', 'interfaces']);
/** Names are at most a DNS subdomain long; ConfigMap pool names may hold any printable text. */
const MAX_NAME = 253;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;
const IFACE_RE = /^[^\s/:]{1,15}$/;

function selectorJson(s: LabelSelector): unknown {
  return { matchLabels: s.matchLabels, matchExpressions: s.matchExpressions.map((r) => ({ key: r.key, operator: r.operator, values: r.values })) };
}

function poolJson(p: Pool): unknown {
  const sa = p.serviceAllocation;
  return {
    name: p.name,
    source: p.source ?? 'configmap',
    addresses: p.addresses.map((r) => formatRange(r)),
    autoAssign: p.autoAssign,
    avoidBuggyIPs: p.avoidBuggyIPs,
    ...(p.labels !== undefined ? { labels: p.labels } : {}),
    ...(sa !== undefined
      ? {
          serviceAllocation: {
            priority: sa.priority,
            namespaces: sa.namespaces,
            namespaceSelectors: sa.namespaceSelectors.map(selectorJson),
            serviceSelectors: sa.serviceSelectors.map(selectorJson),
          },
        }
      : {}),
  };
}

function advertisementJson(a: L2Advertisement): unknown {
  return {
    name: a.name,
    source: a.source,
    ipAddressPools: a.ipAddressPools,
    ipAddressPoolSelectors: a.ipAddressPoolSelectors.map(selectorJson),
    nodeSelectors: a.nodeSelectors.map(selectorJson),
    interfaces: a.interfaces,
  };
}

/**
 * The document for a config in force: deterministic (the same config gives the same text, so a
 * writer can skip unchanged writes), one pool or advertisement per line for `kubectl get -o yaml`.
 * Warnings and `blank` are not part of it: they describe sources, not what is in force.
 */
export function encodeInForce(config: Config): string {
  const lines = (items: readonly unknown[]): string => (items.length === 0 ? '[]' : `[\n${items.map((i) => `  ${JSON.stringify(i)}`).join(',\n')}\n]`);
  const parts = [`"format": ${JSON.stringify(IN_FORCE_FORMAT)}`, `"version": ${IN_FORCE_VERSION}`, `"pools": ${lines(config.pools.map(poolJson))}`];
  if (config.l2Advertisements !== undefined) parts.push(`"l2Advertisements": ${lines(config.l2Advertisements.map(advertisementJson))}`);
  return `{\n${parts.join(',\n')}\n}\n`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Collects at most `max` messages, counting the rest, and stops work once the list is full. */
class Problems {
  readonly list: string[] = [];
  omitted = 0;
  constructor(private readonly max: number) {}
  add(m: string): void {
    if (this.list.length < this.max) this.list.push(m);
    else this.omitted++;
  }
  get full(): boolean {
    return this.list.length >= this.max;
  }
}

function unknownFields(raw: Record<string, unknown>, allowed: ReadonlySet<string>, at: string, p: Problems): void {
  for (const k of Object.keys(raw)) if (!allowed.has(k)) p.add(`${at}: unknown field ${quote(k)}`);
}

function nameOf(raw: unknown, at: string, p: Problems): string | undefined {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_NAME || CONTROL_RE.test(raw)) {
    p.add(`${at}: must be a name of 1-${MAX_NAME} printable characters, got ${kindOf(raw)}`);
    return undefined;
  }
  return raw;
}

function sourceOf(raw: unknown, at: string, p: Problems): ConfigSource | undefined {
  if (raw === 'crd' || raw === 'configmap') return raw;
  p.add(`${at}: must be "crd" or "configmap", got ${kindOf(raw)}`);
  return undefined;
}

function boolOf(raw: unknown, at: string, p: Problems): boolean {
  if (typeof raw === 'boolean') return raw;
  p.add(`${at}: must be true or false, got ${kindOf(raw)}`);
  return false;
}

function stringsOf(raw: unknown, at: string, max: number, p: Problems, check: (s: string) => boolean, what: string): string[] {
  if (!Array.isArray(raw)) {
    p.add(`${at}: must be a list, got ${kindOf(raw)}`);
    return [];
  }
  if (raw.length > max) {
    p.add(`${at}: ${raw.length} entries; the limit is ${max}`);
    return [];
  }
  const out: string[] = [];
  raw.forEach((v: unknown, i) => {
    if (typeof v !== 'string' || !check(v)) p.add(`${at}[${i}]: must be ${what}, got ${kindOf(v)}`);
    else out.push(v);
  });
  return out;
}

function selectorsOf(raw: unknown, at: string, p: Problems): LabelSelector[] {
  if (!Array.isArray(raw)) {
    p.add(`${at}: must be a list of label selectors, got ${kindOf(raw)}`);
    return [];
  }
  if (raw.length > CRD_LIMITS.selectorsPerList) {
    p.add(`${at}: ${raw.length} selectors; the limit is ${CRD_LIMITS.selectorsPerList}`);
    return [];
  }
  const out: LabelSelector[] = [];
  raw.forEach((s: unknown, i) => {
    // null would mean "everything" to parseSelector; the encoder never writes it.
    if (!isRecord(s)) return p.add(`${at}[${i}]: must be a label selector, got ${kindOf(s)}`);
    const r = parseSelector(s, `${at}[${i}]`);
    if (r.ok) out.push(r.selector);
    else for (const e of r.errors) p.add(e);
  });
  return out;
}

function labelsOf(raw: unknown, at: string, limits: InForceLimits, p: Problems): Labels | undefined {
  if (!isRecord(raw)) {
    p.add(`${at}: must be a map of label key to value, got ${kindOf(raw)}`);
    return undefined;
  }
  const entries = Object.entries(raw);
  if (entries.length > limits.maxLabels) {
    p.add(`${at}: ${entries.length} labels; the limit is ${limits.maxLabels}`);
    return undefined;
  }
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    const bad = typeof v !== 'string' ? `label ${quote(k)}: value must be a string, got ${kindOf(v)}` : (labelKeyProblem(k) ?? labelValueProblem(v));
    if (bad !== undefined) p.add(`${at}: ${bad}`);
    else out[k] = v as string;
  }
  return out;
}

function allocationOf(raw: unknown, at: string, p: Problems): ServiceAllocation | undefined {
  if (!isRecord(raw)) {
    p.add(`${at}: must be a mapping, got ${kindOf(raw)}`);
    return undefined;
  }
  unknownFields(raw, ALLOCATION_FIELDS, at, p);
  const pr = raw['priority'];
  let priority = 0;
  if (typeof pr !== 'number' || !Number.isInteger(pr) || pr < 0 || pr > CRD_LIMITS.maxPriority) p.add(`${at}.priority: must be a whole number from 0 to ${CRD_LIMITS.maxPriority}, got ${kindOf(pr)}`);
  else priority = pr;
  const namespaces = stringsOf(
    raw['namespaces'],
    `${at}.namespaces`,
    CRD_LIMITS.namesPerList,
    p,
    (s) => s.length > 0 && s.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s),
    'a namespace name',
  );
  const namespaceSelectors = selectorsOf(raw['namespaceSelectors'], `${at}.namespaceSelectors`, p);
  const serviceSelectors = selectorsOf(raw['serviceSelectors'], `${at}.serviceSelectors`, p);
  return { priority, namespaces, namespaceSelectors, serviceSelectors };
}

function poolOf(raw: unknown, at: string, limits: InForceLimits, budget: { addresses: number }, p: Problems): Pool | undefined {
  if (!isRecord(raw)) {
    p.add(`${at}: must be a mapping, got ${kindOf(raw)}`);
    return undefined;
  }
  const before = p.list.length + p.omitted;
  unknownFields(raw, POOL_FIELDS, at, p);
  const name = nameOf(raw['name'], `${at}.name`, p);
  const source = sourceOf(raw['source'], `${at}.source`, p);
  const addresses: IPRange[] = [];
  const rawAddrs = raw['addresses'];
  if (!Array.isArray(rawAddrs) || rawAddrs.length === 0) p.add(`${at}.addresses: must be a non-empty list, got ${kindOf(rawAddrs)}`);
  else if (rawAddrs.length > budget.addresses) p.add(`${at}.addresses: more than ${limits.maxAddresses} address entries in all`);
  else {
    budget.addresses -= rawAddrs.length;
    rawAddrs.forEach((a: unknown, i) => {
      const ai = `${at}.addresses[${i}]`;
      if (typeof a !== 'string' || a.length > 100) return p.add(`${ai}: must be a CIDR, range or IP, got ${kindOf(a)}`);
      const r = parseRange(a);
      if (!r.ok) return p.add(`${ai}: ${r.error}`);
      // Only the canonical text is written: anything else was edited by hand.
      if (formatRange(r.range) !== a) return p.add(`${ai}: ${quote(a)} is not in canonical form (${formatRange(r.range)})`);
      const bad = forbiddenRange(r.range);
      if (bad !== undefined) return p.add(`${ai}: ${bad}`);
      addresses.push(r.range);
    });
  }
  const autoAssign = boolOf(raw['autoAssign'], `${at}.autoAssign`, p);
  const avoidBuggyIPs = boolOf(raw['avoidBuggyIPs'], `${at}.avoidBuggyIPs`, p);
  const labels = raw['labels'] === undefined ? undefined : labelsOf(raw['labels'], `${at}.labels`, limits, p);
  const serviceAllocation = raw['serviceAllocation'] === undefined ? undefined : allocationOf(raw['serviceAllocation'], `${at}.serviceAllocation`, p);
  if (source === 'configmap' && (labels !== undefined || serviceAllocation !== undefined)) p.add(`${at}: a ConfigMap pool has no labels or serviceAllocation`);
  if (name === undefined || source === undefined || p.list.length + p.omitted > before) return undefined;
  return {
    name,
    protocol: 'layer2',
    addresses,
    autoAssign,
    avoidBuggyIPs,
    ...(serviceAllocation !== undefined ? { serviceAllocation } : {}),
    ...(labels !== undefined ? { labels } : {}),
    source,
  };
}

function advertisementOf(raw: unknown, at: string, limits: InForceLimits, p: Problems): L2Advertisement | undefined {
  if (!isRecord(raw)) {
    p.add(`${at}: must be a mapping, got ${kindOf(raw)}`);
    return undefined;
  }
  const before = p.list.length + p.omitted;
  unknownFields(raw, ADV_FIELDS, at, p);
  const name = nameOf(raw['name'], `${at}.name`, p);
  const source = sourceOf(raw['source'], `${at}.source`, p);
  if (name !== undefined && source !== undefined && (name === LEGACY_ADVERTISEMENT) !== (source === 'configmap'))
    p.add(`${at}: only the ${quote(LEGACY_ADVERTISEMENT)} advertisement comes from the ConfigMap`);
  const poolName = (s: string): boolean => s.length > 0 && s.length <= MAX_NAME && !CONTROL_RE.test(s);
  // The ConfigMap's advertisement lists every ConfigMap pool (up to maxPools).
  const ipAddressPools = stringsOf(raw['ipAddressPools'], `${at}.ipAddressPools`, Math.max(CRD_LIMITS.namesPerList, limits.maxPools), p, poolName, 'a pool name');
  const ipAddressPoolSelectors = selectorsOf(raw['ipAddressPoolSelectors'], `${at}.ipAddressPoolSelectors`, p);
  const nodeSelectors = selectorsOf(raw['nodeSelectors'], `${at}.nodeSelectors`, p);
  const interfaces = stringsOf(raw['interfaces'], `${at}.interfaces`, CRD_LIMITS.namesPerList, p, (s) => IFACE_RE.test(s) && s !== '.' && s !== '..', 'an interface name');
  if (name === undefined || source === undefined || p.list.length + p.omitted > before) return undefined;
  return { name, source, ipAddressPools, ipAddressPoolSelectors, nodeSelectors, interfaces };
}

/** Overlaps between pools (one sort and one sweep per family), as messages. */
function overlaps(pools: readonly Pool[], p: Problems): void {
  const all = pools.flatMap((pool) => pool.addresses.map((r) => ({ r, pool: pool.name })));
  all.sort((a, b) => (a.r.family !== b.r.family ? (a.r.family < b.r.family ? -1 : 1) : a.r.first < b.r.first ? -1 : a.r.first > b.r.first ? 1 : 0));
  for (let i = 1; i < all.length && !p.full; i++) {
    const a = all[i - 1] as { r: IPRange; pool: string };
    const b = all[i] as { r: IPRange; pool: string };
    if (a.r.family === b.r.family && b.r.first <= a.r.last) p.add(`pools: ${familyName(b.r.family)} range ${b.r.text} of pool ${quote(b.pool)} overlaps ${a.r.text} of pool ${quote(a.pool)}`);
  }
}

/**
 * Reads a document written by encodeInForce. Never throws: a missing, oversized, malformed,
 * foreign-version or inconsistent document is `{ok: false, error}` naming the first problems.
 */
export function decodeInForce(text: unknown, limits: InForceLimits = IN_FORCE_LIMITS): InForceDecode {
  if (typeof text !== 'string') return { ok: false, error: `the document must be text, got ${kindOf(text)}` };
  if (text.length > limits.maxChars) return { ok: false, error: `the document has ${text.length} characters; the limit is ${limits.maxChars}` };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `not JSON: ${String((err as Error).message).slice(0, 200)}` };
  }
  if (!isRecord(doc)) return { ok: false, error: `the document must be a JSON object, got ${kindOf(doc)}` };
  if (doc['format'] !== IN_FORCE_FORMAT) return { ok: false, error: `format must be ${JSON.stringify(IN_FORCE_FORMAT)}, got ${kindOf(doc['format'])}` };
  if (doc['version'] !== IN_FORCE_VERSION)
    return { ok: false, error: `format version ${String(JSON.stringify(doc['version'])).slice(0, 20)} is not ${IN_FORCE_VERSION} (written by another ironlb version?)` };
  const p = new Problems(limits.maxErrors);
  unknownFields(doc, TOP_FIELDS, 'document', p);
  const pools: Pool[] = [];
  const rawPools = doc['pools'];
  if (!Array.isArray(rawPools)) p.add(`pools: must be a list, got ${kindOf(rawPools)}`);
  else if (rawPools.length > limits.maxPools) p.add(`pools: ${rawPools.length} pools; the limit is ${limits.maxPools}`);
  else {
    const budget = { addresses: limits.maxAddresses };
    const names = new Set<string>();
    for (let i = 0; i < rawPools.length && !p.full; i++) {
      const pool = poolOf(rawPools[i], `pools[${i}]`, limits, budget, p);
      if (pool === undefined) continue;
      if (names.has(pool.name)) p.add(`pools[${i}].name: ${quote(pool.name)} is listed twice`);
      names.add(pool.name);
      pools.push(pool);
    }
    if (p.list.length === 0) overlaps(pools, p);
  }
  let l2Advertisements: L2Advertisement[] | undefined;
  const rawAds = doc['l2Advertisements'];
  if (rawAds !== undefined) {
    l2Advertisements = [];
    if (!Array.isArray(rawAds)) p.add(`l2Advertisements: must be a list, got ${kindOf(rawAds)}`);
    else if (rawAds.length > limits.maxAdvertisements) p.add(`l2Advertisements: ${rawAds.length} entries; the limit is ${limits.maxAdvertisements}`);
    else {
      const names = new Set<string>();
      for (let i = 0; i < rawAds.length && !p.full; i++) {
        const a = advertisementOf(rawAds[i], `l2Advertisements[${i}]`, limits, p);
        if (a === undefined) continue;
        if (names.has(a.name)) p.add(`l2Advertisements[${i}].name: ${quote(a.name)} is listed twice`);
        names.add(a.name);
        l2Advertisements.push(a);
      }
    }
  }
  if (p.list.length > 0) {
    const more = p.omitted > 0 ? ` (and ${p.omitted} more)` : '';
    return { ok: false, error: `${p.list.join('; ')}${more}` };
  }
  const config: Config = {
    kind: 'Config',
    pools,
    warnings: [],
    blank: pools.length === 0 && (l2Advertisements?.length ?? 0) === 0,
    ...(l2Advertisements !== undefined ? { l2Advertisements } : {}),
  };
  return { ok: true, config };
}

/**
 * The ConfigMap's share of a config in force (its pools, in order, with the advertisement the
 * ConfigMap implies), or undefined when none of its pools is in force. What stands in for the
 * ConfigMap's last good config after a restart, when the ConfigMap is gone or invalid.
 */
export function legacyPartOf(config: Config): Config | undefined {
  const pools = config.pools.filter((p) => (p.source ?? 'configmap') === 'configmap');
  if (pools.length === 0) return undefined;
  return { kind: 'Config', pools, warnings: [], blank: false, l2Advertisements: [legacyAdvertisement(pools.map((p) => p.name))] };
}
