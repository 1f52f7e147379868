/**
 * The announce/withdraw difference between what this node announces and what the plan wants,
 * pure. Owners are Service keys: an IP shared by several Services is announced while any of
 * them wants it, so the diff works on (ip, owner) pairs.
 */

/** ip → owners (Service keys). */
export type Announcements = ReadonlyMap<string, ReadonlySet<string> | readonly string[]>;

/** One (ip, owner) pair. */
export interface Holding {
  readonly ip: string;
  readonly owner: string;
}

/** What to change: withdrawals first, so an IP moving between Services is never held twice. */
export interface AnnounceDiff {
  readonly withdraw: readonly Holding[];
  readonly announce: readonly Holding[];
}

/** The pairs in `have` but not `want` (withdraw) and in `want` but not `have` (announce). */
export function diffAnnouncements(have: Announcements, want: Announcements): AnnounceDiff {
  const withdraw: Holding[] = [];
  const announce: Holding[] = [];
  for (const [ip, owners] of have) {
    const w = asSet(want.get(ip));
    for (const owner of owners) if (!w.has(owner)) withdraw.push({ ip, owner });
  }
  for (const [ip, owners] of want) {
    const h = asSet(have.get(ip));
    for (const owner of owners) if (!h.has(owner)) announce.push({ ip, owner });
  }
  return { withdraw, announce };
}

/** Applies a diff to a mutable holding map (what the announcer now holds). */
export function applyDiff(have: Map<string, Set<string>>, d: AnnounceDiff): void {
  for (const { ip, owner } of d.withdraw) {
    const s = have.get(ip);
    if (s === undefined) continue;
    s.delete(owner);
    if (s.size === 0) have.delete(ip);
  }
  for (const { ip, owner } of d.announce) {
    let s = have.get(ip);
    if (s === undefined) {
      s = new Set();
      have.set(ip, s);
    }
    s.add(owner);
  }
}

function asSet(v: ReadonlySet<string> | readonly string[] | undefined): ReadonlySet<string> {
  if (v === undefined) return new Set();
  return v instanceof Set ? v : new Set(v as readonly string[]);
}
