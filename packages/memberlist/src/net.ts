/**
 * Packet and stream handling (memberlist net.go): the receive path (screen → decode →
 * dispatch), pings and indirect pings, sending with piggybacked gossip, the gossip timer's
 * send, and the stream side: serving push/pull and TCP pings, dialing push/pull and TCP pings.
 *
 * Every receive path bounds its work, memory and log volume per input: datagrams are screened
 * from their first bytes before decryption, decompression and message counts are capped, inbound
 * streams are capped in number (total and per address), in bytes and in time, and repeated
 * warnings are rate-limited. Every drop is counted with a reason.
 */
import type { Health } from './awareness.js';
import { BroadcastQueue } from './broadcast.js';
import type { Clock, Random } from './clock.js';
import { ENCRYPT_OVERHEAD_V1, type Keyring } from './crypto.js';
import { encodeCompound, makeCompounds } from './framing.js';
import { formatGoIP } from './ip.js';
import type { Limits } from './limits.js';
import { MsgType, encodeMessage, type IndirectPingReq, type Message, type Ping } from './messages.js';
import { decodePacket, encodePacket, screenPacket } from './packet.js';
import type { Prober } from './probe.js';
import type { RateLimitedLog } from './ratelog.js';
import type { MemberTable, NodeState } from './state.js';
import { StreamError, encodePushPull, encodeStreamFrame, expectedStreamLength, tryParseStream, type StreamCodecOptions, type StreamMessage } from './stream.js';
import { retransmitLimit, type Timing } from './timing.js';
import type { Address, Stream, Transport } from './transport.js';
import type { Counters, Logger } from './types.js';

/** What the wire layer needs from the rest of the node. */
export interface WireHost {
  readonly name: string;
  readonly clock: Clock;
  readonly random: Random;
  readonly timing: Timing;
  readonly limits: Limits;
  readonly table: MemberTable;
  readonly prober: Prober;
  readonly health: Health;
  readonly counters: Counters;
  readonly log: Logger;
  readonly warn: RateLimitedLog;
  readonly transport: Transport;
  readonly keyring: Keyring | undefined;
  readonly label: Uint8Array;
  readonly compression: boolean;
  readonly udpBufferSize: number;
  /** Go's GossipVerifyIncoming = false: with keys, accept plaintext too. */
  readonly allowPlaintext: boolean;
  advertise(): { addrBytes: Uint8Array; port: number };
  stopped(): boolean;
  /** A member we hold failed pinged us (authenticated): it is up again; see Memberlist.heardFromFailed. */
  heardFromFailed?(name: string): void;
}

/** A read that ran out of time (counted as `streamTimeout`). */
class StreamTimeout extends Error {
  constructor() {
    super('stream: read timeout');
    this.name = 'StreamTimeout';
  }
}

