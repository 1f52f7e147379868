/**
 * Interop with the Go reference peer (hashicorp/memberlist v0.5.1, as MetalLB pins) over real
 * UDP/TCP on 127.0.0.x loopback addresses. Each test uses its own addresses and ports; every
 * child is SIGKILLed in after() even on failure.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { buildGoPeer, killAll, lastMembers, spawnGo, spawnTs, type Line, type Peer } from './procs.js';

const KEY = '2b'.repeat(32);
const WRONG = '3c'.repeat(32);
const base = 32000 + (process.pid % 2000) * 10;
let gopeer = '';

before(() => {
  gopeer = buildGoPeer();
});
after(() => killAll());

const isEv =
  (ev: string, name: string) =>
  (l: Line): boolean =>
    l.ev === ev && (l.node as { name?: string } | undefined)?.name === name;
const isLog =
  (re: RegExp) =>
  (l: Line): boolean =>
    l.ev === 'log' && re.test(String(l.msg));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function allAlive(p: Peer, names: string[]): boolean {
  const m = lastMembers(p);
  return names.every((n) => m.get(n) === 'alive');
}

async function waitAllAlive(peers: Peer[], names: string[], timeoutMs: number): Promise<void> {
  const start = Date.now();
  while (!peers.every((p) => allAlive(p, names))) {
    if (Date.now() - start > timeoutMs) throw new Error(`not all alive: ${peers.map((p) => `${p.name}=${JSON.stringify([...lastMembers(p)])}`).join(' ')}`);
    await sleep(100);
  }
}

test('interop: TS joins Go and Go joins TS; 60 s alive with no suspicion; SIGKILL detected both ways; restarted TS rejoins', { timeout: 180_000 }, async () => {
  const g1 = spawnGo(gopeer, 'g1', ['-bind', '127.0.0.11', '-port', String(base), '-preset', 'lan', '-key', KEY, '-members-every', '500ms']);
  await g1.waitFor('g1 ready', (l) => l.ev === 'ready', 10_000);
  // t1 runs Go's LAN timing like its Go peers: the zero-suspicion steady state below must hold
  // on a noisy 2-core machine, where 100 ms probes (fast) through two Go processes sometimes
  // miss under heavy load. The fast preset against Go is covered by the mixed-cluster test.
  const t1 = spawnTs('t1', ['--bind', '127.0.0.12', '--port', String(base + 1), '--preset', 'lan', '--key', KEY, '--join', `127.0.0.11:${base}`, '--members-every', '500']);
  const joined = await t1.waitFor('t1 joined', (l) => l.ev === 'joined', 15_000);
  assert.equal(joined.n, 1, 'TS joined Go');
  const g2 = spawnGo(gopeer, 'g2', ['-bind', '127.0.0.13', '-port', String(base + 2), '-preset', 'lan', '-key', KEY, '-join', `127.0.0.12:${base + 1}`, '-members-every', '500ms']);
  const g2joined = await g2.waitFor('g2 joined', (l) => l.ev === 'joined', 15_000);
  assert.equal(g2joined.n, 1, 'Go joined TS');
  await waitAllAlive([g1, g2, t1], ['g1', 'g2', 't1'], 10_000);

  // 60 s of steady state: nobody suspects anybody.
  const mark = { g1: g1.lines.length, g2: g2.lines.length, t1: t1.lines.length };
  await sleep(60_000);
  for (const p of [g1, g2]) {
    const bad = p.lines.slice(mark[p.name as 'g1' | 'g2']).filter(isLog(/Suspect|Refuting|Marking .* as failed|Failed|ERR/));
    assert.deepEqual(
      bad.map((l) => l.msg),
      [],
      `${p.name} logged problems`,
    );
    const suspectLines = p.lines.slice(mark[p.name as 'g1' | 'g2']).filter((l) => l.ev === 'members' && JSON.stringify(l.members).includes('"suspect"'));
    assert.equal(suspectLines.length, 0, `${p.name} listed a suspect member`);
    assert.ok(
      p.lines
        .slice(mark[p.name as 'g1' | 'g2'])
        .filter((l) => l.ev === 'members')
        .every((l) => l.health === 0),
      `${p.name} health degraded`,
    );
  }
  const tStats = t1.lines.filter((l) => l.ev === 'stats');
  const lastStats = tStats[tStats.length - 1] as { probeFailures: number; suspicionsRaised: number; refutes: number } | undefined;
  assert.ok(lastStats !== undefined);
  assert.deepEqual([lastStats.probeFailures, lastStats.suspicionsRaised, lastStats.refutes], [0, 0, 0], 'TS raised no suspicion and had nothing to refute');
  await waitAllAlive([g1, g2, t1], ['g1', 'g2', 't1'], 2000);

  // SIGKILL Go g2: TS and g1 (both LAN timing) detect it.
  let from = t1.lines.length;
  const fromG1 = g1.lines.length;
  const killedAt = Date.now();
  g2.proc.kill('SIGKILL');
  const tsSaw = await t1.waitFor('TS sees g2 dead', (l) => isEv('leave', 'g2')(l) && (l.node as { state: string }).state === 'dead', 30_000, from);
  const goSaw = await g1.waitFor('g1 sees g2 leave', isEv('leave', 'g2'), 30_000, fromG1);
  console.error(`g2 SIGKILL detected by TS(lan) in ${tsSaw.t - killedAt} ms, by Go(lan) in ${goSaw.t - killedAt} ms`);

  // SIGKILL the TS node: Go detects it.
  const fromG1b = g1.lines.length;
  const killedTs = Date.now();
  t1.proc.kill('SIGKILL');
  await t1.exited;
  const goSawTs = await g1.waitFor('g1 sees t1 leave', isEv('leave', 't1'), 30_000, fromG1b);
  assert.ok(g1.lines.slice(fromG1b).some(isLog(/Suspect t1 has failed/)), 'Go suspected t1 first (a failure, not a leave)');
  console.error(`t1 SIGKILL detected by Go(lan) in ${goSawTs.t - killedTs} ms`);

  // Restart t1 at the same address with incarnation 1: it must refute and be re-admitted.
  const t1b = spawnTs('t1', ['--bind', '127.0.0.12', '--port', String(base + 1), '--preset', 'lan', '--key', KEY, '--join', `127.0.0.11:${base}`, '--members-every', '500']);
  from = g1.lines.length;
  await g1.waitFor('g1 sees t1 rejoin', isEv('join', 't1'), 15_000, from);
  await waitAllAlive([g1, t1b], ['g1', 't1'], 10_000);
});

test('interop: graceful leave is seen at once in both directions', { timeout: 60_000 }, async () => {
  const g = spawnGo(gopeer, 'g3', ['-bind', '127.0.0.21', '-port', String(base + 3), '-preset', 'lan', '-key', KEY, '-members-every', '200ms']);
  await g.waitFor('ready', (l) => l.ev === 'ready', 10_000);
  const t = spawnTs('t3', ['--bind', '127.0.0.22', '--port', String(base + 4), '--key', KEY, '--join', `127.0.0.21:${base + 3}`, '--members-every', '200']);
  const t4 = spawnTs('t4', ['--bind', '127.0.0.23', '--port', String(base + 5), '--key', KEY, '--join', `127.0.0.21:${base + 3}`, '--members-every', '200']);
  await waitAllAlive([g, t, t4], ['g3', 't3', 't4'], 10_000);

  // TS leaves: Go sees the leave within a second, without suspecting first.
  let from = g.lines.length;
  let at = Date.now();
  t.proc.kill('SIGTERM');
  const seen = await g.waitFor('g3 sees t3 leave', isEv('leave', 't3'), 3000, from);
  assert.ok(seen.t - at < 1500, `Go saw the TS leave after ${seen.t - at} ms`);
  assert.ok(!g.lines.slice(from).some(isLog(/Suspect t3/)), 'no suspicion before a graceful leave');

  // Go leaves: TS records it as "left" (not dead) within a second.
  from = t4.lines.length;
  at = Date.now();
  g.proc.kill('SIGTERM');
  const seenTs = await t4.waitFor('t4 sees g3 left', (l) => isEv('leave', 'g3')(l) && (l.node as { state: string }).state === 'left', 3000, from);
  assert.ok(seenTs.t - at < 1500, `TS saw the Go leave after ${seenTs.t - at} ms`);
});

test('interop: a wrong key is rejected both ways and never admitted', { timeout: 60_000 }, async () => {
  const g = spawnGo(gopeer, 'g5', ['-bind', '127.0.0.31', '-port', String(base + 6), '-preset', 'lan', '-key', KEY, '-members-every', '200ms']);
  await g.waitFor('ready', (l) => l.ev === 'ready', 10_000);
  const t = spawnTs('t5', ['--bind', '127.0.0.32', '--port', String(base + 7), '--key', WRONG, '--join', `127.0.0.31:${base + 6}`, '--members-every', '200']);
  const joined = await t.waitFor('t5 join result', (l) => l.ev === 'joined', 15_000);
  assert.equal(joined.n, 0, 'TS with the wrong key cannot join Go');
  await g.waitFor('Go logs a decrypt failure', isLog(/decrypt|Decrypt|No installed keys/), 5000);

  const g6 = spawnGo(gopeer, 'g6', ['-bind', '127.0.0.33', '-port', String(base + 8), '-preset', 'lan', '-key', WRONG, '-join', `127.0.0.31:${base + 6}`, '-members-every', '200ms']);
  const g6joined = await g6.waitFor('g6 join result', (l) => l.ev === 'joined', 15_000);
  assert.equal(g6joined.n, 0, 'a Go node with the other wrong key cannot join either');
  // And a correct-key Go node joining the wrong-key TS node fails too.
  const g7 = spawnGo(gopeer, 'g7', ['-bind', '127.0.0.34', '-port', String(base + 9), '-preset', 'lan', '-key', KEY, '-join', `127.0.0.32:${base + 7}`, '-members-every', '200ms']);
  const g7joined = await g7.waitFor('g7 join result', (l) => l.ev === 'joined', 15_000);
  assert.equal(g7joined.n, 0, 'Go cannot join a TS node that has another key');
  await sleep(1500);
  assert.deepEqual([...lastMembers(g).keys()].sort(), ['g5']);
  assert.deepEqual([...lastMembers(t).keys()].sort(), ['t5']);
  const stats = t.lines.filter((l) => l.ev === 'stats').pop() as { dropped: Record<string, number> } | undefined;
  assert.ok((stats?.dropped.decrypt ?? 0) > 0, `TS counted decrypt drops: ${JSON.stringify(stats?.dropped)}`);
});

test('interop: plaintext with a label (Go compression off) joins; a mismatched label is rejected', { timeout: 60_000 }, async () => {
  const g = spawnGo(gopeer, 'g8', ['-bind', '127.0.0.41', '-port', String(base + 10), '-preset', 'lan', '-label', 'ironlb', '-compress=false', '-members-every', '200ms']);
  await g.waitFor('ready', (l) => l.ev === 'ready', 10_000);
  const ok = spawnTs('t8', ['--bind', '127.0.0.42', '--port', String(base + 11), '--label', 'ironlb', '--join', `127.0.0.41:${base + 10}`, '--members-every', '200']);
  assert.equal((await ok.waitFor('t8 join result', (l) => l.ev === 'joined', 15_000)).n, 1);
  await waitAllAlive([g, ok], ['g8', 't8'], 10_000);
  const bad = spawnTs('t9', ['--bind', '127.0.0.43', '--port', String(base + 12), '--label', 'other', '--join', `127.0.0.41:${base + 10}`, '--members-every', '200']);
  assert.equal((await bad.waitFor('t9 join result', (l) => l.ev === 'joined', 15_000)).n, 0);
  await sleep(1000);
  assert.deepEqual([...lastMembers(g).keys()].sort(), ['g8', 't8']);
  // TS and Go agree over 2 s: no suspicion in Go's log.
  await sleep(2000);
  assert.ok(!g.lines.some(isLog(/Suspect/)), 'no suspicion');
});

test('interop: mixed Go/TS cluster on the fast preset detects a SIGKILL in about a second both ways', { timeout: 60_000 }, async () => {
  const g = spawnGo(gopeer, 'g10', ['-bind', '127.0.0.51', '-port', String(base + 13), '-preset', 'fast', '-key', KEY, '-members-every', '200ms']);
  await g.waitFor('ready', (l) => l.ev === 'ready', 10_000);
  const ta = spawnTs('t10', ['--bind', '127.0.0.52', '--port', String(base + 14), '--key', KEY, '--join', `127.0.0.51:${base + 13}`, '--members-every', '200']);
  const tb = spawnTs('t11', ['--bind', '127.0.0.53', '--port', String(base + 15), '--key', KEY, '--join', `127.0.0.51:${base + 13}`, '--members-every', '200']);
  await ta.waitFor('t10 joined', (l) => l.ev === 'joined', 15_000);
  const g2 = spawnGo(gopeer, 'g11', ['-bind', '127.0.0.54', '-port', String(base + 16), '-preset', 'fast', '-key', KEY, '-join', `127.0.0.52:${base + 14}`, '-members-every', '200ms']);
  await waitAllAlive([g, g2, ta, tb], ['g10', 'g11', 't10', 't11'], 10_000);
  await sleep(3000);

  // Kill a TS member: the Go fast nodes declare it dead (NodeLeave after "Suspect ... failed").
  let marks = [g.lines.length, g2.lines.length];
  let at = Date.now();
  tb.proc.kill('SIGKILL');
  const seen = await Promise.all([g.waitFor('g10 sees t11 leave', isEv('leave', 't11'), 5000, marks[0]), g2.waitFor('g11 sees t11 leave', isEv('leave', 't11'), 5000, marks[1])]);
  console.error(`t11 SIGKILL detected by Go(fast) in ${Math.max(...seen.map((l) => l.t)) - at} ms`);

  // Kill a Go member: the TS node and the other Go node declare it dead.
  marks = [ta.lines.length, g.lines.length];
  at = Date.now();
  g2.proc.kill('SIGKILL');
  const tsSaw = await ta.waitFor('t10 sees g11 dead', (l) => isEv('leave', 'g11')(l) && (l.node as { state: string }).state === 'dead', 5000, marks[0]);
  await g.waitFor('g10 sees g11 leave', isEv('leave', 'g11'), 5000, marks[1]);
  console.error(`g11 SIGKILL detected by TS(fast) in ${tsSaw.t - at} ms`);
  await waitAllAlive([g, ta], ['g10', 't10'], 3000);
});

test('interop: a forged dead at 0xffffffff is taken by Go (its incarnation compare is plain) but dropped by TS members, which never fail over', { timeout: 120_000 }, async () => {
  const { createSocket } = await import('node:dgram');
  const { encryptPayload } = await import('@ironlb/memberlist');
  const g = spawnGo(gopeer, 'g20', ['-bind', '127.0.0.61', '-port', String(base + 17), '-preset', 'lan', '-key', KEY, '-members-every', '500ms']);
  await g.waitFor('ready', (l) => l.ev === 'ready', 10_000);
  const ta = spawnTs('t20', ['--bind', '127.0.0.62', '--port', String(base + 18), '--key', KEY, '--join', `127.0.0.61:${base + 17}`, '--members-every', '500']);
  const tb = spawnTs('t21', ['--bind', '127.0.0.63', '--port', String(base + 19), '--key', KEY, '--join', `127.0.0.61:${base + 17}`, '--members-every', '500']);
  await waitAllAlive([g, ta, tb], ['g20', 't20', 't21'], 15_000);
  const marks = [g.lines.length, ta.lines.length, tb.lines.length];
  // The forger holds the key and sends one dead about t20 to the Go member: type 5, then
  // {From: "g20", Incarnation: 0xffffffff, Node: "t20"} in memberlist's msgpack, sealed (v1).
  const dead = Buffer.concat([
    Buffer.from([0x05, 0x83, 0xa4]),
    Buffer.from('From'),
    Buffer.from([0xa3]),
    Buffer.from('g20'),
    Buffer.from([0xab]),
    Buffer.from('Incarnation'),
    Buffer.from([0xce, 0xff, 0xff, 0xff, 0xff]),
    Buffer.from([0xa4]),
    Buffer.from('Node'),
    Buffer.from([0xa3]),
    Buffer.from('t20'),
  ]);
  const forged = encryptPayload(1, Buffer.from(KEY, 'hex'), dead, new Uint8Array(0));
  const sock = createSocket('udp4');
  await new Promise<void>((resolve, reject) => sock.send(forged, base + 17, '127.0.0.61', (err) => (err ? reject(err) : resolve())));
  sock.close();
  // Go accepts it: 0xffffffff > 1, and no refutation can ever beat it in Go's eyes.
  await g.waitFor('g20 marks t20 dead', isEv('leave', 't20'), 10_000, marks[0]);
  // Go gossips the death; the TS members drop it as an implausible jump: no failover there.
  await tb.waitFor('t21 drops the relayed claim', (l) => l.ev === 'stats' && ((l.dropped as Record<string, number> | undefined)?.incarnationJump ?? 0) > 0, 20_000, marks[2]);
  await sleep(3000);
  for (const [p, i] of [
    [ta, 1],
    [tb, 2],
  ] as const) {
    assert.deepEqual(
      p.lines
        .slice(marks[i])
        .filter((l) => l.ev === 'leave')
        .map((l) => (l.node as { name: string }).name),
      [],
      `${p.name} saw no death`,
    );
    assert.ok(allAlive(p, ['g20', 't20', 't21']), `${p.name} keeps everyone alive`);
  }
  // Go forgets t20 once it has been dead for GossipToTheDeadTime (LAN: 30 s), then re-learns
  // it from t20's next push/pull as a new member.
  await g.waitFor('g20 re-admits t20', isEv('join', 't20'), 80_000, marks[0]);
});
