/**
 * Transition tests of the member table, after hashicorp/memberlist's state_test.go
 * (TestMemberList_AliveNode_*, SuspectNode_*, DeadNode_*, MergeState): no sockets, no
 * sleeping; a ManualClock is advanced and every broadcast and event is recorded.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Health } from './awareness.js';
import { ManualClock } from './clock.js';
import { DEFAULT_LIMITS, type Limits } from './limits.js';
import { DEFAULT_VSN, MsgType, NodeStateNum, type Alive, type Message } from './messages.js';
import { RateLimitedLog } from './ratelog.js';
import { MemberTable, type NodeState } from './state.js';
import { FAST, LAN, type Timing } from './timing.js';
import { Counters, silentLogger, type AdmitFn } from './types.js';

interface Rig {
  table: MemberTable;
  clock: ManualClock;
  counters: Counters;
  health: Health;
  broadcasts: Array<{ node: string; m: Message }>;
  events: Array<{ type: string; name: string; state: string; incarnation: number }>;
  suspicionsSent: string[];
}

function rig(opts: { timing?: Timing; limits?: Partial<Limits>; admit?: AdmitFn; selfInc?: number } = {}): Rig {
  const clock = new ManualClock();
  const counters = new Counters();
  const timing = opts.timing ?? LAN;
  const health = new Health(timing.awarenessMaxMultiplier);
  const broadcasts: Rig['broadcasts'] = [];
  const events: Rig['events'] = [];
  const suspicionsSent: string[] = [];
  const table = new MemberTable(
    {
      name: 'self',
      clock,
      timing,
      limits: { ...DEFAULT_LIMITS, ...opts.limits },
      admit: opts.admit,
      counters,
      health,
      log: silentLogger,
      warn: new RateLimitedLog(silentLogger, clock, 10_000),
    },
    {
      broadcast: (node, m) => broadcasts.push({ node, m }),
      event: (type, n: NodeState) => events.push({ type, name: n.name, state: n.state, incarnation: n.incarnation }),
      sendSuspicion: (n) => suspicionsSent.push(n.name),
      added: () => undefined,
    },
  );
  table.setLocal(Uint8Array.of(10, 0, 0, 1), 7946, new Uint8Array(0), opts.selfInc ?? 1);
  broadcasts.length = 0;
  events.length = 0;
  return { table, clock, counters, health, broadcasts, events, suspicionsSent };
}

function alive(node: string, incarnation: number, extra: Partial<Alive> = {}): Alive {
  return { node, incarnation, addr: Uint8Array.of(10, 0, 0, 2), port: 7946, meta: new Uint8Array(0), vsn: DEFAULT_VSN, ...extra };
}

const stateOf = (r: Rig, name: string): string | undefined => r.table.nodes.get(name)?.state;
const incOf = (r: Rig, name: string): number | undefined => r.table.nodes.get(name)?.incarnation;
const types = (r: Rig): number[] => r.broadcasts.map((b) => b.m.type);

describe('state transitions', { timeout: 30_000 }, () => {
  test('AliveNode_NewNode: a new member is alive, broadcast and joined', { timeout: 120_000 }, () => {
    const r = rig();
    r.table.aliveNode(alive('a', 1), false);
    assert.equal(stateOf(r, 'a'), 'alive');
    assert.deepEqual(types(r), [MsgType.alive]);
    assert.deepEqual(r.events, [{ type: 'join', name: 'a', state: 'alive', incarnation: 1 }]);
  });

  test('AliveNode_NewNode at incarnation 0 is admitted too (no baseline)', { timeout: 120_000 }, () => {
    const r = rig();
    r.table.aliveNode(alive('a', 0), false);
    assert.equal(stateOf(r, 'a'), 'alive');
  });

  test('AliveNode_Idempotent: the same incarnation again changes nothing', { timeout: 120_000 }, () => {
    const r = rig();
    r.table.aliveNode(alive('a', 1), false);
    r.broadcasts.length = 0;
    r.table.aliveNode(alive('a', 1), false);
    assert.deepEqual(r.broadcasts, []);
    assert.equal(r.events.length, 1);
  });

  test('AliveNode_ChangeMeta: a newer alive with new meta fires update', { timeout: 120_000 }, () => {
    const r = rig();
    r.table.aliveNode(alive('a', 1), false);
    r.table.aliveNode(alive('a', 2, { meta: Uint8Array.of(7) }), false);
    assert.deepEqual(
      r.events.map((e) => e.type),
      ['join', 'update'],
    );
    assert.deepEqual(r.table.nodes.get('a')?.meta, Uint8Array.of(7));
  });

  test('AliveNode_SuspectNode: a newer alive clears a suspicion without a join event', { timeout: 120_000 }, () => {
    const r = rig();
    r.table.aliveNode(alive('a', 1), false);
    r.table.suspectNode({ node: 'a', incarnation: 1, from: 'b' });
    assert.equal(stateOf(r, 'a'), 'suspect');
    r.table.aliveNode(alive('a', 2), false);
    assert.equal(stateOf(r, 'a'), 'alive');
    assert.equal(r.table.suspicionCount(), 0);
    assert.deepEqual(
      r.events.map((e) => e.type),
      ['join'],
    );
  });

  test('AliveNode_Conflict: another address for a live member is refused', { timeout: 120_000 }, () => {
    const r = rig();
    r.table.aliveNode(alive('a', 1), false);
    r.table.aliveNode(alive('a', 5, { addr: Uint8Array.of(10, 0, 0, 99) }), false);
    assert.equal(r.table.nodes.get('a')?.addr, '10.0.0.2');
    assert.equal(r.counters.s.dropped.addressConflict, 1);
  });

  test('AliveNode_Refute: an alive about us with a higher incarnation is refuted above it', { timeout: 120_000 }, () => {
    const r = rig();
    r.table.aliveNode(alive('self', 3, { addr: Uint8Array.of(10, 0, 0, 1) }), false);
    assert.equal(r.table.incarnation, 4);
    assert.deepEqual(types(r), [MsgType.alive]);
    const b = r.broadcasts[0]?.m;
    assert.ok(b?.type === MsgType.alive && b.body.incarnation === 4);
    assert.equal(r.counters.s.refutes, 1);
    assert.equal(r.health.score, 1, 'refuting costs health');
  });

  test('AliveNode_Restart: a restarted member at incarnation 1 is ignored while we remember more', { timeout: 120_000 }, () => {
    const r = rig();
    r.table.aliveNode(alive('a', 600), false);
    r.table.aliveNode(alive('a', 1), false);
    assert.equal(incOf(r, 'a'), 600);
    assert.equal(r.counters.s.dropped.incarnationJump, undefined, 'a restart is staleness, not an implausible jump');
  });

  test('SuspectNode_NoNode: a suspicion about a stranger is ignored', { timeout: 120_000 }, () => {
    const r = rig();
    r.table.suspectNode({ node: 'x', incarnation: 1, from: 'b' });
    assert.deepEqual(r.broadcasts, []);
    assert.equal(r.table.nodes.has('x'), false);
  });

  test('SuspectNode: alive → suspect → dead after the timeout (k = 0: min)', { timeout: 120_000 }, async () => {
    const r = rig();
    r.table.aliveNode(alive('a', 1), false);
    r.broadcasts.length = 0;
    r.table.suspectNode({ node: 'a', incarnation: 1, from: 'b' });
    assert.equal(stateOf(r, 'a'), 'suspect');
    assert.deepEqual(types(r), [MsgType.suspect]);
    // LAN with 2 members: k = 0, timeout = min = 4 × 1 s.
    await r.clock.advance(3999);
    assert.equal(stateOf(r, 'a'), 'suspect');
    await r.clock.advance(1);
    assert.equal(stateOf(r, 'a'), 'dead');
    const dead = r.broadcasts.at(-1)?.m;
    assert.ok(dead?.type === MsgType.dead && dead.body.from === 'self' && dead.body.incarnation === 1);
    assert.deepEqual(
      r.events.map((e) => `${e.type}:${e.state}`),
      ['join:alive', 'leave:dead'],
    );
    assert.equal(r.counters.s.suspicionTimeouts, 1);
  });

  test('SuspectNode_Confirmations: with k = 2 the timer starts at max and shrinks to min', { timeout: 120_000 }, async () => {
    const r = rig();
    for (const n of ['a', 'b', 'c', 'd']) r.table.aliveNode(alive(n, 1, { addr: Uint8Array.of(10, 0, 1, n.charCodeAt(0)) }), false);
    // LAN, n = 5: min 4 s, max 24 s, k = 2.
    r.table.suspectNode({ node: 'a', incarnation: 1, from: 'b' });
    r.broadcasts.length = 0;
    r.table.suspectNode({ node: 'a', incarnation: 1, from: 'b' });
    assert.deepEqual(r.broadcasts, [], 'the same accuser again is not a confirmation');
    r.table.suspectNode({ node: 'a', incarnation: 1, from: 'c' });
    assert.deepEqual(types(r), [MsgType.suspect], 'a new confirmation is re-gossiped');
    await r.clock.advance(11_380);
    assert.equal(stateOf(r, 'a'), 'suspect', 'one confirmation: ≈ 11.4 s');
    r.table.suspectNode({ node: 'a', incarnation: 1, from: 'd' });
    await r.clock.advance(1);
    assert.equal(stateOf(r, 'a'), 'dead', 'two confirmations: min (4 s) has long passed, fires at once');
  });

  test('SuspectNode_OldSuspect: an older incarnation is ignored', { timeout: 120_000 }, () => {
    const r = rig();
    r.table.aliveNode(alive('a', 5), false);
    r.broadcasts.length = 0;
    r.table.suspectNode({ node: 'a', incarnation: 4, from: 'b' });
    assert.equal(stateOf(r, 'a'), 'alive');
    assert.deepEqual(r.broadcasts, []);
  });

  test('SuspectNode_Refute: a suspicion about us is refuted', { timeout: 120_000 }, () => {
    const r = rig();
    r.table.suspectNode({ node: 'self', incarnation: 1, from: 'b' });
    assert.equal(stateOf(r, 'self'), 'alive');
    assert.equal(r.table.incarnation, 2);
    assert.deepEqual(types(r), [MsgType.alive]);
  });

  test('DeadNode: alive → dead, leave event; a second dead is ignored', { timeout: 120_000 }, () => {
    const r = rig();
    r.table.aliveNode(alive('a', 1), false);
    r.broadcasts.length = 0;
    r.table.deadNode({ node: 'a', incarnation: 1, from: 'b' });
    assert.equal(stateOf(r, 'a'), 'dead');
    assert.deepEqual(types(r), [MsgType.dead]);
    r.table.deadNode({ node: 'a', incarnation: 1, from: 'c' });
    assert.deepEqual(types(r), [MsgType.dead]);
    assert.deepEqual(
      r.events.map((e) => e.type),
      ['join', 'leave'],
    );
  });

  test('DeadNode_Left: dead with From = Node is a graceful leave', { timeout: 120_000 }, () => {
    const r = rig();
    r.table.aliveNode(alive('a', 1), false);
    r.table.deadNode({ node: 'a', incarnation: 1, from: 'a' });
    assert.equal(stateOf(r, 'a'), 'left');
    assert.equal(r.table.failed.has('a'), false, 'a left member is not reconnected to');
  });

  test('DeadNode_OldDead and AliveReplay: old news does not change a dead member', { timeout: 120_000 }, () => {
    const r = rig();
    r.table.aliveNode(alive('a', 5), false);
    r.table.deadNode({ node: 'a', incarnation: 4, from: 'b' });
    assert.equal(stateOf(r, 'a'), 'alive');
    r.table.deadNode({ node: 'a', incarnation: 5, from: 'b' });
    r.table.aliveNode(alive('a', 5), false);
    assert.equal(stateOf(r, 'a'), 'dead', 'an alive at the same incarnation does not resurrect');
    r.table.aliveNode(alive('a', 6), false);
    assert.equal(stateOf(r, 'a'), 'alive');
    assert.deepEqual(
      r.events.map((e) => e.type),
      ['join', 'leave', 'join'],
    );
  });

  test('DeadNode_Refute: a dead message about us is refuted; while leaving it is accepted', { timeout: 120_000 }, () => {
    const r = rig();
    r.table.deadNode({ node: 'self', incarnation: 1, from: 'b' });
    assert.equal(stateOf(r, 'self'), 'alive');
    assert.equal(r.table.incarnation, 2);
    r.table.leaving = true;
    r.table.deadNode({ node: 'self', incarnation: 2, from: 'self' });
    assert.equal(stateOf(r, 'self'), 'left');
  });

  test('MergeState: remote alive admitted, remote dead only suspected, remote left is left', { timeout: 120_000 }, () => {
    const r = rig();
    r.table.aliveNode(alive('b', 1, { addr: Uint8Array.of(10, 0, 0, 3) }), false);
    r.table.aliveNode(alive('c', 1, { addr: Uint8Array.of(10, 0, 0, 4) }), false);
    const e = (name: string, state: number, addr: number): Parameters<MemberTable['mergeRemoteState']>[0][number] => ({
      name,
      addr: Uint8Array.of(10, 0, 0, addr),
      port: 7946,
      meta: new Uint8Array(0),
      incarnation: 1,
      state,
      vsn: DEFAULT_VSN,
    });
    r.table.mergeRemoteState([e('a', NodeStateNum.alive, 2), e('b', NodeStateNum.dead, 3), e('c', NodeStateNum.left, 4)]);
    assert.deepEqual(
      ['a', 'b', 'c'].map((n) => stateOf(r, n)),
      ['alive', 'suspect', 'left'],
    );
    assert.throws(() => r.table.mergeRemoteState([{ ...e('z', NodeStateNum.alive, 9), vsn: Uint8Array.of(1, 5, 2) }]), /protocol version/);
    assert.equal(r.counters.s.dropped.protocolVersion, 1);
  });

  test('fast preset, n = 3: an unconfirmed own suspicion while isolated is deferred once', { timeout: 120_000 }, async () => {
    const r = rig({ timing: FAST });
    r.table.aliveNode(alive('a', 1), false);
    r.table.aliveNode(alive('b', 1, { addr: Uint8Array.of(10, 0, 0, 3) }), false);
    r.health.lastIsolatedAt = r.clock.now();
    r.table.suspectNode({ node: 'a', incarnation: 1, from: 'self' });
    // fast n = 3: min 300, max 600, k = 1.
    await r.clock.advance(600);
    assert.equal(stateOf(r, 'a'), 'suspect');
    assert.deepEqual(r.suspicionsSent, ['a']);
    assert.equal(r.counters.s.suspicionsDeferred, 1);
    await r.clock.advance(600);
    assert.equal(stateOf(r, 'a'), 'dead');
  });
});

describe('incarnation rule (wrap-around and implausible jumps)', { timeout: 30_000 }, () => {
  test('a forged dead at 0xffffffff about a member at 5 is dropped and counted', { timeout: 120_000 }, () => {
    const r = rig();
    r.table.aliveNode(alive('a', 5), false);
    r.broadcasts.length = 0;
    r.table.deadNode({ node: 'a', incarnation: 0xffffffff, from: 'evil' });
    r.table.suspectNode({ node: 'a', incarnation: 0xffffffff, from: 'evil' });
    r.table.aliveNode(alive('a', 0xffffffff), false);
    assert.equal(stateOf(r, 'a'), 'alive');
    assert.equal(incOf(r, 'a'), 5);
    assert.deepEqual(r.broadcasts, [], 'nothing is re-gossiped');
    assert.equal(r.counters.s.dropped.incarnationJump, 3);
  });

  test('a forged dead at 0xffffffff about us is not refuted (and not spread)', { timeout: 120_000 }, () => {
    const r = rig();
    r.table.deadNode({ node: 'self', incarnation: 0xffffffff, from: 'evil' });
    assert.equal(r.table.incarnation, 1);
    assert.deepEqual(r.broadcasts, []);
    assert.equal(r.counters.s.dropped.incarnationJump, 1);
  });

  test('claims within maxIncarnationJump are accepted; beyond it are not', { timeout: 120_000 }, () => {
    const r = rig({ limits: { maxIncarnationJump: 100 } });
    r.table.aliveNode(alive('a', 5), false);
    r.table.aliveNode(alive('a', 105), false);
    assert.equal(incOf(r, 'a'), 105);
    r.table.aliveNode(alive('a', 206), false);
    assert.equal(incOf(r, 'a'), 105);
    assert.equal(r.counters.s.dropped.incarnationJump, 1);
  });

  test('refutation at the top of the range wraps to 0, and 0 is newer than 0xffffffff', { timeout: 120_000 }, () => {
    const r = rig({ selfInc: 0xfffffffe });
    r.table.suspectNode({ node: 'self', incarnation: 0xffffffff, from: 'b' });
    assert.equal(r.table.incarnation, 0);
    const b = r.broadcasts[0]?.m;
    assert.ok(b?.type === MsgType.alive && b.body.incarnation === 0);

    // A peer holding us at 0xffffffff takes the wrapped refutation.
    const peer = rig();
    peer.table.aliveNode(alive('x', 0xfffffffe), false);
    peer.table.suspectNode({ node: 'x', incarnation: 0xffffffff, from: 'b' });
    assert.equal(stateOf(peer, 'x'), 'suspect');
    peer.table.aliveNode(alive('x', 0), false);
    assert.equal(stateOf(peer, 'x'), 'alive');
    assert.equal(incOf(peer, 'x'), 0);
    peer.table.deadNode({ node: 'x', incarnation: 0xffffffff, from: 'b' });
    assert.equal(stateOf(peer, 'x'), 'alive', 'the old accusation is now older');
  });

  test('a dead at 0xffffffff about a member at 0xfffffff0 is accepted, and its refutation (0) revives it', { timeout: 120_000 }, () => {
    const r = rig();
    r.table.aliveNode(alive('x', 0xfffffff0), false);
    r.table.deadNode({ node: 'x', incarnation: 0xffffffff, from: 'b' });
    assert.equal(stateOf(r, 'x'), 'dead');
    r.table.aliveNode(alive('x', 0), false);
    assert.equal(stateOf(r, 'x'), 'alive');
    assert.deepEqual(
      r.events.map((e) => e.type),
      ['join', 'leave', 'join'],
    );
  });
});

describe('admission and caps', { timeout: 30_000 }, () => {
  test('the admit hook refuses new members with a counted reason, and is asked again after a leave', { timeout: 120_000 }, () => {
    const allowed = new Set(['a']);
    const seen: string[] = [];
    const r = rig({
      admit: (c) => {
        seen.push(c.name);
        return allowed.has(c.name) ? undefined : 'notANode';
      },
    });
    r.table.aliveNode(alive('a', 1), false);
    r.table.aliveNode(alive('junk', 1, { addr: Uint8Array.of(10, 9, 9, 9) }), false);
    assert.equal(r.table.nodes.has('junk'), false);
    assert.deepEqual(r.counters.s.refusals, { notANode: 1 });
    assert.equal(r.counters.s.dropped.refused, 1);
    r.table.aliveNode(alive('a', 2), false);
    assert.deepEqual(seen, ['a', 'junk'], 'a known live member is not re-asked');
    r.table.deadNode({ node: 'a', incarnation: 2, from: 'a' });
    allowed.delete('a');
    r.table.aliveNode(alive('a', 3), false);
    assert.equal(stateOf(r, 'a'), 'left', 'a member coming back is admitted again');
  });

  test('push/pull merges go through admission entry by entry', { timeout: 120_000 }, () => {
    const r = rig({ admit: (c) => (c.name.startsWith('node-') ? undefined : 'notANode') });
    const e = (name: string, addr: number): Parameters<MemberTable['mergeRemoteState']>[0][number] => ({
      name,
      addr: Uint8Array.of(10, 0, 2, addr),
      port: 7946,
      meta: new Uint8Array(0),
      incarnation: 1,
      state: NodeStateNum.alive,
      vsn: DEFAULT_VSN,
    });
    r.table.mergeRemoteState([e('node-1', 1), e('fake-1', 2), e('node-2', 3)]);
    assert.deepEqual([...r.table.nodes.keys()].sort(), ['node-1', 'node-2', 'self']);
    assert.equal(r.counters.s.refusals.notANode, 1);
  });

  test('name length, meta size and the member cap (dead members are evicted first)', { timeout: 120_000 }, () => {
    const r = rig({ limits: { maxMembers: 4 } });
    r.table.aliveNode(alive('n'.repeat(254), 1), false);
    r.table.aliveNode(alive('m', 1, { meta: new Uint8Array(513) }), false);
    assert.deepEqual({ ...r.counters.s.dropped }, { nameTooLong: 1, metaTooLarge: 1 });
    for (let i = 0; i < 5; i++) r.table.aliveNode(alive(`x${i}`, 1, { addr: Uint8Array.of(10, 0, 3, i) }), false);
    assert.equal(r.table.nodes.size, 4);
    assert.equal(r.counters.s.dropped.tooManyMembers, 2);
    r.table.deadNode({ node: 'x0', incarnation: 1, from: 'self' });
    r.table.aliveNode(alive('y', 1, { addr: Uint8Array.of(10, 0, 4, 1) }), false);
    assert.equal(r.table.nodes.has('y'), true);
    assert.equal(r.table.nodes.has('x0'), false, 'the dead member made room');
  });

  test('reap forgets members dead longer than gossipToTheDeadTime', { timeout: 120_000 }, async () => {
    const r = rig({ timing: FAST });
    r.table.aliveNode(alive('a', 1), false);
    r.table.deadNode({ node: 'a', incarnation: 1, from: 'b' });
    await r.clock.advance(FAST.gossipToTheDeadTime);
    r.table.reap();
    assert.equal(r.table.nodes.has('a'), true);
    await r.clock.advance(1);
    r.table.reap();
    assert.equal(r.table.nodes.has('a'), false);
  });
});