/** An append-only byte buffer that doubles its capacity (no quadratic copying), with a hard cap. */
class GrowBuffer {
  private buf = new Uint8Array(0);
  length = 0;
  append(c: Uint8Array): void {
    if (this.length + c.length > this.buf.length) {
      const next = new Uint8Array(Math.max(this.length + c.length, this.buf.length * 2, 4096));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    this.buf.set(c, this.length);
    this.length += c.length;
  }
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

const EMPTY = new Uint8Array(0);

/** The network side of a node. */
export class Wire {
  /** Queued gossip (one entry per member name). */
  readonly broadcasts = new BroadcastQueue();
  private inbound = 0;
  private readonly inboundByAddr = new Map<string, number>();

  /** Creates the wire layer over `host`. */
  constructor(private readonly host: WireHost) {}

  /** Current keys, primary first (no copy). */
  keys(): readonly Uint8Array[] {
    return this.host.keyring?.view() ?? [];
  }

  private streamOpts(): StreamCodecOptions {
    const h = this.host;
    // Twice the table cap: a peer's state also lists members that are dead or left (not yet
    // reaped); the table cap then applies to what we admit.
    return { keys: this.keys(), label: h.label, compress: h.compression, maxBytes: h.limits.maxStreamBytes, maxNodes: 2 * h.limits.maxMembers, allowPlaintext: h.allowPlaintext };
  }

  private encOverhead(): number {
    return (this.host.keyring !== undefined ? ENCRYPT_OVERHEAD_V1 : 0) + (this.host.label.length > 0 ? 2 + this.host.label.length : 0);
  }

  private retransmits(): number {
    return retransmitLimit(this.host.timing.retransmitMult, this.host.table.nodes.size);
  }

  // ---------------------------------------------------------------- sending

  /** Sends one packet, adding the CRC when the destination speaks protocol ≥ 5. */
  rawSend(to: Address, msg: Uint8Array, node?: NodeState): void {
    const h = this.host;
    if (h.stopped()) return;
    const crc = node !== undefined && (node.vsn[1] ?? 0) >= 5;
    let pkt: Uint8Array;
    try {
      pkt = encodePacket(msg, { keys: this.keys(), label: h.label, compress: h.compression }, crc);
    } catch (err) {
      h.warn.error('encode', { op: 'send', err: String(err) }, 'failed to encode packet');
      return;
    }
    h.counters.s.packetsSent++;
    h.counters.s.bytesSent += pkt.length;
    h.transport.sendPacket(to, pkt);
  }

  /** Sends a message with as much queued gossip piggybacked as fits. */
  sendMsg(to: Address, msg: Uint8Array, node?: NodeState): void {
    const avail = this.host.udpBufferSize - msg.length - 2 - this.encOverhead();
    const extra = this.broadcasts.getBroadcasts(2, avail, this.retransmits());
    if (extra.length === 0) this.rawSend(to, msg, node);
    else this.rawSend(to, encodeCompound([msg, ...extra]), node);
  }

  /** Queues a broadcast about member `name`. */
  broadcast(name: string, m: Message, notify?: () => void): void {
    this.broadcasts.queue(name, encodeMessage(m), notify);
  }

  /** Sends queued broadcasts to `gossipNodes` random peers (alive, suspect, or recently dead). */
  gossip(): void {
    const h = this.host;
    if (h.stopped() || this.broadcasts.size() === 0) return;
    const now = h.clock.now();
    const peers = h.prober.sample(
      h.timing.gossipNodes,
      (n) => n.name !== h.name && (n.state === 'alive' || n.state === 'suspect' || (n.state === 'dead' && now - n.stateChange <= h.timing.gossipToTheDeadTime)),
    );
    const avail = h.udpBufferSize - 2 - this.encOverhead();
    for (const n of peers) {
      const msgs = this.broadcasts.getBroadcasts(2, avail, this.retransmits());
      if (msgs.length === 0) return;
      for (const pkt of makeCompounds(msgs)) this.rawSend({ addr: n.addr, port: n.port }, pkt, n);
    }
  }

  /** Sends ping + suspect straight to `n` (the deferred unconfirmed suspicion, see MemberTable). */
  sendSuspicion(n: NodeState): void {
    const h = this.host;
    const adv = h.advertise();
    const ping = encodeMessage({ type: MsgType.ping, body: { seqNo: h.prober.nextSeqNo(), node: n.name, sourceAddr: adv.addrBytes, sourcePort: adv.port, sourceNode: h.name } });
    const sm = encodeMessage({ type: MsgType.suspect, body: { incarnation: n.incarnation, node: n.name, from: h.name } });
    this.rawSend({ addr: n.addr, port: n.port }, encodeCompound([ping, sm]), n);
  }

  // ---------------------------------------------------------------- receiving

  /** A datagram arrived. Junk is rejected from its first bytes; nothing here logs per packet. */
  onPacket(buf: Uint8Array, from: Address): void {
    const h = this.host;
    if (h.stopped()) return;
    h.counters.s.packetsReceived++;
    const keys = this.keys();
    const junk = screenPacket(buf, { label: h.label, encrypted: keys.length > 0, allowPlaintext: h.allowPlaintext, maxBytes: h.limits.maxPacketBytes });
    if (junk !== undefined) {
      h.counters.drop(junk);
      return;
    }
    if (h.table.self() === undefined) return; // not started yet
    try {
      const opened = decodePacket(buf, { keys, label: h.label, allowPlaintext: h.allowPlaintext, classifyPlaintext: true, maxDecompressed: h.limits.maxPacketDecompressedBytes });
      for (const d of opened.drops) h.counters.drop(d);
      if (opened.messages.length > 0) h.health.lastPacketAt = h.clock.now();
      for (const m of opened.messages) this.handleMessage(m, from);
      // Gossip from a member we hold failed (both sides may hold the other dead, and then nobody
      // pings): its link is back. Matched by source address; few members are ever failed at once.
      if (opened.messages.length > 0 && h.table.failed.size > 0 && h.table.failed.size <= 64 && h.heardFromFailed !== undefined) {
        for (const [name, f] of h.table.failed) {
          if (f.addr.addr === from.addr && f.addr.port === from.port && h.table.nodes.get(name)?.state !== 'alive') {
            h.heardFromFailed(name);
            break;
          }
        }
      }
    } catch (err) {
      h.warn.error('packetError', { op: 'packet', err: err instanceof Error ? (err.stack ?? err.message) : String(err) }, 'internal error handling a packet');
    }
  }

  private handleMessage(m: Message, from: Address): void {
    const h = this.host;
    switch (m.type) {
      case MsgType.ping:
        return this.handlePing(m.body, from);
      case MsgType.indirectPing:
        return this.handleIndirectPing(m.body, from);
      case MsgType.ackResp:
        h.prober.handleAck(m.body.seqNo, m.body.payload);
        return;
      case MsgType.nackResp:
        h.prober.handleNack(m.body.seqNo);
        return;
      case MsgType.alive:
        h.table.aliveNode(m.body, false);
        return;
      case MsgType.suspect:
        h.table.suspectNode(m.body);
        return;
      case MsgType.dead:
        h.table.deadNode(m.body);
        return;
      default:
        // user messages and errResp are not used over UDP by this implementation
        h.counters.drop('unhandled');
    }
  }

  private replyAddress(p: { sourceAddr?: Uint8Array; sourcePort?: number }, from: Address): Address {
    if (p.sourceAddr !== undefined && p.sourcePort !== undefined && p.sourcePort > 0) {
      const ip = formatGoIP(p.sourceAddr);
      if (ip !== undefined) return { addr: ip, port: p.sourcePort };
    }
    return from;
  }

  private handlePing(p: Ping, from: Address): void {
    const h = this.host;
    if (p.node !== '' && p.node !== h.name) {
      h.counters.drop('wrongNode');
      return;
    }
    const to = this.replyAddress(p, from);
    const node = p.sourceNode !== undefined ? h.table.nodes.get(p.sourceNode) : undefined;
    this.sendMsg(to, encodeMessage({ type: MsgType.ackResp, body: { seqNo: p.seqNo, payload: EMPTY } }), node);
    if (node !== undefined && node.name !== h.name && node.state !== 'alive' && node.state !== 'suspect') h.heardFromFailed?.(node.name);
  }

  private handleIndirectPing(ind: IndirectPingReq, from: Address): void {
    const h = this.host;
    const target = formatGoIP(ind.target);
    if (target === undefined) {
      h.counters.drop('malformed');
      return;
    }
    const adv = h.advertise();
    const port = ind.port === 0 ? adv.port : ind.port;
    const replyTo = this.replyAddress(ind, from);
    const requester = ind.sourceNode !== undefined ? h.table.nodes.get(ind.sourceNode) : undefined;
    const localSeq = h.prober.nextSeqNo();
    let answered = false;
    h.prober.setAckHandler(
      localSeq,
      () => {
        answered = true;
        this.sendMsg(replyTo, encodeMessage({ type: MsgType.ackResp, body: { seqNo: ind.seqNo, payload: EMPTY } }), requester);
      },
      () => undefined,
      h.timing.probeTimeout,
    );
    const ping: Ping = { seqNo: localSeq, node: ind.node, sourceAddr: adv.addrBytes, sourcePort: adv.port, sourceNode: h.name };
    this.sendMsg({ addr: target, port }, encodeMessage({ type: MsgType.ping, body: ping }), h.table.nodes.get(ind.node));
    if (ind.nack) {
      h.clock.setTimeout(() => {
        if (!answered && !h.stopped()) this.sendMsg(replyTo, encodeMessage({ type: MsgType.nackResp, body: { seqNo: ind.seqNo } }), requester);
      }, h.timing.probeTimeout);
    }
  }

  // ---------------------------------------------------------------- streams

  /**
   * Reads one message from a stream, waiting for more bytes while it is incomplete, never
   * holding more than limits.maxStreamBytes (plus framing) and giving up after `timeoutMs`.
   */
  async readStream(s: Stream, acceptor: boolean, timeoutMs: number): Promise<StreamMessage> {
    const h = this.host;
    const opts = this.streamOpts();
    const cap = h.limits.maxStreamBytes + ENCRYPT_OVERHEAD_V1 + 64 + h.label.length;
    const buf = new GrowBuffer();
    let timedOut = false;
    let wake: (v: null) => void = () => undefined;
    const timeout = new Promise<null>((resolve) => (wake = resolve));
    // As for probe verdicts (Clock.afterIo): let bytes already received be read first.
    const timer = h.clock.setTimeout(
      () => {
        void h.clock.afterIo().then(() => {
          timedOut = true;
          wake(null);
        });
      },
      Math.max(1, timeoutMs),
    );
    try {
      for (;;) {
        const chunk = await Promise.race([s.read(), timeout]);
        if (timedOut) throw new StreamTimeout();
        const ended = chunk === null;
        if (chunk !== null) {
          if (buf.length + chunk.length > cap) throw new StreamError('tooLarge', `stream: more than ${h.limits.maxStreamBytes} bytes`);
          buf.append(chunk);
        }
        const view = buf.view();
        // Encrypted bodies announce their length: do not re-parse until all of it is here.
        const need = expectedStreamLength(view, h.label, acceptor);
        if (need !== undefined && view.length < need && !ended) continue;
        const r = tryParseStream(view, opts, acceptor, ended);
        if (r.status === 'ok') return r.msg;
        if (ended) throw new StreamError('malformed', 'stream: closed before a whole message arrived');
      }
    } finally {
      timer.cancel();
    }
  }

  /** A peer opened a stream: serve one exchange (push/pull or TCP ping), within the caps. */
  async onStream(s: Stream): Promise<void> {
    const h = this.host;
    if (h.stopped()) {
      s.close();
      return;
    }
    const addr = s.remote.addr;
    const perAddr = this.inboundByAddr.get(addr) ?? 0;
    if (this.inbound >= h.limits.maxInboundStreams || perAddr >= h.limits.maxInboundStreamsPerAddr) {
      h.counters.drop('streamLimit');
      h.warn.warn('streamLimit', { op: 'stream', from: addr, inbound: this.inbound }, 'too many concurrent inbound streams: connection closed');
      s.close();
      return;
    }
    this.inbound++;
    this.inboundByAddr.set(addr, perAddr + 1);
    h.counters.s.streamsAccepted++;
    try {
      await this.serveStream(s);
    } catch (err) {
      h.warn.warn('streamError', { op: 'stream', err: String(err) }, 'stream handling failed');
    } finally {
      this.inbound--;
      const left = (this.inboundByAddr.get(addr) ?? 1) - 1;
      if (left <= 0) this.inboundByAddr.delete(addr);
      else this.inboundByAddr.set(addr, left);
      s.close();
    }
  }

  private async serveStream(s: Stream): Promise<void> {
    const h = this.host;
    let msg: StreamMessage;
    try {
      msg = await this.readStream(s, true, h.timing.tcpTimeout);
    } catch (err) {
      const reason = err instanceof StreamError ? err.reason : err instanceof StreamTimeout ? 'streamTimeout' : 'streamRead';
      h.counters.drop(reason);
      h.warn.warn(`stream:${reason}`, { op: 'stream', from: `${s.remote.addr}:${s.remote.port}`, reason, err: String(err) }, 'failed to receive');
      // Like Go, tell the dialer why (wrapped like any reply), best effort; not after a timeout.
      if (!(err instanceof StreamTimeout)) {
        await s.write(encodeStreamFrame(encodeMessage({ type: MsgType.err, body: { error: String(err) } }), this.streamOpts(), false)).catch(() => undefined);
      }
      return;
    }
    if (h.stopped()) return;
    switch (msg.type) {
      case 'pushPull': {
        // Reply with our state before merging theirs, as Go does.
        await s.write(encodeStreamFrame(encodePushPull(msg.header.join, h.table.localState()), this.streamOpts(), false));
        try {
          h.table.mergeRemoteState(msg.nodes);
        } catch (err) {
          h.warn.warn('mergeRejected', { op: 'pushPull', from: s.remote.addr, err: String(err) }, 'push/pull merge rejected');
        }
        return;
      }
      case 'ping': {
        if (msg.ping.node !== '' && msg.ping.node !== h.name) {
          h.counters.drop('wrongNode');
          return;
        }
        await s.write(encodeStreamFrame(encodeMessage({ type: MsgType.ackResp, body: { seqNo: msg.ping.seqNo, payload: EMPTY } }), this.streamOpts(), false));
        return;
      }
      default:
        h.counters.drop('unhandledStream');
    }
  }

  /** Push/pull with `to`: send our state, merge the reply. Throws (with a cause) on failure. */
  async pushPull(to: Address, join: boolean): Promise<void> {
    const h = this.host;
    h.counters.s.pushPulls++;
    let s: Stream | undefined;
    try {
      s = await h.transport.dial(to, h.timing.tcpTimeout);
      h.counters.s.streamsDialed++;
      await s.write(encodeStreamFrame(encodePushPull(join, h.table.localState()), this.streamOpts(), true));
      const reply = await this.readStream(s, false, h.timing.tcpTimeout);
      if (reply.type === 'err') throw new Error(`remote error: ${reply.error}`);
      if (reply.type !== 'pushPull') throw new Error(`unexpected reply ${reply.type} to push/pull`);
      h.table.mergeRemoteState(reply.nodes);
    } catch (err) {
      h.counters.s.pushPullFailures++;
      if (err instanceof StreamError) h.counters.drop(err.reason);
      throw new Error(`push/pull with ${to.addr}:${to.port} failed`, { cause: err });
    } finally {
      s?.close();
    }
  }

  /**
   * TCP fallback ping: 'ack' on a matching ack before `deadline`; 'connected' if the member's
   * TCP port accepted the connection but no ack came in time (the process is there, but slow);
   * 'failed' if the connection was refused or timed out.
   */
  async tcpPing(node: NodeState, ping: Ping, deadline: number): Promise<'ack' | 'connected' | 'failed'> {
    const h = this.host;
    let s: Stream | undefined;
    try {
      s = await h.transport.dial({ addr: node.addr, port: node.port }, Math.max(1, deadline - h.clock.now()));
    } catch {
      return 'failed';
    }
    try {
      h.counters.s.streamsDialed++;
      await s.write(encodeStreamFrame(encodeMessage({ type: MsgType.ping, body: ping }), this.streamOpts(), true));
      const reply = await this.readStream(s, false, deadline - h.clock.now());
      return reply.type === 'ack' && reply.ack.seqNo === ping.seqNo ? 'ack' : 'connected';
    } catch {
      return 'connected';
    } finally {
      s.close();
    }
  }
}
