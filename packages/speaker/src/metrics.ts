/**
 * Prometheus metrics of the speaker (MetalLB-like names with the ironlb_ prefix). Counters owned
 * by memberlist and layer2 are read at scrape time from their stats, so the receive paths never
 * pay for metrics.
 */
import type { GaugeDescriptor } from '@ironlb/k8s';
import type { AnnouncerHealth, CountEvent } from '@ironlb/layer2';
import type { MemberlistStats } from '@ironlb/memberlist';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** The speaker's metrics in their own registry. */
export class SpeakerMetrics {
  readonly registry = new Registry();
  readonly announced = new Gauge({ name: 'ironlb_speaker_announced', help: '1 while this node announces the IP for the service', labelNames: ['service', 'ip', 'node'], registers: [this.registry] });
  readonly membersAlive = new Gauge({ name: 'ironlb_speaker_members_alive', help: 'memberlist members alive or suspect, this node included', registers: [this.registry] });
  readonly memberEvents = new Counter({ name: 'ironlb_speaker_member_events_total', help: 'memberlist join/leave/update events', labelNames: ['type'], registers: [this.registry] });
  readonly resyncSeconds = new Gauge({ name: 'ironlb_speaker_resync_duration_seconds', help: 'How long the last full decision (plan + announcement diff) took', registers: [this.registry] });
  readonly configStale = new Gauge({ name: 'ironlb_k8s_client_config_stale_bool', help: '1 while the ConfigMap holds a rejected config', registers: [this.registry] });
  readonly gossipEncrypted = new Gauge({ name: 'ironlb_speaker_gossip_encrypted', help: '1 when gossip is encrypted (0 only with --ml-allow-plaintext and no key)', registers: [this.registry] });
  readonly gossipKeys = new Gauge({ name: 'ironlb_speaker_gossip_keys', help: 'Gossip keys installed (2 or more while a rotation is in progress)', registers: [this.registry] });
  readonly keyRotations = new Counter({ name: 'ironlb_speaker_gossip_key_rotations_total', help: 'Gossip key rotations completed (old key removed)', registers: [this.registry] });
  readonly admissionRefusals = new Counter({
    name: 'ironlb_speaker_gossip_admission_refused_total',
    help: 'Would-be gossip members refused, by reason (notANode, addressMismatch, foreignMeta)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly conflicts = new Counter({
    name: 'ironlb_speaker_address_conflicts_total',
    help: 'Another host (not a speaker) claimed an IP we announce (claimed) or already answered for one before we announced it (inUse)',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly splitBrain = new Counter({
    name: 'ironlb_speaker_split_brain_total',
    help: 'Another speaker answered for an IP we hold: we yielded to a higher-ranked one, or re-asserted against a lower-ranked one',
    labelNames: ['action'],
    registers: [this.registry],
  });
  readonly requests = new Counter({ name: 'ironlb_layer2_requests_received', help: 'ARP and NDP frames received', labelNames: ['family', 'interface'], registers: [this.registry] });
  readonly responses = new Counter({
    name: 'ironlb_layer2_responses_sent',
    help: 'ARP replies and solicited Neighbor Advertisements sent',
    labelNames: ['family', 'interface'],
    registers: [this.registry],
  });
  readonly gratuitous = new Counter({ name: 'ironlb_layer2_gratuitous_sent', help: 'Gratuitous ARP / unsolicited NA frames sent', labelNames: ['family', 'interface'], registers: [this.registry] });
  readonly drops = new Counter({
    name: 'ironlb_layer2_dropped_total',
    help: 'Frames not answered, by reason (socket: lost in the kernel before user space)',
    labelNames: ['family', 'interface', 'reason'],
    registers: [this.registry],
  });
  readonly portErrors = new Counter({ name: 'ironlb_layer2_port_errors_total', help: 'Packet socket failures (each is retried)', labelNames: ['family', 'interface'], registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'ironlb_speaker_' });
  }

  /** Feeds one layer2 counter event. */
  count(ev: CountEvent): void {
    const labels = { family: ev.family === 4 ? 'ipv4' : 'ipv6', interface: ev.iface };
    const n = 'n' in ev && ev.n !== undefined ? ev.n : 1;
    if (ev.kind === 'received') this.requests.inc(labels, n);
    else if (ev.kind === 'reply') this.responses.inc(labels, n);
    else if (ev.kind === 'gratuitous') this.gratuitous.inc(labels, n);
    else if (ev.kind === 'drop') this.drops.inc({ ...labels, reason: ev.reason }, n);
    else this.portErrors.inc(labels);
  }

  /** Publishes gauges described elsewhere (ApiHealth's), read at scrape time. */
  addGauges(gauges: readonly GaugeDescriptor[]): void {
    for (const g of gauges) {
      if (this.registry.getSingleMetric(g.name) !== undefined) continue;
      new Gauge({
        name: g.name,
        help: g.help,
        registers: [this.registry],
        collect(this: Gauge) {
          this.set(g.value());
        },
      });
    }
  }

  /** Responder health, read at scrape time. */
  watchLayer2(health: () => AnnouncerHealth): void {
    if (this.registry.getSingleMetric('ironlb_layer2_responders') !== undefined) return;
    new Gauge({
      name: 'ironlb_layer2_responders',
      help: 'Packet sockets by state (errored: down, being reopened with backoff)',
      labelNames: ['state'],
      registers: [this.registry],
      collect(this: Gauge) {
        const h = health();
        this.set({ state: 'ok' }, h.responders.length - h.errored);
        this.set({ state: 'errored' }, h.errored);
      },
    });
    new Gauge({
      name: 'ironlb_layer2_socket_reopens',
      help: 'Packet sockets reopened after an error (a link flap, an interface re-created)',
      registers: [this.registry],
      collect(this: Gauge) {
        this.set(health().reopens);
      },
    });
  }

  /** memberlist counters, read at scrape time (deltas fed into counters). */
  watchMemberlist(stats: () => MemberlistStats): void {
    if (this.registry.getSingleMetric('ironlb_memberlist_dropped_total') !== undefined) return;
    const seen = new Map<string, number>();
    const delta = (key: string, now: number): number => {
      const d = now - (seen.get(key) ?? 0);
      seen.set(key, now);
      return Math.max(0, d);
    };
    new Counter({
      name: 'ironlb_memberlist_dropped_total',
      help: 'Gossip packets, parts and streams dropped, by reason (decrypt, plaintext, crc, oversize, refused, ...)',
      labelNames: ['reason'],
      registers: [this.registry],
      collect(this: Counter) {
        for (const [reason, n] of Object.entries(stats().dropped)) this.inc({ reason }, delta(`drop/${reason}`, n ?? 0));
      },
    });
    const simple: [string, string, (s: MemberlistStats) => number][] = [
      ['ironlb_memberlist_packets_received_total', 'Gossip datagrams received', (s) => s.packetsReceived],
      ['ironlb_memberlist_probe_failures_total', 'Probes of a member that got no ack', (s) => s.probeFailures],
      ['ironlb_memberlist_suspicions_total', 'Members this node moved to suspect', (s) => s.suspicionsRaised],
      ['ironlb_memberlist_refutes_total', 'Times this node refuted a suspicion or death about itself', (s) => s.refutes],
    ];
    for (const [name, help, get] of simple) {
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect(this: Counter) {
          this.inc(delta(name, get(stats())));
        },
      });
    }
    new Gauge({
      name: 'ironlb_memberlist_health_score',
      help: 'Lifeguard local health (0 = healthy; higher: this node is slow or cut off)',
      registers: [this.registry],
      collect(this: Gauge) {
        this.set(stats().awareness);
      },
    });
  }
}
