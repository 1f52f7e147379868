import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARPHRD_ETHER, IFF_BROADCAST, IFF_LOOPBACK, IFF_NOARP, IFF_UP, parseIfInet6, readLinks, selectInterfaces, nameSkip } from './interfaces.js';
import type { LinkRecord, SelectOptions, SkipReason } from './interfaces.js';

const UP_BCAST = IFF_UP | IFF_BROADCAST | 0x1000; // 0x1000 = IFF_MULTICAST, irrelevant to selection

function link(name: string, over: Partial<LinkRecord> = {}): LinkRecord {
  return {
    name,
    ifindex: 2,
    flags: UP_BCAST,
    type: ARPHRD_ETHER,
    mac: '02:00:00:00:00:01',
    master: null,
    linkLocal: 'fe80::1',
    ...over,
  };
}

describe('selectInterfaces', { timeout: 60_000 }, () => {
  const cases: { desc: string; l: LinkRecord; opts?: SelectOptions; arp: SkipReason | 'yes'; ndp: SkipReason | 'yes' }[] = [
    { desc: 'plain uplink', l: link('eth0'), arp: 'yes', ndp: 'yes' },
    { desc: 'IPv4-only uplink gets no NDP responder (MetalLB #2685)', l: link('eno1', { linkLocal: null }), arp: 'yes', ndp: 'noLinkLocal' },
    { desc: 'down', l: link('eth1', { flags: IFF_BROADCAST }), arp: 'down', ndp: 'down' },
    { desc: 'bridge port', l: link('eth2', { master: 'br0' }), arp: 'enslaved', ndp: 'enslaved' },
    { desc: 'bond slave', l: link('ens3', { master: 'bond0' }), arp: 'enslaved', ndp: 'enslaved' },
    { desc: 'NOARP (e.g. a point-to-point link)', l: link('wg0', { flags: UP_BCAST | IFF_NOARP }), arp: 'noArp', ndp: 'noArp' },
    { desc: 'no broadcast: NDP only', l: link('ib0', { flags: IFF_UP }), arp: 'noBroadcast', ndp: 'yes' },
    { desc: 'not Ethernet (ipip)', l: link('tun0', { type: 768, mac: null }), arp: 'notEthernet', ndp: 'notEthernet' },
    { desc: 'no MAC', l: link('eth3', { mac: null }), arp: 'noMac', ndp: 'noMac' },
    { desc: 'loopback even if allowed', l: link('lo', { flags: IFF_UP | IFF_LOOPBACK }), opts: { allow: ['lo'] }, arp: 'loopback', ndp: 'loopback' },
    { desc: 'bridge itself is fine', l: link('br0'), arp: 'yes', ndp: 'yes' },
    ...['docker0', 'cbr0', 'dummy0', 'virbr0', 'lxcbr0', 'veth1234', 'lo', 'cali123', 'tunl0', 'flannel.1', 'kube-ipvs0', 'cni0', 'vxlan.calico', 'nodelocaldns', 'lxc00aa'].map((name) => ({
      desc: `default exclusion: ${name}`,
      l: link(name),
      arp: 'excluded' as const,
      ndp: 'excluded' as const,
    })),
    { desc: '"local" is not "lo"', l: link('local0'), arp: 'yes', ndp: 'yes' },
    { desc: 'custom exclude', l: link('eth0'), opts: { exclude: /^eth/ }, arp: 'excluded', ndp: 'excluded' },
    { desc: 'allow list admits an otherwise excluded name', l: link('veth0'), opts: { allow: ['veth0'] }, arp: 'yes', ndp: 'yes' },
    { desc: 'allow list skips the rest', l: link('eth0'), opts: { allow: ['eth1'] }, arp: 'notAllowed', ndp: 'notAllowed' },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const s = selectInterfaces([c.l], c.opts);
      const got = (family: 4 | 6): SkipReason | 'yes' =>
        (family === 4 ? s.arp : s.ndp).some((e) => e.name === c.l.name)
          ? 'yes'
          : (s.skipped.find((k) => k.name === c.l.name && k.family === family)?.reason ?? assert.fail('neither selected nor skipped'));
      assert.deepEqual([got(4), got(6)], [c.arp, c.ndp]);
    });
  }
  it('keeps input order and carries ifindex, MAC and link-local', () => {
    const s = selectInterfaces([link('eth1', { ifindex: 3 }), link('eth0', { ifindex: 2, mac: '02:00:00:00:00:02', linkLocal: null })]);
    assert.deepEqual(s.arp, [
      { name: 'eth1', ifindex: 3, mac: '02:00:00:00:00:01', linkLocal: 'fe80::1' },
      { name: 'eth0', ifindex: 2, mac: '02:00:00:00:00:02', linkLocal: null },
    ]);
  });
});

