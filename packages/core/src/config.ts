/**
 * The pure config parser shared by the controller, the speaker and CLI validation: the MetalLB
 * legacy ConfigMap format (the YAML string under data key `config`), layer2 pools only.
 * Strict like MetalLB's yaml.UnmarshalStrict: unknown or duplicate keys are errors. Problems are
 * collected so a user fixes a broken ConfigMap in one round trip, and each names the pool, the
 * value and the line.
 *
 * The ConfigMap is input from whoever can edit it, so every cost is bounded before it is paid:
 * text size, pool and address counts, YAML aliases and the number of errors reported; the
 * overlap check is a sort and one sweep, never a comparison of every pair.
 */
import { type Document, LineCounter, type Node as YamlNode, type Pair, isAlias, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { countBuggy, familyBits, familyName, formatIP, formatRange, isIPv4Mapped, parseIP, parseRange, quote, rangeSize, reservedOverlap, type IPRange, type RangeParse } from './ip.js';
import type { LabelSelector, Labels } from './selector.js';

/** Where a pool or an advertisement was defined: the legacy ConfigMap or an ironlb.io object. */
export type ConfigSource = 'configmap' | 'crd';

/**
 * IPAddressPool `spec.serviceAllocation` (MetalLB v1beta1): a pool with one serves, automatically,
 * only the Services it matches, and is tried before every pool without one, by priority.
 */
export interface ServiceAllocation {
  /** 1 is tried first; 0 (unset) sorts after every set priority; ties keep config order. */
  readonly priority: number;
  /** Namespaces served by name. */
  readonly namespaces: readonly string[];
  /** Namespaces served by their labels (any selector matching is enough). */
  readonly namespaceSelectors: readonly LabelSelector[];
  /** Services served by their labels (any selector matching is enough). */
  readonly serviceSelectors: readonly LabelSelector[];
}

/**
 * An L2Advertisement (MetalLB v1beta1 semantics): which pools it covers (by name or label; neither
 * means every pool), which nodes may announce them (no selector: every node) and from which
 * interfaces (none listed: all). A pool no advertisement covers is allocated but never announced.
 */
export interface L2Advertisement {
  /** The object's name; LEGACY_ADVERTISEMENT for the one the ConfigMap implies. */
  readonly name: string;
  readonly source: ConfigSource;
  readonly ipAddressPools: readonly string[];
  readonly ipAddressPoolSelectors: readonly LabelSelector[];
  readonly nodeSelectors: readonly LabelSelector[];
  readonly interfaces: readonly string[];
}

/** Name of the advertisement the legacy ConfigMap implies (no Kubernetes object can have it). */
export const LEGACY_ADVERTISEMENT = '(ConfigMap)';

/** One address pool, validated: its ranges are in the order written and never overlap. */
export interface Pool {
  readonly name: string;
  /** Only layer2 exists in ironlb; kept so the config reads like MetalLB's. */
  readonly protocol: 'layer2';
  readonly addresses: readonly IPRange[];
  /** False: the pool serves only services that request it by name or by IP. */
  readonly autoAssign: boolean;
  /** True: never hand out IPv4 x.x.x.0 / x.x.x.255. */
  readonly avoidBuggyIPs: boolean;
  /** Set only for IPAddressPools with spec.serviceAllocation ("pinned" pools in MetalLB's words). */
  readonly serviceAllocation?: ServiceAllocation;
  /** The IPAddressPool's labels (what ipAddressPoolSelectors match); absent means none. */
  readonly labels?: Labels;
  /** Absent in configs built by hand: treated as 'configmap'. */
  readonly source?: ConfigSource;
}

/** A validated configuration; pools are tried for auto-assignment in this order. */
export interface Config {
  readonly kind: 'Config';
  readonly pools: readonly Pool[];
  /** Things that are allowed but probably wrong (e.g. a pool with no usable address). */
  readonly warnings: readonly string[];
  /** True when the text held no YAML content at all (empty, blank or only comments). */
  readonly blank: boolean;
  /**
   * Who may announce each pool, and where. The legacy ConfigMap implies one advertisement of its
   * pools on every node and interface (LEGACY_ADVERTISEMENT). Undefined (a Config built by hand)
   * means the same for every pool.
   */
  readonly l2Advertisements?: readonly L2Advertisement[];
}

/** A rejected configuration: the first problems found, and one readable message joining them. */
export interface ConfigError {
  readonly kind: 'ConfigError';
  /** At most `maxErrors` messages, in document order. */
  readonly errors: readonly string[];
  /** How many further problems were found but not listed. */
  readonly omitted: number;
  readonly message: string;
}

/** Bounds on what one config may cost to parse and report. */
export interface ConfigLimits {
  /** Longest accepted text, in characters (a ConfigMap may hold 1 MiB). */
  readonly maxChars: number;
  readonly maxPools: number;
  /** Address entries (CIDRs, ranges, IPs) across all pools. */
  readonly maxAddresses: number;
  /** Problems listed in a ConfigError; the rest are counted. */
  readonly maxErrors: number;
  /** YAML aliases (`*name`) followed; more means a "billion laughs" document or a mistake. */
  readonly maxAliases: number;
}

/**
 * The defaults. 500 pools and 2,000 ranges are far past any real layer2 setup; 500 pools written
 * in block style take ~55 K characters, so 128 Ki leaves room for comments. The yaml library
 * parses ~1 MB/s once warm on a busy 2-core machine, so the worst accepted text blocks the event
 * loop for ~0.1-0.3 s (test/bench/allocator.ts `config_parse_max_ms`) instead of 11 s.
 */
export const CONFIG_LIMITS: ConfigLimits = Object.freeze({ maxChars: 128 * 1024, maxPools: 500, maxAddresses: 2000, maxErrors: 20, maxAliases: 100 });

/** A configuration with no pools (what a missing ConfigMap means before any config was loaded). */
export const EMPTY_CONFIG: Config = Object.freeze({ kind: 'Config', pools: Object.freeze([]), warnings: Object.freeze([]), blank: true, l2Advertisements: Object.freeze([]) });

/** The advertisement the legacy ConfigMap implies for its pools: every node, every interface. */
export function legacyAdvertisement(poolNames: readonly string[]): L2Advertisement {
  return { name: LEGACY_ADVERTISEMENT, source: 'configmap', ipAddressPools: [...poolNames], ipAddressPoolSelectors: [], nodeSelectors: [], interfaces: [] };
}

/** Narrowing helper for `parseConfig` results. */
export function isConfigError(r: Config | ConfigError): r is ConfigError {
  return r.kind === 'ConfigError';
}

const TOP_KEYS = new Set(['address-pools']);
const BGP_TOP_KEYS = new Set(['peers', 'bgp-communities', 'bfd-profiles']);
const POOL_KEYS = new Set(['name', 'protocol', 'addresses', 'auto-assign', 'avoid-buggy-ips']);
/** Pool names end up in annotations, metric labels and Events: keep them sane. */
const MAX_NAME = 253;

/** Collects at most `max` messages and counts the rest. */
class Problems {
  readonly list: string[] = [];
  omitted = 0;
  constructor(private readonly max: number) {}
  add(message: string): void {
    if (this.list.length < this.max) this.list.push(message);
    else this.omitted++;
  }
  get count(): number {
    return this.list.length + this.omitted;
  }
}

/** Walks the YAML tree with positions; aliases are followed one node at a time and counted. */
class Reader {
  aliases = 0;
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly limits: ConfigLimits,
    private readonly problems: Problems,
  ) {}

  /** The node itself, or what an alias points to (null past the alias budget). */
  deref(node: unknown): YamlNode | null {
    if (!isAlias(node)) return (node as YamlNode | null) ?? null;
    this.aliases++;
    if (this.aliases === this.limits.maxAliases + 1) {
      this.problems.add(`more than ${this.limits.maxAliases} YAML aliases (*name); write the values out${this.at(node)}`);
    }
    if (this.aliases > this.limits.maxAliases) return null;
    return (node.resolve(this.doc) as YamlNode | undefined) ?? null;
  }

  /** " (line N)" for a node with a position, "" otherwise. */
  at(node: unknown): string {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range === undefined ? '' : ` (line ${this.lines.linePos(range[0]).line})`;
  }
}

