/**
 * What the admission webhook decides, pure: the checks that need other objects (overlapping
 * pools, a change that strands assigned IPs, the legacy ConfigMap), with the same parser and
 * messages as the controller, so `kubectl apply` says at once what the controller would say later.
 * Per-object rules are also enforced by the CRD schema (CEL), which works with ironlb down; here
 * they run again because the webhook is also the only check of a ConfigMap and of IPv6 order.
 *
 * Strands (a pool shrunk or deleted under Services holding its IPs) are warned about, or refused
 * with `strandPolicy: refuse`; a change the controller's mass-release guard would refuse is
 * refused here whatever the policy, with the same message. A serviceAllocation change strands
 * nobody (held IPs stay whatever the rules say): Services it no longer matches are named in a warning.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  Allocator,
  type Config,
  type NodeInfo,
  advertisementCoversPool,
  buildConfig,
  isConfigError,
  nodesSelectedBy,
  parseAdvertisementObject,
  parseConfig,
  parsePoolObject,
  quote,
} from '@ironlb/core';
import type { IPAddressPoolObject, L2AdvertisementObject } from '@ironlb/k8s';
import { DEFAULT_MAX_RELEASE, type Holder, MAX_RELEASE_ANNOTATION, parseMaxRelease, releaseVerdict, strandedBy } from '../config-guard.js';

/** The parts of an AdmissionReview request the webhook reads. */
export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  name?: string;
  namespace?: string;
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
}

/** The answer: allowed or not, why, and warnings kubectl prints. */
export interface AdmissionVerdict {
  allowed: boolean;
  message?: string;
  warnings: string[];
}

/** What the webhook knows of the cluster (the controller's caches). */
export interface AdmissionContext {
  /** The ironlb namespace: where IPAddressPools, L2Advertisements and the ConfigMap are read. */
  namespace: string;
  configMapName: string;
  strandPolicy: 'warn' | 'refuse';
  /** False until the caches are synced: only per-object checks then. */
  synced: boolean;
  pools: readonly IPAddressPoolObject[];
  advertisements: readonly L2AdvertisementObject[];
  /** The ConfigMap's config in force. */
  legacy: Config | undefined;
  /** The merged config in force. */
  config: Config | undefined;
  /** Services holding IPs, oldest first. */
  holders: readonly Holder[];
  /** Known nodes (undefined when not watched). */
  nodes: readonly NodeInfo[] | undefined;
  /** The mass-release guard's default limit. */
  maxRelease?: number;
  /** The largest max-ip-release annotation on the IPAddressPools and the ConfigMap (what the controller allows object changes). */
  allowance?: number | undefined;
}

/** Longest warning sent (kubectl prints them verbatim; the API server caps the total). */
const MAX_WARNING = 240;
const MAX_WARNINGS = 10;
const MAX_MESSAGE = 4000;

interface Meta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
}

function meta(o: unknown): Meta {
  const m = (o as { metadata?: unknown } | null | undefined)?.metadata;
  return typeof m === 'object' && m !== null ? m : {};
}