describe('nameSkip', { timeout: 60_000 }, () => {
  const cases: { name: string; opts?: SelectOptions; want: ReturnType<typeof nameSkip> }[] = [
    { name: 'eth0', want: null },
    { name: 'veth1234abcd', want: 'excluded' },
    { name: 'cali0123', want: 'excluded' },
    { name: 'lo', want: 'excluded' },
    { name: 'lo2', want: null },
    { name: 'veth0', opts: { allow: ['veth0'] }, want: null },
    { name: 'eth1', opts: { allow: ['eth0'] }, want: 'notAllowed' },
    { name: 'eth1', opts: { exclude: /^eth1$/ }, want: 'excluded' },
  ];
  for (const c of cases) {
    it(`${c.name} ${JSON.stringify(c.opts ?? {})} → ${String(c.want)}`, () => assert.equal(nameSkip(c.name, c.opts), c.want));
  }
});

describe('parseIfInet6', { timeout: 60_000 }, () => {
  it('keeps the first link-scope address per interface', () => {
    const text = [
      '00000000000000000000000000000001 01 80 10 80       lo',
      '20010db8000000000000000000000001 02 40 00 80     eth0',
      'fe80000000000000000000fffe00000a 02 40 20 80     eth0',
      'fe80000000000000000000000000beef 02 40 20 80     eth0',
      'garbage',
    ].join('\n');
    assert.deepEqual([...parseIfInet6(text)], [['eth0', 'fe80::ff:fe00:a']]);
  });
});

describe('readLinks', { timeout: 60_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), 'ironlb-sysfs-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  it('reads flags, type, MAC, master and link-local from a sysfs-shaped tree', () => {
    const net = join(root, 'class-net');
    const dev = (name: string, files: Record<string, string>): void => {
      mkdirSync(join(net, name), { recursive: true });
      for (const [f, v] of Object.entries(files)) writeFileSync(join(net, name, f), `${v}\n`);
    };
    dev('eth0', { ifindex: '2', flags: '0x1003', type: '1', address: '02:00:00:00:00:0A' });
    dev('eth1', { ifindex: '3', flags: '0x1003', type: '1', address: '02:00:00:00:00:0b' });
    dev('br0', { ifindex: '4', flags: '0x1003', type: '1', address: '02:00:00:00:00:0c' });
    symlinkSync(join(net, 'br0'), join(net, 'eth1', 'master'));
    dev('ipip0', { ifindex: '5', flags: '0x91', type: '768', address: '0.0.0.0' });
    dev('gone', { flags: '0x1003' }); // vanished mid-scan: no ifindex
    const inet6 = join(root, 'if_inet6');
    writeFileSync(inet6, 'fe80000000000000000000fffe00000a 02 40 20 80     eth0\n');
    assert.deepEqual(readLinks(net, inet6), [
      { name: 'br0', ifindex: 4, flags: 0x1003, type: 1, mac: '02:00:00:00:00:0c', master: null, linkLocal: null },
      { name: 'eth0', ifindex: 2, flags: 0x1003, type: 1, mac: '02:00:00:00:00:0a', master: null, linkLocal: 'fe80::ff:fe00:a' },
      { name: 'eth1', ifindex: 3, flags: 0x1003, type: 1, mac: '02:00:00:00:00:0b', master: 'br0', linkLocal: null },
      { name: 'ipip0', ifindex: 5, flags: 0x91, type: 768, mac: null, master: null, linkLocal: null },
    ]);
  });
  it('fails with context when the directory is missing', () => {
    assert.throws(() => readLinks(join(root, 'nope')), /cannot list/);
  });
});