/**
 * Parses and validates the YAML text of the ConfigMap's `config` key. An empty document is a
 * valid config with no pools and `blank: true` (callers decide what "empty" means for them);
 * `address-pools: []` is a valid config with no pools.
 */
export function parseConfig(text: string, limits: ConfigLimits = CONFIG_LIMITS): Config | ConfigError {
  const problems = new Problems(limits.maxErrors);
  if (text.length > limits.maxChars) {
    problems.add(`config is ${text.length} characters long; the limit is ${limits.maxChars} (split it or remove unused pools)`);
    return configError(problems);
  }
  const lines = new LineCounter();
  let doc: Document;
  try {
    doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter: lines });
  } catch (err) {
    // The yaml library reports problems in doc.errors; a throw is a bug or an exhausted
    // resource, and still only an invalid config.
    problems.add(`YAML: cannot parse: ${quote(err instanceof Error ? err.message : String(err), 200)}`);
    return configError(problems);
  }
  for (const e of [...doc.errors, ...doc.warnings]) problems.add(yamlProblem(text, lines, e));
  if (problems.count > 0) return configError(problems);

  const r = new Reader(doc, lines, limits, problems);
  const root = r.deref(doc.contents);
  if (root === null || (isScalar(root) && (root.value === null || root.value === undefined))) {
    return { kind: 'Config', pools: [], warnings: [], blank: true, l2Advertisements: [] };
  }
  if (!isMap(root)) {
    problems.add(`config must be a mapping with key "address-pools", got ${describe(root)}${r.at(root)}`);
    return configError(problems);
  }

  let rawPools: YamlNode | null = null;
  for (const pair of root.items) {
    const key = keyText(pair);
    if (BGP_TOP_KEYS.has(key)) problems.add(`"${key}": BGP mode is not supported; use layer2 (remove "${key}")${r.at(pair.key)}`);
    else if (!TOP_KEYS.has(key)) problems.add(`unknown key ${quote(key)} (allowed: address-pools)${r.at(pair.key)}`);
    else rawPools = r.deref(pair.value);
  }

  const pools: Pool[] = [];
  const lineOf = new Map<IPRange, string>();
  const warnings: string[] = [];
  if (rawPools !== null && !(isScalar(rawPools) && rawPools.value === null)) {
    if (!isSeq(rawPools)) {
      problems.add(`"address-pools" must be a list, got ${describe(rawPools)}${r.at(rawPools)}`);
    } else if (rawPools.items.length > limits.maxPools) {
      problems.add(`${rawPools.items.length} pools; the limit is ${limits.maxPools}${r.at(rawPools)}`);
    } else {
      const seen = new Set<string>();
      const budget = { left: limits.maxAddresses, total: 0 };
      rawPools.items.forEach((item, i) => {
        const pool = parsePool(r, item, i, problems, budget, lineOf, warnings);
        if (pool === null) return;
        if (seen.has(pool.name)) {
          problems.add(`pool ${quote(pool.name)}: duplicate pool name${r.at(item)}`);
          return;
        }
        seen.add(pool.name);
        pools.push(pool);
        const warning = usableWarning(pool);
        if (warning !== undefined) warnings.push(warning);
      });
      if (budget.total > limits.maxAddresses) {
        problems.add(`${budget.total} address entries; the limit is ${limits.maxAddresses} across all pools`);
      }
    }
  }
  if (problems.count === 0) checkOverlaps(pools, lineOf, problems);
  if (problems.count > 0) return configError(problems);
  return { kind: 'Config', pools, warnings, blank: false, l2Advertisements: [legacyAdvertisement(pools.map((p) => p.name))] };
}

