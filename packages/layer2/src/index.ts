// @ironlb/layer2: ARP/NDP codecs (pure), responder and conflict decisions (pure), the announcer
// (state + timers over injected ports), interface discovery, and the AF_PACKET port and link
// watch (the only native edges).
export * from './errors.js';
export * from './addr.js';
export * from './ethernet.js';
export * from './arp.js';
export * from './ndp.js';
export * from './interfaces.js';
export * from './port.js';
export * from './afpacket.js';
export * from './linkwatch.js';
export * from './responder.js';
export * from './conflict.js';
export * from './announcer.js';
