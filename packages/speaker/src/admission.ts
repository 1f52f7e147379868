/**
 * Who may join this speaker's gossip, pure (hashicorp's AliveDelegate/MergeDelegate, in ironlb's
 * terms): only a speaker can be a member, so a member must be named after a Kubernetes Node of
 * this cluster, gossip from one of that Node's addresses, and carry ironlb node meta. Anything
 * else (a forged member, a flood of fake ones, a foreign memberlist on the same port) is refused
 * before it takes a slot in the member table or a turn in the probe rotation.
 */
import { formatIP, parseIP } from '@ironlb/core';
import { decodeNodeMeta } from './nodemeta.js';

/** What admission knows of a Node: its name and addresses (InternalIP and ExternalIP). */
export interface AdmissionNode {
  readonly name: string;
  readonly addresses: readonly string[];
}

/** What a candidate member claims. */
export interface AdmissionCandidate {
  readonly name: string;
  readonly addr: string;
  readonly meta: Uint8Array;
}

/** Why a candidate was refused (a small fixed set: they are metric labels). */
export type RefusalReason = 'notANode' | 'addressMismatch' | 'foreignMeta';

/** undefined to admit, or the reason to refuse. */
export function admit(c: AdmissionCandidate, nodeOf: (name: string) => AdmissionNode | undefined): RefusalReason | undefined {
  const node = nodeOf(c.name);
  if (node === undefined) return 'notANode';
  const addr = canonical(c.addr);
  if (!node.addresses.some((a) => canonical(a) === addr)) return 'addressMismatch';
  if (decodeNodeMeta(c.meta) === null) return 'foreignMeta';
  return undefined;
}

function canonical(ip: string): string {
  const p = parseIP(ip);
  return p === null ? ip : formatIP(p);
}