function parsePool(r: Reader, item: unknown, index: number, problems: Problems, budget: { left: number; total: number }, lineOf: Map<IPRange, string>, warnings: string[]): Pool | null {
  const anon = `pool #${index + 1}`;
  const raw = r.deref(item);
  if (raw === null || !isMap(raw)) {
    problems.add(`${anon}: must be a mapping, got ${describe(raw)}${r.at(item)}`);
    return null;
  }
  const fields = new Map<string, Pair<unknown, unknown>>();
  for (const pair of raw.items) fields.set(keyText(pair), pair);

  const nameNode = r.deref(fields.get('name')?.value);
  let name: string | null = null;
  if (nameNode === null || (isScalar(nameNode) && nameNode.value === null)) problems.add(`${anon}: missing "name"${r.at(item)}`);
  else if (!isScalar(nameNode) || typeof nameNode.value !== 'string' || nameNode.value.trim() === '') {
    problems.add(`${anon}: "name" must be a non-empty string, got ${describe(nameNode)}${r.at(nameNode)}`);
  } else if (nameNode.value.length > MAX_NAME) {
    problems.add(`${anon}: name ${quote(nameNode.value)} is longer than ${MAX_NAME} characters${r.at(nameNode)}`);
  } else name = nameNode.value;
  const where = name === null ? anon : `pool ${quote(name)}`;
  const before = problems.count;

  for (const pair of raw.items) {
    const key = keyText(pair);
    if (key === 'bgp-advertisements') problems.add(`${where}: "bgp-advertisements": BGP mode is not supported; use layer2${r.at(pair.key)}`);
    else if (!POOL_KEYS.has(key)) problems.add(`${where}: unknown key ${quote(key)} (allowed: ${[...POOL_KEYS].join(', ')})${r.at(pair.key)}`);
  }

  const protocol = r.deref(fields.get('protocol')?.value);
  const proto = protocol !== null && isScalar(protocol) ? protocol.value : undefined;
  if (protocol === null || proto === null) problems.add(`${where}: missing "protocol" (want layer2)${r.at(item)}`);
  else if (proto === 'bgp') problems.add(`${where}: protocol "bgp": BGP mode is not supported; use layer2${r.at(protocol)}`);
  else if (proto !== 'layer2') problems.add(`${where}: unknown protocol ${describeValue(protocol)} (want layer2)${r.at(protocol)}`);

  const autoAssign = optionalBool(r, fields.get('auto-assign'), 'auto-assign', true, where, problems);
  const avoidBuggyIPs = optionalBool(r, fields.get('avoid-buggy-ips'), 'avoid-buggy-ips', false, where, problems);

  const addresses: IPRange[] = [];
  const rawAddrs = r.deref(fields.get('addresses')?.value);
  if (rawAddrs === null || (isScalar(rawAddrs) && rawAddrs.value === null)) problems.add(`${where}: missing "addresses"${r.at(item)}`);
  else if (!isSeq(rawAddrs)) problems.add(`${where}: "addresses" must be a list, got ${describe(rawAddrs)}${r.at(rawAddrs)}`);
  else if (rawAddrs.items.length === 0) problems.add(`${where}: "addresses" is empty${r.at(rawAddrs)}`);
  else {
    budget.total += rawAddrs.items.length;
    for (const a of rawAddrs.items) {
      // Past the budget nothing more is parsed; the caller reports the total once.
      if (budget.left-- <= 0) break;
      const node = r.deref(a);
      if (node === null || !isScalar(node) || typeof node.value !== 'string') {
        problems.add(`${where}: address ${describe(node)} must be a string (CIDR, start-end range or IP)${r.at(a)}`);
        continue;
      }
      const parsed = parsePoolAddress(node.value);
      if (!parsed.ok) {
        problems.add(`${where}: ${parsed.error}${r.at(node)}`);
        continue;
      }
      if (parsed.warning !== undefined) warnings.push(`${where}: ${parsed.warning}${r.at(node)}`);
      const bad = forbiddenRange(parsed.range);
      if (bad !== undefined) {
        problems.add(`${where}: ${bad}${r.at(node)}`);
        continue;
      }
      addresses.push(parsed.range);
      lineOf.set(parsed.range, r.at(node));
    }
  }
  if (name === null || problems.count > before) return null;
  return { name, protocol: 'layer2', addresses, autoAssign, avoidBuggyIPs, source: 'configmap' };
}

