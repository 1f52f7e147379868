// Frames shared by the tests. The `kernel*` ones were captured from Linux 6.x in a veth lab
// (client 02:00:00:00:00:0c, 198.51.100.2, 2001:db8::2), so their checksums and layouts are an
// independent reference, not something our encoder produced.

/** Hex string → bytes (whitespace ignored). */
export function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}

/** Kernel ARP request: who has 198.51.100.10? tell 198.51.100.2. */
export const kernelArpRequest = hex(`
  ffffffffffff 02000000000c 0806
  0001 0800 06 04 0001 02000000000c c6336402 000000000000 c633640a`);

/** Kernel NS for 2001:db8::10 from 2001:db8::2 to its solicited-node group, with SLLAO. */
export const kernelNs = hex(`
  3333ff000010 02000000000c 86dd
  60000000 0020 3a ff 20010db8000000000000000000000002 ff0200000000000000000001ff000010
  87 00 1bff 00000000 20010db8000000000000000000000010 0101 02000000000c`);

/** Kernel DAD probe for fe80::ff:fe00:c: source ::, no SLLAO, a nonce option (type 14). */
export const kernelDadNs = hex(`
  3333ff00000c 02000000000c 86dd
  60000000 0020 3a ff 00000000000000000000000000000000 ff0200000000000000000001ff00000c
  87 00 dcc2 00000000 fe80000000000000000000fffe00000c 0e01 c8c1da99eee7`);
