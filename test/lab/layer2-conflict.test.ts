/**
 * Issue 9 item 3 on real sockets: conflict detection, defence and probing. Three namespaces on
 * one bridge: a node running the layer2 responder (with onClaim reporting), a client that
 * watches the wire, and a foreign host that claims addresses, first with crafted gratuitous ARP
 * and unsolicited NA, then with its own kernel holding an address the node wants to announce.
 *
 * Needs root and a built addon (and `npx tsc -b` for the wire tool's import);
 * skipped otherwise. Namespaces are unique per run and removed in after(), also on failure.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CodecError, decodeArpFrame, gratuitousArpFrames, unsolicitedNaFrame } from '@ironlb/layer2';
import { L2Lab, ResponderChild, WireChild, ip, labSkip, sleep } from './layer2-lab.js';

const VIP4 = '198.51.100.70';
const VIP6 = '2001:db8::1:70';
/** Held by the foreign host's kernel: probing it must find the foreign MAC. */
const TAKEN4 = '198.51.100.75';
const TAKEN6 = '2001:db8::1:75';
/** Nobody has these. */
const FREE4 = '198.51.100.76';
const FREE6 = '2001:db8::1:76';

describe('layer2: conflicts, defence, probing (lab)', { skip: labSkip, timeout: 120_000 }, () => {
  let lab: L2Lab | undefined;
  let responder: ResponderChild | undefined;
  let client: WireChild | undefined;
  let foreign: WireChild | undefined;

  before(async () => {
    lab = L2Lab.create({ members: ['node', 'client', 'foreign'], nodes: ['node'] });
    await lab.waitLinkLocal('node');
    await lab.waitLinkLocal('foreign');
    responder = new ResponderChild(lab, 'node', ['--claims', '--claim-interval-ms', '1000', '--defend-interval-ms', '2000']);
    await responder.ready();
    await responder.command(`announce ${VIP4}`);
    await responder.command(`announce ${VIP6}`);
    client = new WireChild(lab, 'client');
    foreign = new WireChild(lab, 'foreign');
    await Promise.all([client.ready(), foreign.ready()]);
  });

  after(async () => {
    await client?.stop().catch(() => {});
    await foreign?.stop().catch(() => {});
    await responder?.stop().catch(() => {});
    await lab?.stop();
  });

  it('a foreign gratuitous ARP for an announced IP reaches onClaim with the foreign MAC', async () => {
    const l = lab ?? assert.fail();
    const r = responder ?? assert.fail();
    const f = foreign ?? assert.fail();
    const mac = l.member('foreign').mac;
    await f.send(...gratuitousArpFrames(mac, VIP4));
    const c = await r.next('claim', 5000, (x) => x.ip === VIP4);
    assert.equal(c.mac, mac);
    assert.equal(c.iface, 'eth0');
    assert.equal(c.family, 4);
    assert.ok(c.kind === 'arpAnnouncement' || c.kind === 'arpReply', String(c.kind));
  });

  it('a foreign unsolicited NA for an announced IP reaches onClaim with the foreign MAC', async () => {
    const l = lab ?? assert.fail();
    const r = responder ?? assert.fail();
    const f = foreign ?? assert.fail();
    const mac = l.member('foreign').mac;
    await f.send(unsolicitedNaFrame(mac, 'fe80::f', VIP6));
    const c = await r.next('claim', 5000, (x) => x.ip === VIP6);
    assert.deepEqual({ mac: c.mac, iface: c.iface, family: c.family, kind: c.kind }, { mac, iface: 'eth0', family: 6, kind: 'na' });
  });

  it('a GARP flood reaches onClaim at most once per ip+mac per interval', async () => {
    const l = lab ?? assert.fail();
    const r = responder ?? assert.fail();
    const f = foreign ?? assert.fail();
    const mac = l.member('foreign').mac;
    await sleep(1100); // the previous claims' intervals are over
    r.lines.splice(0, r.lines.length);
    const before = await r.stats();
    const [garp] = gratuitousArpFrames(mac, VIP4);
    await f.repeat(5, 200, garp); // 200 GARPs in about a second
    await sleep(1500);
    const after = await r.stats();
    const claims = r.all('claim').filter((c) => c.ip === VIP4);
    const seen = (after.claimsSeen as number) - (before.claimsSeen as number);
    assert.ok(seen >= 100, `most GARPs were seen (${seen})`);
    assert.ok(claims.length >= 1 && claims.length <= 3, `delivered ${claims.length} claims for ${seen} GARPs`);
    assert.ok((after.claimsSuppressed as number) - (before.claimsSuppressed as number) >= seen - 3);
  });

  it('reassert sends one defence and refuses another within the defend interval', async () => {
    const l = lab ?? assert.fail();
    const r = responder ?? assert.fail();
    const c = client ?? assert.fail();
    const node = l.member('node');
    await sleep(2100); // no defence in the last interval
    await c.take();
    assert.equal((await r.command(`reassert ${VIP4}`)).result, 'sent');
    assert.equal((await r.command(`reassert ${VIP4}`)).result, 'rateLimited');
    await sleep(300);
    const garps = (await c.take()).filter((x) => {
      const a = decodeArpFrame(Uint8Array.from(Buffer.from(x.hex, 'hex')));
      return !(a instanceof CodecError) && a.arp.senderMac === node.mac && a.arp.senderIp === VIP4 && a.arp.targetIp === VIP4;
    });
    assert.equal(garps.length, 2, 'one round: a gratuitous request and reply');
    assert.equal((await r.command('reassert 198.51.100.77')).result, 'notAnnounced');
  });

  it('probe finds a foreign host that already uses an IPv4 address', async () => {
    const l = lab ?? assert.fail();
    const r = responder ?? assert.fail();
    const { netns, mac } = l.member('foreign');
    ip('-n', netns, 'addr', 'add', `${TAKEN4}/32`, 'dev', 'eth0');
    r.write(`probe ${TAKEN4}`);
    const p = await r.next('probe', 5000, (x) => x.ip === TAKEN4);
    assert.deepEqual(p.conflict, { mac, iface: 'eth0' });
  });

  it('probe (DAD) finds a foreign host that already uses an IPv6 address', async () => {
    const l = lab ?? assert.fail();
    const r = responder ?? assert.fail();
    const { netns, mac } = l.member('foreign');
    ip('-n', netns, '-6', 'addr', 'add', `${TAKEN6}/64`, 'dev', 'eth0', 'nodad');
    r.write(`probe ${TAKEN6}`);
    const p = await r.next('probe', 5000, (x) => x.ip === TAKEN6);
    assert.deepEqual(p.conflict, { mac, iface: 'eth0' });
  });

  it('probe reports no conflict for free addresses, after probing on every interface', async () => {
    const r = responder ?? assert.fail();
    r.write(`probe ${FREE4}`);
    r.write(`probe ${FREE6}`);
    for (const addr of [FREE4, FREE6]) {
      const p = await r.next('probe', 5000, (x) => x.ip === addr);
      assert.equal(p.conflict, null, addr);
      assert.equal(p.probesSent, 3, addr);
      assert.deepEqual(p.interfaces, ['eth0']);
    }
  });

  it('every frame ended in a reply or a counted drop', async () => {
    const s = await (responder ?? assert.fail()).stats();
    const drops = Object.values(s.drops).reduce((a, b) => a + b, 0);
    assert.equal(s.requestsReceived, (s.repliesSent as number) + drops, JSON.stringify(s));
    assert.equal(s.portErrors, 0);
  });
});