/**
 * Parses one pool address entry like `parseRange`, except that a CIDR with host bits set
 * (`198.51.100.7/24`) is accepted as its prefix (`198.51.100.0/24`) with a warning, as MetalLB
 * does: its ParseCIDR keeps the network Go's net.ParseCIDR returns and drops the address.
 */
export function parsePoolAddress(text: string): RangeParse & { readonly warning?: string } {
  const t = text.trim();
  const slash = t.indexOf('/');
  if (slash < 0 || t.includes('-')) return parseRange(t);
  const ip = parseIP(t.slice(0, slash));
  const lenText = t.slice(slash + 1);
  if (ip === null || !/^\d{1,3}$/.test(lenText) || Number(lenText) > familyBits(ip.family)) return parseRange(t);
  const size = 1n << BigInt(familyBits(ip.family) - Number(lenText));
  if (ip.value % size === 0n) return parseRange(t);
  const masked = `${formatIP({ family: ip.family, value: ip.value - (ip.value % size) })}/${lenText}`;
  const r = parseRange(masked);
  if (!r.ok) return r;
  return {
    ...r,
    warning: `${quote(t)} has host bits set; using ${masked} (${formatIP({ family: r.range.family, value: r.range.first })}-${formatIP({ family: r.range.family, value: r.range.last })}), as MetalLB does; write ${masked} to silence this`,
  };
}

