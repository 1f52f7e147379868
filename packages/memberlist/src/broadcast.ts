/**
 * The transmit-limited broadcast queue (memberlist queue.go): gossip messages about nodes are
 * piggybacked on probes and sent on the gossip timer, fewest-transmitted (then newest) first,
 * each at most `limit` times. A new message about a node replaces the queued one about it.
 *
 * The queue stays sorted (like Go's btree) instead of being re-sorted on every send: a cluster
 * of 1000 members can hold 1000 queued messages, and every ping, ack and gossip packet asks
 * for broadcasts. Only the few messages taken by a call move.
 */

interface Item {
  name: string;
  msg: Uint8Array;
  transmits: number;
  id: number;
  notify: (() => void) | undefined;
}

/** Order: fewer transmits first, then newer (higher id) first. */
function before(a: Item, b: Item): boolean {
  return a.transmits < b.transmits || (a.transmits === b.transmits && a.id > b.id);
}

/** Most queued items looked at per call: bounds the work of one packet. */
const MAX_SCAN = 512;

/** A queue of node-state broadcasts with a per-message retransmit limit. */
export class BroadcastQueue {
  /** Sorted by `before`. */
  private items: Item[] = [];
  private readonly byName = new Map<string, Item>();
  private nextId = 0;

  /** Queues `msg` about node `name`, replacing any queued message about the same node. */
  queue(name: string, msg: Uint8Array, notify?: () => void): void {
    const old = this.byName.get(name);
    if (old !== undefined) {
      this.remove(old);
      old.notify?.();
    }
    const it: Item = { name, msg, transmits: 0, id: this.nextId++, notify };
    this.byName.set(name, it);
    // Newest with no transmits: it goes first.
    this.items.unshift(it);
  }

  /** Number of queued messages. */
  size(): number {
    return this.items.length;
  }

  /**
   * Takes messages that fit in `limit` bytes, counting `overhead` per message, and bumps their
   * transmit counts; messages reaching `retransmitLimit` leave the queue and are notified.
   */
  getBroadcasts(overhead: number, limit: number, retransmitLimit: number): Uint8Array[] {
    const items = this.items;
    if (items.length === 0) return [];
    const out: Uint8Array[] = [];
    const taken: number[] = [];
    let used = 0;
    const n = Math.min(items.length, MAX_SCAN);
    for (let i = 0; i < n; i++) {
      // Stop once not even a one-byte message could fit.
      if (limit - used <= overhead) break;
      const it = items[i] as Item;
      const cost = overhead + it.msg.length;
      if (used + cost > limit) continue;
      used += cost;
      out.push(it.msg);
      taken.push(i);
    }
    if (taken.length === 0) return out;
    // Pull the taken items out (from the back, so indexes stay valid), then re-insert the ones
    // that may be sent again at their new place.
    const moved: Item[] = [];
    for (let k = taken.length - 1; k >= 0; k--) {
      const [it] = items.splice(taken[k] as number, 1);
      if (it === undefined) continue;
      it.transmits++;
      if (it.transmits >= retransmitLimit) {
        this.byName.delete(it.name);
        it.notify?.();
      } else moved.push(it);
    }
    for (const it of moved) this.insert(it);
    return out;
  }

  /** Drops everything (notifying waiters). */
  reset(): void {
    const items = this.items;
    this.items = [];
    this.byName.clear();
    for (const it of items) it.notify?.();
  }

  private insert(it: Item): void {
    const items = this.items;
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(items[mid] as Item, it)) lo = mid + 1;
      else hi = mid;
    }
    items.splice(lo, 0, it);
  }

  private remove(it: Item): void {
    this.byName.delete(it.name);
    const items = this.items;
    // Binary search by order, then a short scan (ids are unique, so the match is exact).
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(items[mid] as Item, it)) lo = mid + 1;
      else hi = mid;
    }
    if (items[lo] === it) items.splice(lo, 1);
    else {
      const i = items.indexOf(it);
      if (i >= 0) items.splice(i, 1);
    }
  }
}
