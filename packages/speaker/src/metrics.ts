/** Prometheus metrics of the speaker (MetalLB-like names with the ironlb_ prefix). */
import type { CountEvent } from '@ironlb/layer2';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** The speaker's metrics in their own registry. */
export class SpeakerMetrics {
  readonly registry = new Registry();
  readonly announced = new Gauge({ name: 'ironlb_speaker_announced', help: '1 while this node announces the IP for the service', labelNames: ['service', 'ip', 'node'], registers: [this.registry] });
  readonly membersAlive = new Gauge({ name: 'ironlb_speaker_members_alive', help: 'memberlist members alive or suspect, this node included', registers: [this.registry] });
  readonly memberEvents = new Counter({ name: 'ironlb_speaker_member_events_total', help: 'memberlist join/leave/update events', labelNames: ['type'], registers: [this.registry] });
  readonly configStale = new Gauge({ name: 'ironlb_k8s_client_config_stale_bool', help: '1 while the ConfigMap holds a rejected config', registers: [this.registry] });
  readonly requests = new Counter({ name: 'ironlb_layer2_requests_received', help: 'ARP requests and Neighbor Solicitations received', labelNames: ['family', 'interface'], registers: [this.registry] });
  readonly responses = new Counter({ name: 'ironlb_layer2_responses_sent', help: 'ARP replies and solicited Neighbor Advertisements sent', labelNames: ['family', 'interface'], registers: [this.registry] });
  readonly gratuitous = new Counter({ name: 'ironlb_layer2_gratuitous_sent', help: 'Gratuitous ARP / unsolicited NA frames sent', labelNames: ['family', 'interface'], registers: [this.registry] });
  readonly drops = new Counter({ name: 'ironlb_layer2_dropped_total', help: 'Frames not answered, by reason', labelNames: ['family', 'interface', 'reason'], registers: [this.registry] });
  readonly portErrors = new Counter({ name: 'ironlb_layer2_port_errors_total', help: 'Packet socket failures', labelNames: ['family', 'interface'], registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'ironlb_speaker_' });
  }

  /** Feeds one layer2 counter event. */
  count(ev: CountEvent): void {
    const labels = { family: ev.family === 4 ? 'ipv4' : 'ipv6', interface: ev.iface };
    if (ev.kind === 'received') this.requests.inc(labels);
    else if (ev.kind === 'reply') this.responses.inc(labels);
    else if (ev.kind === 'gratuitous') this.gratuitous.inc(labels);
    else if (ev.kind === 'drop') this.drops.inc({ ...labels, reason: ev.reason });
    else this.portErrors.inc(labels);
  }
}