/** Why a range may not be in any pool (reserved block, IPv4-mapped), or undefined when it may. */
export function forbiddenRange(range: IPRange): string | undefined {
  if (isIPv4Mapped(range)) {
    const v4 = formatRange({ family: 'ipv4', first: range.first & 0xffffffffn, last: range.last & 0xffffffffn });
    return `${range.text} is an IPv4-mapped IPv6 address; write the IPv4 form ${v4} instead`;
  }
  const block = reservedOverlap(range);
  if (block === undefined) return undefined;
  const verb = range.first === range.last ? 'is in' : 'includes';
  return `${range.text} ${verb} ${block.text} (${block.why}); such addresses are never handed out as Service IPs`;
}

/** A warning when avoid-buggy-ips leaves a pool without a single address to give. */
export function usableWarning(pool: Pool): string | undefined {
  if (!pool.avoidBuggyIPs) return undefined;
  let usable = 0n;
  for (const r of pool.addresses) usable += rangeSize(r) - countBuggy(r);
  if (usable > 0n) return undefined;
  const flag = pool.source === 'crd' ? 'avoidBuggyIPs' : 'avoid-buggy-ips';
  return `pool ${quote(pool.name)}: ${flag} leaves no usable address (every address in ${pool.addresses.map((a) => a.text).join(', ')} ends in .0 or .255); Services can only get an IP from it by request`;
}

function optionalBool(r: Reader, pair: Pair<unknown, unknown> | undefined, key: string, dflt: boolean, where: string, problems: Problems): boolean {
  const v = r.deref(pair?.value);
  if (v === null || (isScalar(v) && v.value === null)) return dflt;
  if (isScalar(v) && typeof v.value === 'boolean') return v.value;
  problems.add(`${where}: "${key}" must be true or false, got ${describe(v)}${r.at(v)}`);
  return dflt;
}

/**
 * One overlap per overlapping range, found in O(n log n): sorted by family and start, a range
 * overlaps an earlier one exactly when it starts before the furthest end seen so far, and
 * that furthest-reaching range is the one named in the message.
 */
