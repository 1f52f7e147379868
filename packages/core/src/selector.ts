/**
 * Kubernetes label selectors (metav1.LabelSelector), pure: validation of untrusted input with
 * messages that name the field, and matching with the API server's semantics. An empty selector
 * (`{}`) selects everything; a list of selectors selects what any of them selects, and an empty
 * list means "no restriction" where MetalLB says so (node selectors, pool selectors).
 */
import { quote } from './ip.js';

/** One `matchExpressions` entry. */
export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  /** Non-empty for In/NotIn, empty for Exists/DoesNotExist. */
  readonly values: readonly string[];
}

/** A validated label selector (requirements are ANDed). */
export interface LabelSelector {
  readonly matchLabels: Readonly<Record<string, string>>;
  readonly matchExpressions: readonly LabelSelectorRequirement[];
}

/** Labels of an object (a Node, a Namespace, a Service, a pool). */
export type Labels = Readonly<Record<string, string>>;

/** The selector that selects everything (`{}`). */
export const EVERYTHING: LabelSelector = Object.freeze({ matchLabels: Object.freeze({}), matchExpressions: Object.freeze([]) });

const OPERATORS = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist']);
/** Kubernetes "qualified name" (the part after an optional DNS prefix) and label value syntax. */
const NAME_RE = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** More requirements or values than any real selector has: refuse, do not evaluate. */
const MAX_TERMS = 64;

/** Why `key` is not a valid label key, or undefined. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN_RE.test(prefix))) {
    return `label key ${quote(key)}: the prefix must be a DNS subdomain (lower case, at most 253 characters)`;
  }
  if (name.length === 0 || name.length > 63 || !NAME_RE.test(name)) {
    return `label key ${quote(key)} must be at most 63 characters of letters, digits, "-", "_" or ".", starting and ending with a letter or digit`;
  }
  return undefined;
}

/** Why `value` is not a valid label value, or undefined ("" is valid). */
export function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63 || !NAME_RE.test(value)) {
    return `label value ${quote(value)} must be at most 63 characters of letters, digits, "-", "_" or ".", starting and ending with a letter or digit`;
  }
  return undefined;
}

/** A parse result: the selector, or the problems (each prefixed with the field path). */
export type SelectorParse = { readonly ok: true; readonly selector: LabelSelector } | { readonly ok: false; readonly errors: readonly string[] };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Validates a selector from untrusted input (a CRD spec, a file). `path` names the field in
 * messages (`spec.nodeSelectors[0]`). Unknown keys are errors, as in a strict decoder.
 */
