/**
 * What protects users from one ConfigMap edit that takes IPs away from many Services at once
 * (`config: ""` from a templating mistake, `address-pools: []`, a pool renamed or shrunk by a
 * typo). A new config may release the IPs of at most DEFAULT_MAX_RELEASE Services, and never of
 * every Service that holds one, unless the ConfigMap's `ironlb.io/max-ip-release` annotation
 * allows that many. A refused config changes nothing: the last good config stays in force (or the
 * controller stays idle if there was none) and a Warning Event on the ConfigMap says what to do.
 * Smaller releases go through, each Service getting a Warning (ClearAssignment) and a new IP.
 *
 * "Released" is judged from Service status, the source of truth, not from the allocator: a
 * controller that starts with a bad config has nothing in its allocator yet, and must still not
 * wipe every assigned IP. Pure: no I/O.
 */
import { Allocator, type Config, type ServiceRecord } from '@ironlb/core';

/** The ConfigMap annotation that raises the limit for the config it carries. */
export const MAX_RELEASE_ANNOTATION = 'ironlb.io/max-ip-release';
/** How many Services' IPs a config may release without the annotation. */
export const DEFAULT_MAX_RELEASE = 10;

/** A Service that holds IPs in its status. */
export interface Holder {
  readonly record: ServiceRecord;
  readonly ips: readonly string[];
}

/**
 * Keys of the holders whose IPs fit `current` (or any, when there is no current config) but not
 * `next`: an IP left every pool, moved to another pool than its partner, or the pool a Service
 * asks for is gone. Holders are judged in the given order (sharing depends on who came first).
 */
export function strandedBy(next: Config, current: Config | undefined, holders: readonly Holder[]): string[] {
  const after = new Allocator(next);
  const before = current === undefined ? undefined : new Allocator(current);
  const out: string[] = [];
  for (const h of holders) {
    const fitsBefore = before === undefined || before.assign(h.record, h.ips).ok;
    const fitsAfter = after.assign(h.record, h.ips).ok;
    if (fitsBefore && !fitsAfter) out.push(h.record.key);
  }
  return out;
}

/** The annotation's value as a limit: a non-negative integer, else undefined (and why). */
export function parseMaxRelease(value: string | undefined): { limit: number | undefined; problem?: string } {
  if (value === undefined) return { limit: undefined };
  const t = value.trim();
  if (!/^\d{1,9}$/.test(t)) return { limit: undefined, problem: `annotation ${MAX_RELEASE_ANNOTATION} must be a whole number, got ${JSON.stringify(t.slice(0, 32))}; ignored` };
  return { limit: Number(t) };
}

/** The guard's verdict on a config that would release `stranded` of `holding` Services. */
export interface ReleaseVerdict {
  readonly ok: boolean;
  /** For a refusal: what happened and how to allow it. */
  readonly message?: string;
}

/** Applies the rule; `names` are the stranded Services (the message lists a few). */
export function releaseVerdict(
  stranded: readonly string[],
  holding: number,
  limit: number | undefined,
  where: { namespace: string; name: string; kind?: 'configmap' | 'ipaddresspool' },
  defaultMax = DEFAULT_MAX_RELEASE,
): ReleaseVerdict {
  const n = stranded.length;
  if (n === 0) return { ok: true };
  const all = n >= holding;
  const allowed = limit ?? (all ? 0 : defaultMax);
  if (n <= allowed) return { ok: true };
  const shown = stranded.slice(0, 5).join(', ') + (n > 5 ? `, and ${n - 5} more` : '');
  const what = all ? `all ${n} Services that have one` : `${n} of the ${holding} Services that have one`;
  const rule =
    limit !== undefined ? `the ${MAX_RELEASE_ANNOTATION} annotation allows ${limit}` : all ? 'a config may never release every assigned IP unannounced' : `a config may release at most ${defaultMax}`;
  return {
    ok: false,
    message:
      `refused: this config would take the IPs away from ${what} (${shown}); ${rule}. The config in force stays. ` +
      `If this is intended: kubectl -n ${where.namespace} annotate ${where.kind ?? 'configmap'} ${where.name} --overwrite ${MAX_RELEASE_ANNOTATION}=${n}`,
  };
}