function checkOverlaps(pools: readonly Pool[], lineOf: ReadonlyMap<IPRange, string>, problems: Problems): void {
  const all = pools.flatMap((p) => p.addresses.map((r) => ({ pool: p.name, r })));
  all.sort((a, b) => (a.r.family !== b.r.family ? (a.r.family < b.r.family ? -1 : 1) : a.r.first < b.r.first ? -1 : a.r.first > b.r.first ? 1 : 0));
  let reach: (typeof all)[number] | undefined;
  for (const b of all) {
    if (reach !== undefined && reach.r.family === b.r.family && b.r.first <= reach.r.last) {
      const other = reach.pool === b.pool ? 'in the same pool' : `in pool ${quote(reach.pool)}`;
      problems.add(`pool ${quote(b.pool)}: ${familyName(b.r.family)} range ${b.r.text} overlaps ${reach.r.text} ${other}${lineOf.get(b.r) ?? ''}`);
    }
    if (reach === undefined || reach.r.family !== b.r.family || b.r.last > reach.r.last) reach = b;
  }
}

/** The text of a mapping key ("" for a missing one, the YAML for a complex one). */
function keyText(pair: Pair<unknown, unknown>): string {
  const k = pair.key;
  if (isScalar(k)) return String(k.value);
  if (k === null || k === undefined) return '';
  return isMap(k) ? '<a mapping>' : isSeq(k) ? '<a list>' : '<a complex key>';
}

/** A YAML library error in the operator's words, with the line (and the key, for duplicates). */
function yamlProblem(text: string, lines: LineCounter, e: { code: string; message: string; pos: [number, number] }): string {
  const { line, col } = lines.linePos(e.pos[0]);
  const at = ` (line ${line}, column ${col})`;
  switch (e.code) {
    case 'DUPLICATE_KEY': {
      const key = /^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[^:\n]*?)\s*:/.exec(text.slice(e.pos[0], e.pos[0] + 300))?.[1] ?? '?';
      return `YAML: key ${quote(key.replace(/^["']|["']$/g, ''))} appears twice in the same mapping; keep one${at}`;
    }
    case 'MULTIPLE_DOCS':
      return `YAML: a second document ("---") is not allowed; put every pool in one list under "address-pools"${at}`;
    case 'TAB_AS_INDENT':
      return `YAML: a tab is used for indentation; indent with spaces${at}`;
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
    case 'UNEXPECTED_TOKEN':
    case 'BLOCK_AS_IMPLICIT_KEY':
    case 'MULTILINE_IMPLICIT_KEY':
      return `YAML: ${lowerFirst(e.message.split('\n')[0] ?? e.message)}; check the indentation and the "-" of list items${at}`;
    case 'TAG_RESOLVE_FAILED':
      return `YAML: unknown tag; remove the "!" tag${at}`;
    default:
      return `YAML: ${lowerFirst(e.message.split('\n')[0] ?? e.message)}${at}`;
  }
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

function configError(p: Problems): ConfigError {
  const errors = p.list;
  const more = p.omitted > 0 ? `; and ${p.omitted} more` : '';
  const message = p.count === 1 ? `invalid config: ${errors[0] ?? ''}` : `invalid config (${p.count} errors): ${errors.join('; ')}${more}`;
  return { kind: 'ConfigError', errors, omitted: p.omitted, message };
}

/** The value of a scalar node as the user wrote it, quoted and bounded. */
function describeValue(node: YamlNode): string {
  if (isScalar(node) && typeof node.value === 'string') return quote(node.value);
  return describe(node);
}

/** What a node is, for "must be X, got Y" messages; never expands a collection. */
function describe(node: YamlNode | null): string {
  if (node === null) return 'nothing';
  if (isSeq(node)) return 'a list';
  if (isMap(node)) return 'a mapping';
  if (!isScalar(node)) return 'an unsupported YAML value';
  const v: unknown = node.value;
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return `string ${quote(v)}`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${String(v)}`;
  if (v instanceof Uint8Array) return 'binary data';
  return 'an unsupported YAML value';
}