function cut(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

function verdict(allowed: boolean, message: string | undefined, warnings: readonly string[]): AdmissionVerdict {
  const w = warnings.slice(0, MAX_WARNINGS).map((x) => cut(x, MAX_WARNING));
  if (warnings.length > MAX_WARNINGS) w.push(`… and ${warnings.length - MAX_WARNINGS} more warnings`);
  return { allowed, ...(message !== undefined ? { message: cut(message, MAX_MESSAGE) } : {}), warnings: w };
}

function deny(errors: readonly string[], warnings: readonly string[] = []): AdmissionVerdict {
  return verdict(false, errors.join('; '), warnings);
}

/**
 * What the controller reads of an object: the spec (the ConfigMap's data). An UPDATE that leaves
 * it as it was changes labels, annotations or finalizers only.
 */
function content(kind: string, o: unknown): unknown {
  const r = o as { spec?: unknown; data?: unknown; binaryData?: unknown } | null | undefined;
  return kind === 'ConfigMap' ? [r?.data, r?.binaryData] : r?.spec;
}

/**
 * Decides one admission request. An UPDATE that leaves the content unchanged is always allowed:
 * an object that is already invalid (made while the webhook was down, or by an older ironlb) must
 * still take a label or annotation fix and lose its finalizers, or `kubectl delete` hangs. What
 * would have been refused comes back as a warning.
 */
export function admit(req: AdmissionRequest, ctx: AdmissionContext): AdmissionVerdict {
  const v = decide(req, ctx);
  if (v.allowed || req.operation !== 'UPDATE' || req.oldObject === undefined) return v;
  if (!isDeepStrictEqual(content(req.kind.kind, req.object), content(req.kind.kind, req.oldObject))) return v;
  return verdict(true, undefined, [
    `only metadata changed, so this update is allowed; the ${req.kind.kind === 'ConfigMap' ? 'data' : 'spec'} is still not valid: ${v.message ?? 'refused'}`,
    ...v.warnings,
  ]);
}

function decide(req: AdmissionRequest, ctx: AdmissionContext): AdmissionVerdict {
  const kind = req.kind.kind;
  if (req.kind.group === 'ironlb.io' && kind === 'IPAddressPool') return admitPool(req, ctx);
  if (req.kind.group === 'ironlb.io' && kind === 'L2Advertisement') return admitAdvertisement(req, ctx);
  if (req.kind.group === '' && kind === 'ConfigMap') return admitConfigMap(req, ctx);
  // Not ours (a misconfigured webhook rule): never block it.
  return verdict(true, undefined, []);
}

function wrongNamespace(kind: string, ns: string | undefined, ctx: AdmissionContext): string | undefined {
  if (ns === ctx.namespace) return undefined;
  return `${kind} objects are read in namespace ${quote(ctx.namespace)} only; ironlb would ignore this one in ${quote(ns ?? '')}`;
}

function poolInputs(
  pools: readonly IPAddressPoolObject[],
  replace: { name: string; object: unknown } | undefined,
  drop: string | undefined,
): { name: string; labels: Record<string, string>; spec: unknown; createdMs?: number }[] {
  const out = pools
    .filter((p) => p.metadata?.name !== replace?.name && p.metadata?.name !== drop)
    .map((p) => ({ name: p.metadata?.name ?? '', labels: p.metadata?.labels ?? {}, spec: p.spec, createdMs: new Date(p.metadata?.creationTimestamp ?? 0).getTime() }));
  if (replace !== undefined) {
    const m = meta(replace.object);
    // The object being admitted is the newest: established pools keep contested addresses.
    out.push({ name: replace.name, labels: m.labels ?? {}, spec: (replace.object as { spec?: unknown }).spec, createdMs: Number.MAX_SAFE_INTEGER });
  }
  return out;
}

function advInputs(ads: readonly L2AdvertisementObject[]): { name: string; labels: Record<string, string>; spec: unknown }[] {
  return ads.map((a) => ({ name: a.metadata?.name ?? '', labels: a.metadata?.labels ?? {}, spec: a.spec ?? {} }));
}

/** The stranded Services of a change, and the verdict of the guard (refuse beats warn). */
function strands(next: Config, ctx: AdmissionContext, what: string, allow: string | undefined, where: { name: string; kind: 'configmap' | 'ipaddresspool' }): { errors: string[]; warnings: string[] } {
  if (ctx.config === undefined) return { errors: [], warnings: [] };
  const stranded = strandedBy(next, ctx.config, ctx.holders);
  if (stranded.length === 0) return { errors: [], warnings: [] };
  // The same allowance the controller applies: the object's own annotation, and for pool changes
  // the largest one on any pool or the ConfigMap.
  const own = parseMaxRelease(allow).limit;
  const others = where.kind === 'ipaddresspool' ? ctx.allowance : undefined;
  const limit = own === undefined ? others : others === undefined ? own : Math.max(own, others);
  const guard = releaseVerdict(stranded, ctx.holders.length, limit, { namespace: ctx.namespace, ...where }, ctx.maxRelease ?? DEFAULT_MAX_RELEASE);
  const shown = stranded.slice(0, 5).join(', ') + (stranded.length > 5 ? `, and ${stranded.length - 5} more` : '');
  const message = `${what} takes the IPs away from ${stranded.length} Service(s) (${shown}); they would get new IPs`;
  if (!guard.ok) return { errors: [`${what}: ${guard.message ?? 'refused'}`], warnings: [] };
  if (ctx.strandPolicy === 'refuse') return { errors: [`${message}; refused (webhook strand policy "refuse"; annotate it ${MAX_RELEASE_ANNOTATION}=${stranded.length} if intended)`], warnings: [] };
  return { errors: [], warnings: [message] };
}

/** Holders whose IPs are in `pool` under `next` although its serviceAllocation does not serve them. */
function keptAgainstRules(next: Config, holders: readonly Holder[], pool: string): string[] {
  const p = next.pools.find((x) => x.name === pool);
  if (p?.serviceAllocation === undefined || holders.length === 0) return [];
  const a = new Allocator(next);
  const out: string[] = [];
  for (const h of holders) {
    const r = a.assign(h.record, h.ips);
    if (r.ok && r.ruleMismatch !== undefined && r.allocation.pool === pool) out.push(h.record.key);
  }
  return out;
}

function admitPool(req: AdmissionRequest, ctx: AdmissionContext): AdmissionVerdict {
  const obj = req.operation === 'DELETE' ? req.oldObject : req.object;
  const m = meta(obj);
  const name = m.name ?? req.name ?? '';
  const ns = m.namespace ?? req.namespace;
  const elsewhere = wrongNamespace('IPAddressPool', ns, ctx);
  if (elsewhere !== undefined) return req.operation === 'DELETE' ? verdict(true, undefined, []) : deny([elsewhere]);
  if (req.operation !== 'DELETE') {
    const parsed = parsePoolObject({ name, labels: m.labels ?? {}, spec: (obj as { spec?: unknown } | undefined)?.spec });
    if (!parsed.ok) return deny(parsed.errors);
    if (!ctx.synced) return verdict(true, undefined, ['ironlb is starting: overlaps with other pools are checked by the controller later']);
    const built = buildConfig({ legacy: ctx.legacy, previous: ctx.config, pools: poolInputs(ctx.pools, { name, object: obj }, undefined), advertisements: advInputs(ctx.advertisements) });
    const mine = built.problems.find((p) => p.kind === 'IPAddressPool' && p.name === name);
    if (mine !== undefined) return deny(mine.errors.map((e) => e.replace(/^IPAddressPool "[^"]*": /, '')).map((e) => `IPAddressPool ${quote(name)}: ${e}`));
    const warnings = [...parsed.warnings];
    const pool = built.config.pools.find((p) => p.name === name);
    if (pool !== undefined && !(built.config.l2Advertisements ?? []).some((a) => advertisementCoversPool(a, pool))) {
      warnings.push(`no L2Advertisement covers IPAddressPool ${quote(name)} yet: its IPs will be allocated but not announced until one does`);
    }
    const s = strands(built.config, ctx, `this change of IPAddressPool ${quote(name)}`, m.annotations?.[MAX_RELEASE_ANNOTATION], { name, kind: 'ipaddresspool' });
    const kept = keptAgainstRules(built.config, ctx.holders, name);
    if (kept.length > 0) {
      const shown = kept.slice(0, 5).join(', ') + (kept.length > 5 ? `, and ${kept.length - 5} more` : '');
      warnings.push(`${kept.length} Service(s) holding IPs of IPAddressPool ${quote(name)} do not match its serviceAllocation (${shown}): they keep their IPs; the rules decide new allocations only`);
    }
    return s.errors.length > 0 ? deny(s.errors, warnings) : verdict(true, undefined, [...warnings, ...s.warnings]);
  }
  if (!ctx.synced) return verdict(true, undefined, []);
  const built = buildConfig({ legacy: ctx.legacy, previous: undefined, pools: poolInputs(ctx.pools, undefined, name), advertisements: advInputs(ctx.advertisements) });
  // A deleted pool's own annotation is gone with it: the allowance comes from the objects that stay.
  const other = ctx.pools.find((p) => p.metadata?.name !== name)?.metadata?.name;
  const s = strands(
    built.config,
    ctx,
    `deleting IPAddressPool ${quote(name)}`,
    undefined,
    other !== undefined ? { name: other, kind: 'ipaddresspool' } : { name: ctx.configMapName, kind: 'configmap' },
  );
  return s.errors.length > 0 ? deny(s.errors) : verdict(true, undefined, s.warnings);
}

function admitAdvertisement(req: AdmissionRequest, ctx: AdmissionContext): AdmissionVerdict {
  const obj = req.operation === 'DELETE' ? req.oldObject : req.object;
  const m = meta(obj);
  const name = m.name ?? req.name ?? '';
  const elsewhere = wrongNamespace('L2Advertisement', m.namespace ?? req.namespace, ctx);
  if (elsewhere !== undefined) return req.operation === 'DELETE' ? verdict(true, undefined, []) : deny([elsewhere]);
  const others = ctx.advertisements.filter((a) => a.metadata?.name !== name);
  if (req.operation === 'DELETE') {
    if (!ctx.synced || ctx.config === undefined) return verdict(true, undefined, []);
    const rest = buildConfig({ legacy: ctx.legacy, pools: poolInputs(ctx.pools, undefined, undefined), advertisements: advInputs(others) }).config;
    const orphaned = rest.pools.filter((p) => !(rest.l2Advertisements ?? []).some((a) => advertisementCoversPool(a, p))).map((p) => p.name);
    const wasCovered = orphaned.filter((p) => ctx.config?.pools.some((q) => q.name === p && (ctx.config?.l2Advertisements ?? []).some((a) => advertisementCoversPool(a, q))));
    if (wasCovered.length === 0) return verdict(true, undefined, []);
    return verdict(true, undefined, [`after this deletion no L2Advertisement covers pool(s) ${wasCovered.map((p) => quote(p)).join(', ')}: their Services' IPs stop being announced`]);
  }
  const parsed = parseAdvertisementObject({ name, labels: m.labels ?? {}, spec: (obj as { spec?: unknown } | undefined)?.spec ?? {} });
  if (!parsed.ok) return deny(parsed.errors);
  const warnings: string[] = [];
  if (ctx.synced) {
    const known = new Set([...ctx.pools.map((p) => p.metadata?.name ?? ''), ...(ctx.legacy?.pools ?? []).map((p) => p.name)]);
    for (const p of parsed.value.ipAddressPools) if (!known.has(p)) warnings.push(`spec.ipAddressPools: no pool named ${quote(p)} exists (yet)`);
    if (ctx.nodes !== undefined && parsed.value.nodeSelectors.length > 0 && nodesSelectedBy(parsed.value, ctx.nodes).length === 0) {
      warnings.push('spec.nodeSelectors select no node right now: the covered pools are not announced until a node matches');
    }
  }
  return verdict(true, undefined, warnings);
}

function admitConfigMap(req: AdmissionRequest, ctx: AdmissionContext): AdmissionVerdict {
  const obj = req.object;
  const m = meta(obj);
  // matchConditions should have filtered everything else; check again, never block others.
  if ((m.name ?? req.name) !== ctx.configMapName || (m.namespace ?? req.namespace) !== ctx.namespace || req.operation === 'DELETE') return verdict(true, undefined, []);
  const data = (obj as { data?: Record<string, unknown> } | undefined)?.data;
  const text = data?.['config'];
  if (typeof text !== 'string') return deny([`ConfigMap ${quote(ctx.namespace)}/${quote(ctx.configMapName)}: data key "config" is missing; it holds the address pools (MetalLB legacy format)`]);
  const parsed = parseConfig(text);
  if (isConfigError(parsed)) return deny([`ConfigMap ${ctx.namespace}/${ctx.configMapName}: ${parsed.message}`]);
  if (parsed.blank) return deny([`ConfigMap ${ctx.namespace}/${ctx.configMapName}: the "config" key is empty (no YAML content); to remove every pool on purpose write "address-pools: []"`]);
  const warnings = [...parsed.warnings];
  if (!ctx.synced) return verdict(true, undefined, warnings);
  const built = buildConfig({ legacy: parsed, previous: ctx.config, pools: poolInputs(ctx.pools, undefined, undefined), advertisements: advInputs(ctx.advertisements) });
  const lost = built.problems.filter((p) => p.kind === 'ConfigMap');
  if (lost.length > 0)
    return deny(
      lost.flatMap((p) => p.errors).map((e) => `ConfigMap ${ctx.namespace}/${ctx.configMapName}: ${e}`),
      warnings,
    );
  const s = strands(built.config, ctx, `this ConfigMap`, m.annotations?.[MAX_RELEASE_ANNOTATION], { name: ctx.configMapName, kind: 'configmap' });
  return s.errors.length > 0 ? deny(s.errors, warnings) : verdict(true, undefined, [...warnings, ...s.warnings]);
}
