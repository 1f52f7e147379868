/**
 * Lab addressing (pure). Every lab gets one /28 "block" k (1..7) of 198.51.100.0/25 and the
 * matching numbers in 2001:db8::/64, so several labs can coexist: the host namespace holds the
 * bridge of each lab with that block's first address, and routes only its own block there.
 *
 *   block k base b = 16k:  b+1 host (bridge, where the API server is reached)
 *                          b+2 client namespace
 *                          b+3 .. b+15 node namespaces (up to 13 nodes)
 *
 * Node and client interfaces carry the whole /25 and /64, so they are on-link with each other and
 * with the host. The LoadBalancer range is the upper half, 198.51.100.128/25, and 2001:db8::1:0/112.
 */

/** IPv4 LoadBalancer range of every lab. */
export const LB_RANGE_V4 = '198.51.100.128/25';
/** IPv6 LoadBalancer range of every lab (inside the lab /64, so it is on-link for clients). */
export const LB_RANGE_V6 = '2001:db8::1:0/112';
/** Most nodes one block holds. */
export const MAX_NODES = 13;
/** Number of blocks in 198.51.100.0/25 (block 0 is left unused: it holds .0). */
export const BLOCKS = 7;

/** The addresses of one lab member. */
export interface MemberAddress {
  ipv4: string;
  ipv6: string;
}

/** The addresses of a whole lab in block k. */
export interface LabAddressing {
  block: number;
  host: MemberAddress;
  client: MemberAddress;
  nodes: MemberAddress[];
  /** Prefix the host routes to this lab's bridge. */
  hostPrefixV4: string;
  hostPrefixV6: string;
}

function member(n: number): MemberAddress {
  return { ipv4: `198.51.100.${n}`, ipv6: `2001:db8::${n.toString(16)}` };
}

/** Addresses for a lab of `nodes` nodes in block `block`. */
export function labAddressing(block: number, nodes: number): LabAddressing {
  if (!Number.isInteger(block) || block < 1 || block > BLOCKS) throw new Error(`lab block ${block} out of range 1..${BLOCKS}`);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > MAX_NODES) throw new Error(`a lab holds 1..${MAX_NODES} nodes, not ${nodes}`);
  const b = 16 * block;
  return {
    block,
    host: member(b + 1),
    client: member(b + 2),
    nodes: Array.from({ length: nodes }, (_, i) => member(b + 3 + i)),
    hostPrefixV4: `198.51.100.${b}/28`,
    hostPrefixV6: `2001:db8::${b.toString(16)}/124`,
  };
}

/** The first block whose host address is not in `usedHostAddresses`, or undefined if all are taken. */
export function freeBlock(usedHostAddresses: ReadonlySet<string>): number | undefined {
  for (let k = 1; k <= BLOCKS; k++) {
    if (!usedHostAddresses.has(member(16 * k + 1).ipv4)) return k;
  }
  return undefined;
}
