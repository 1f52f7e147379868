/**
 * The pure config parser shared by the controller, the speaker and CLI validation: the MetalLB
 * legacy ConfigMap format (the YAML string under data key `config`), layer2 pools only.
 * Strict like MetalLB's yaml.UnmarshalStrict: unknown or duplicate keys are errors. All errors
 * are collected so a user fixes a broken ConfigMap in one round trip, not one error per apply.
 */
import { parseDocument } from 'yaml';
import { familyName, parseRange, rangesOverlap, type IPRange } from './ip.js';

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
}

/** A validated configuration; pools are tried for auto-assignment in this order. */
export interface Config {
  readonly kind: 'Config';
  readonly pools: readonly Pool[];
}

/** A rejected configuration: every problem found, and one readable message joining them. */
export interface ConfigError {
  readonly kind: 'ConfigError';
  readonly errors: readonly string[];
  readonly message: string;
}

/** A configuration with no pools (what a missing or empty ConfigMap means). */
export const EMPTY_CONFIG: Config = Object.freeze({ kind: 'Config', pools: Object.freeze([]) });

/** Narrowing helper for `parseConfig` results. */
export function isConfigError(r: Config | ConfigError): r is ConfigError {
  return r.kind === 'ConfigError';
}

const TOP_KEYS = new Set(['address-pools']);
const BGP_TOP_KEYS = new Set(['peers', 'bgp-communities', 'bfd-profiles']);
const POOL_KEYS = new Set(['name', 'protocol', 'addresses', 'auto-assign', 'avoid-buggy-ips']);

/**
 * Parses and validates the YAML text of the ConfigMap's `config` key. An empty document or an
 * empty `address-pools` list is a valid config with no pools.
 */
export function parseConfig(text: string): Config | ConfigError {
  const errors: string[] = [];
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  for (const e of doc.errors) errors.push(`YAML: ${e.message.split('\n')[0] ?? e.message}`);
  if (errors.length > 0) return configError(errors);

  const root: unknown = doc.toJS();
  if (root === null || root === undefined) return { kind: 'Config', pools: [] };
  if (!isRecord(root)) return configError([`config must be a mapping with key "address-pools", got ${describe(root)}`]);

  for (const key of Object.keys(root)) {
    if (BGP_TOP_KEYS.has(key)) errors.push(`"${key}": BGP mode is not supported; use layer2 (remove "${key}")`);
    else if (!TOP_KEYS.has(key)) errors.push(`unknown key "${key}" (allowed: address-pools)`);
  }

  const rawPools = root['address-pools'];
  const pools: Pool[] = [];
  if (rawPools !== undefined && rawPools !== null) {
    if (!Array.isArray(rawPools)) {
      errors.push(`"address-pools" must be a list, got ${describe(rawPools)}`);
    } else {
      const seen = new Set<string>();
      rawPools.forEach((raw: unknown, i: number) => {
        const pool = parsePool(raw, i, errors);
        if (pool === null) return;
        if (seen.has(pool.name)) {
          errors.push(`pool "${pool.name}": duplicate pool name`);
          return;
        }
        seen.add(pool.name);
        pools.push(pool);
      });
    }
  }
  checkOverlaps(pools, errors);
  if (errors.length > 0) return configError(errors);
  return { kind: 'Config', pools };
}

function parsePool(raw: unknown, index: number, errors: string[]): Pool | null {
  const anon = `pool #${index + 1}`;
  if (!isRecord(raw)) {
    errors.push(`${anon}: must be a mapping, got ${describe(raw)}`);
    return null;
  }
  const nameValue = raw['name'];
  let name: string | null = null;
  if (nameValue === undefined || nameValue === null) errors.push(`${anon}: missing "name"`);
  else if (typeof nameValue !== 'string' || nameValue.trim() === '') errors.push(`${anon}: "name" must be a non-empty string, got ${describe(nameValue)}`);
  else name = nameValue;
  const where = name === null ? anon : `pool "${name}"`;
  const before = errors.length;

  for (const key of Object.keys(raw)) {
    if (key === 'bgp-advertisements') errors.push(`${where}: "bgp-advertisements": BGP mode is not supported; use layer2`);
    else if (!POOL_KEYS.has(key)) errors.push(`${where}: unknown key "${key}" (allowed: ${[...POOL_KEYS].join(', ')})`);
  }

  const protocol = raw['protocol'];
  if (protocol === undefined || protocol === null) errors.push(`${where}: missing "protocol" (want layer2)`);
  else if (protocol === 'bgp') errors.push(`${where}: protocol "bgp": BGP mode is not supported; use layer2`);
  else if (protocol !== 'layer2') errors.push(`${where}: unknown protocol ${JSON.stringify(protocol)} (want layer2)`);

  const autoAssign = optionalBool(raw, 'auto-assign', true, where, errors);
  const avoidBuggyIPs = optionalBool(raw, 'avoid-buggy-ips', false, where, errors);

  const addresses: IPRange[] = [];
  const rawAddrs = raw['addresses'];
  if (rawAddrs === undefined || rawAddrs === null) errors.push(`${where}: missing "addresses"`);
  else if (!Array.isArray(rawAddrs)) errors.push(`${where}: "addresses" must be a list, got ${describe(rawAddrs)}`);
  else if (rawAddrs.length === 0) errors.push(`${where}: "addresses" is empty`);
  else {
    for (const a of rawAddrs as unknown[]) {
      if (typeof a !== 'string') {
        errors.push(`${where}: address ${describe(a)} must be a string (CIDR, start-end range or IP)`);
        continue;
      }
      const r = parseRange(a);
      if (r.ok) addresses.push(r.range);
      else errors.push(`${where}: ${r.error}`);
    }
  }
  if (name === null || errors.length > before) return null;
  return { name, protocol: 'layer2', addresses, autoAssign, avoidBuggyIPs };
}

function optionalBool(raw: Record<string, unknown>, key: string, dflt: boolean, where: string, errors: string[]): boolean {
  const v = raw[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'boolean') return v;
  errors.push(`${where}: "${key}" must be true or false, got ${describe(v)}`);
  return dflt;
}

/** Every pair of overlapping ranges, within a pool or across pools, is one error. */
function checkOverlaps(pools: readonly Pool[], errors: string[]): void {
  const all = pools.flatMap((p) => p.addresses.map((r) => ({ pool: p.name, r })));
  // Sort by family then start; an overlap then always involves a range seen earlier whose end
  // reaches past the new start. Pools are few and small in count, so the O(n^2) worst case of
  // reporting every pair is fine and gives complete messages.
  all.sort((a, b) => (a.r.family !== b.r.family ? (a.r.family < b.r.family ? -1 : 1) : a.r.first < b.r.first ? -1 : a.r.first > b.r.first ? 1 : 0));
  for (let i = 0; i < all.length; i++) {
    const b = all[i];
    if (b === undefined) continue;
    for (let j = 0; j < i; j++) {
      const a = all[j];
      if (a === undefined || !rangesOverlap(a.r, b.r)) continue;
      const other = a.pool === b.pool ? 'in the same pool' : `in pool "${a.pool}"`;
      errors.push(`pool "${b.pool}": ${familyName(b.r.family)} range ${b.r.text} overlaps ${a.r.text} ${other}`);
    }
  }
}

function configError(errors: readonly string[]): ConfigError {
  const message =
    errors.length === 1 ? `invalid config: ${errors[0] ?? ''}` : `invalid config (${errors.length} errors): ${errors.join('; ')}`;
  return { kind: 'ConfigError', errors, message };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Map);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}