export function parseSelector(raw: unknown, path: string): SelectorParse {
  const errors: string[] = [];
  if (raw === null || raw === undefined) return { ok: true, selector: EVERYTHING };
  if (!isRecord(raw)) return { ok: false, errors: [`${path}: must be a label selector (matchLabels / matchExpressions), got ${kindOf(raw)}`] };
  for (const k of Object.keys(raw)) {
    if (k !== 'matchLabels' && k !== 'matchExpressions') errors.push(`${path}: unknown field ${quote(k)} (allowed: matchLabels, matchExpressions)`);
  }
  const matchLabels: Record<string, string> = {};
  const ml = raw['matchLabels'];
  if (ml !== undefined && ml !== null) {
    if (!isRecord(ml)) errors.push(`${path}.matchLabels: must be a map of label key to value, got ${kindOf(ml)}`);
    else {
      const entries = Object.entries(ml);
      if (entries.length > MAX_TERMS) errors.push(`${path}.matchLabels: ${entries.length} labels; the limit is ${MAX_TERMS}`);
      else {
        for (const [k, v] of entries) {
          const kp = labelKeyProblem(k);
          if (kp !== undefined) errors.push(`${path}.matchLabels: ${kp}`);
          if (typeof v !== 'string') errors.push(`${path}.matchLabels[${quote(k)}]: must be a string, got ${kindOf(v)}`);
          else {
            const vp = labelValueProblem(v);
            if (vp !== undefined) errors.push(`${path}.matchLabels[${quote(k)}]: ${vp}`);
            else matchLabels[k] = v;
          }
        }
      }
    }
  }
  const matchExpressions: LabelSelectorRequirement[] = [];
  const me = raw['matchExpressions'];
  if (me !== undefined && me !== null) {
    if (!Array.isArray(me)) errors.push(`${path}.matchExpressions: must be a list, got ${kindOf(me)}`);
    else if (me.length > MAX_TERMS) errors.push(`${path}.matchExpressions: ${me.length} expressions; the limit is ${MAX_TERMS}`);
    else {
      me.forEach((e: unknown, i) => {
        const at = `${path}.matchExpressions[${i}]`;
        const r = parseRequirement(e, at);
        if (Array.isArray(r)) errors.push(...r);
        else matchExpressions.push(r);
      });
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, selector: { matchLabels, matchExpressions } };
}

/** The requirement, or its problems. */
function parseRequirement(e: unknown, at: string): LabelSelectorRequirement | string[] {
  if (!isRecord(e)) return [`${at}: must be {key, operator, values}, got ${kindOf(e)}`];
  const errors: string[] = [];
  for (const k of Object.keys(e)) if (k !== 'key' && k !== 'operator' && k !== 'values') errors.push(`${at}: unknown field ${quote(k)} (allowed: key, operator, values)`);
  const key = e['key'];
  const op = e['operator'];
  const values = e['values'];
  if (typeof key !== 'string') errors.push(`${at}.key: must be a string, got ${kindOf(key)}`);
  else {
    const kp = labelKeyProblem(key);
    if (kp !== undefined) errors.push(`${at}.key: ${kp}`);
  }
  if (typeof op !== 'string' || !OPERATORS.has(op)) errors.push(`${at}.operator: ${typeof op === 'string' ? quote(op) : kindOf(op)} is not In, NotIn, Exists or DoesNotExist`);
  const vals: string[] = [];
  if (values !== undefined && values !== null) {
    if (!Array.isArray(values)) errors.push(`${at}.values: must be a list of strings, got ${kindOf(values)}`);
    else if (values.length > MAX_TERMS) errors.push(`${at}.values: ${values.length} values; the limit is ${MAX_TERMS}`);
    else {
      values.forEach((v: unknown, j) => {
        if (typeof v !== 'string') errors.push(`${at}.values[${j}]: must be a string, got ${kindOf(v)}`);
        else {
          const vp = labelValueProblem(v);
          if (vp !== undefined) errors.push(`${at}.values[${j}]: ${vp}`);
          else vals.push(v);
        }
      });
    }
  }
  if (typeof op === 'string' && (op === 'In' || op === 'NotIn') && vals.length === 0 && errors.length === 0) {
    errors.push(`${at}.values: operator ${op} needs at least one value`);
  }
  if (typeof op === 'string' && (op === 'Exists' || op === 'DoesNotExist') && Array.isArray(values) && values.length > 0) {
    errors.push(`${at}.values: operator ${op} takes no values`);
  }
  if (errors.length > 0) return errors;
  return { key: key as string, operator: op as LabelSelectorRequirement['operator'], values: vals };
}

/** True when `labels` satisfy every requirement of `sel` (an empty selector matches everything). */
export function matchesSelector(sel: LabelSelector, labels: Labels): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels)) {
    if (!Object.prototype.hasOwnProperty.call(labels, k) || labels[k] !== v) return false;
  }
  for (const r of sel.matchExpressions) {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    switch (r.operator) {
      case 'In':
        if (!has || !r.values.includes(labels[r.key] ?? '')) return false;
        break;
      case 'NotIn':
        if (has && r.values.includes(labels[r.key] ?? '')) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** True when any selector of the list matches; an empty list matches everything (MetalLB's "no selector = all"). */
export function matchesAny(selectors: readonly LabelSelector[], labels: Labels): boolean {
  return selectors.length === 0 || selectors.some((s) => matchesSelector(s, labels));
}

/** The selector as kubectl prints it (`a=b,c in (x,y),!d`); "" selects everything. */
export function formatSelector(sel: LabelSelector): string {
  const parts = Object.entries(sel.matchLabels).map(([k, v]) => `${k}=${v}`);
  for (const r of sel.matchExpressions) {
    if (r.operator === 'Exists') parts.push(r.key);
    else if (r.operator === 'DoesNotExist') parts.push(`!${r.key}`);
    else parts.push(`${r.key} ${r.operator === 'In' ? 'in' : 'notin'} (${r.values.join(',')})`);
  }
  return parts.join(',');
}

/** A canonical text of the selector (order-independent), to compare two selectors. */
export function selectorKey(sel: LabelSelector): string {
  const labels = Object.entries(sel.matchLabels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const exprs = sel.matchExpressions.map((r) => `${r.key}\u0000${r.operator}\u0000${[...r.values].sort().join('\u0000')}`).sort();
  return JSON.stringify([labels, exprs]);
}

/** What a value is, for "must be X, got Y" messages; never prints a whole object. */
export function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `string ${quote(v)}`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${String(v)}`;
  return typeof v;
}
