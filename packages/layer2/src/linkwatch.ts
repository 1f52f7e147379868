// Link state notifications from the kernel (rtnetlink RTMGRP_LINK through the addon), so the
// announcer learns within milliseconds that a link went down or came back instead of at the
// next 10 s rescan. A carrier cut (cable pulled, switch port down) never errors a packet
// socket: only these notifications reveal it.
import { loadPacketBinding } from './afpacket.js';

/** Linux IFF_RUNNING: operationally up (carrier present, not dormant). */
export const IFF_RUNNING = 0x40;
/** Linux IFF_LOWER_UP: the driver signals carrier. */
export const IFF_LOWER_UP = 0x10000;

/** One change (or the initial state) of one link, or a notice that notifications were lost. */
export type LinkEvent =
  | {
      readonly kind: 'link';
      /** Kernel ifindex. */
      readonly ifindex: number;
      /** Interface name. */
      readonly name: string;
      /** Administratively up (IFF_UP). */
      readonly up: boolean;
      /** Operationally up: IFF_UP and IFF_RUNNING (carrier present). */
      readonly running: boolean;
      /** The link was deleted. */
      readonly deleted: boolean;
    }
  /** The kernel dropped notifications (socket overflow): the receiver should rescan. */
  | { readonly kind: 'overflow' };

/** A running link watch. */
export interface LinkWatch {
  /** Stops notifications; idempotent. */
  close(): void;
}

/** Starts a link watch; `onEvent` first sees every existing link, then every change. */
export type WatchLinks = (onEvent: (ev: LinkEvent) => void, onError: (err: Error) => void) => LinkWatch;

/** IFF_UP. */
const IFF_UP = 0x1;

/** Pure: the LinkEvent for a link's rtnetlink flags. */
export function linkEventFromFlags(ifindex: number, name: string, flags: number, deleted: boolean): LinkEvent {
  const up = (flags & IFF_UP) !== 0;
  return { kind: 'link', ifindex, name, up, running: up && (flags & IFF_RUNNING) !== 0 && !deleted, deleted };
}

/**
 * The production WatchLinks: a NETLINK_ROUTE socket subscribed to link notifications. Needs no
 * privileges. The socket does not keep the event loop alive.
 */
export const watchLinksNetlink: WatchLinks = (onEvent, onError) => {
  const b = loadPacketBinding();
  let closed = false;
  const h = b.linkMonitor((events, overflow) => {
    if (closed) return;
    for (const e of events) onEvent(linkEventFromFlags(e.ifindex, e.name, e.flags, e.deleted));
    if (overflow) onEvent({ kind: 'overflow' });
  }, onError);
  b.ref(h, false);
  return {
    close(): void {
      if (closed) return;
      closed = true;
      b.close(h);
    },
  };
};
