/**
 * The transmit-limited broadcast queue (memberlist queue.go): gossip messages about nodes are
 * piggybacked on probes and sent on the gossip timer, fewest-transmitted (then newest) first,
 * each at most `limit` times. A new message about a node replaces the queued one about it.
 */

interface Item {
  name: string;
  msg: Uint8Array;
  transmits: number;
  id: number;
  notify: (() => void) | undefined;
}

/** A queue of node-state broadcasts with a per-message retransmit limit. */
export class BroadcastQueue {
  private items: Item[] = [];
  private nextId = 0;

  /** Queues `msg` about node `name`, replacing any queued message about the same node. */
  queue(name: string, msg: Uint8Array, notify?: () => void): void {
    const kept: Item[] = [];
    for (const it of this.items) {
      if (it.name === name) it.notify?.();
      else kept.push(it);
    }
    kept.push({ name, msg, transmits: 0, id: this.nextId++, notify });
    this.items = kept;
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
    if (this.items.length === 0) return [];
    this.items.sort((a, b) => a.transmits - b.transmits || b.id - a.id);
    const out: Uint8Array[] = [];
    let used = 0;
    const kept: Item[] = [];
    for (const it of this.items) {
      const cost = overhead + it.msg.length;
      if (used + cost > limit) {
        kept.push(it);
        continue;
      }
      used += cost;
      out.push(it.msg);
      it.transmits++;
      if (it.transmits >= retransmitLimit) it.notify?.();
      else kept.push(it);
    }
    this.items = kept;
    return out;
  }

  /** Drops everything (notifying waiters). */
  reset(): void {
    for (const it of this.items) it.notify?.();
    this.items = [];
  }
}
