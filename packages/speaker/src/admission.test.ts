/** Admission of gossip members: only Nodes of this cluster, from their addresses, with our meta. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AdmissionNode, admit } from './admission.js';
import { encodeNodeMeta } from './nodemeta.js';

const meta = encodeNodeMeta({ macs: ['02:00:00:00:00:01'], keys: [], primary: null });
const nodes: Record<string, AdmissionNode> = { 'node-1': { name: 'node-1', addresses: ['198.51.100.35', '2001:DB8::23'] } };
const nodeOf = (n: string): AdmissionNode | undefined => nodes[n];

describe('admit', () => {
  const table: [string, { name: string; addr: string; meta: Uint8Array }, string | undefined][] = [
    ['a Node, from its InternalIP, with our meta', { name: 'node-1', addr: '198.51.100.35', meta }, undefined],
    ['IPv6 text differs only in case/compression', { name: 'node-1', addr: '2001:db8:0::23', meta }, undefined],
    ['a name that is no Node', { name: 'fake-17', addr: '198.51.100.35', meta }, 'notANode'],
    ['a Node name from another address', { name: 'node-1', addr: '198.51.100.99', meta }, 'addressMismatch'],
    ['no meta (a foreign memberlist)', { name: 'node-1', addr: '198.51.100.35', meta: new Uint8Array(0) }, 'foreignMeta'],
    ['junk meta', { name: 'node-1', addr: '198.51.100.35', meta: Uint8Array.of(1, 2, 3, 4, 5, 6, 7) }, 'foreignMeta'],
  ];
  for (const [what, c, want] of table) it(what, () => assert.equal(admit(c, nodeOf), want));
});
