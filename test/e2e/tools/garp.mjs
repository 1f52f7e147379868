// Sends one gratuitous ARP (IPv4) or one unsolicited Neighbor Advertisement with the override flag
// (IPv6) claiming IP for this host's MAC, as a misconfigured or hostile host on the segment would:
//   node garp.mjs IFNAME IP
// The host does not need to hold the address. Uses ironlb's AF_PACKET addon (CAP_NET_RAW).
import { readFileSync } from 'node:fs';
import { gratuitousArpFrames, openPacketPort, unsolicitedNaFrame } from '@ironlb/layer2';

const [ifname, ip] = process.argv.slice(2);
const ifindex = Number(readFileSync(`/sys/class/net/${ifname}/ifindex`, 'utf8'));
const mac = readFileSync(`/sys/class/net/${ifname}/address`, 'utf8').trim();
const v6 = ip.includes(':');
const port = openPacketPort(ifindex, v6 ? 'ndp' : 'arp');
try {
  const frames = v6 ? [unsolicitedNaFrame(mac, ip, ip)] : gratuitousArpFrames(mac, ip);
  for (const f of frames) port.send(f);
} finally {
  port.close();
}
