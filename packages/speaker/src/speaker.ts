/**
 * The speaker process wiring: informers (Services, EndpointSlices, Nodes, the address-pool
 * ConfigMap) and memberlist events feed one debounced resync, which runs the pure `plan` and
 * applies the difference to the layer2 Announcer (answer ARP/NDP, gratuitous on gain, silence on
 * loss).
 */
import { CoreV1Api, type KubeConfig, type V1ConfigMap, type V1EndpointSlice, type V1Node, type V1Service } from '@kubernetes/client-node';
import { Allocator, isConfigError, parseConfig } from '@ironlb/core';
import {
  EventRecorder,
  MEMBERLIST_SECRET,
  MEMBERLIST_SECRET_KEY,
  type ResilientInformer,
  configMapInformer,
  endpointSliceInformer,
  nodeInformer,
  serviceInformer,
  withKeepAlive,
} from '@ironlb/k8s';
import { Announcer, type AnnouncerOptions } from '@ironlb/layer2';
import { Keyring, type Memberlist, type PresetName, createMemberlist, deriveKeySha256 } from '@ironlb/memberlist';
import type { Logger } from 'pino';
import { SpeakerMetrics } from './metrics.js';
import { type EndpointView, type Snapshot, endpointViews, nodeView, plan, serviceView, sliceServiceKey } from './state.js';

/** Options of the speaker. */
export interface SpeakerOptions {
  kc: KubeConfig;
  log: Logger;
  /** This node's Kubernetes name (also its memberlist name). */
  nodeName: string;
  namespace: string;
  configMapName?: string;
  lbClass?: string | undefined;
  /** memberlist bind address; default this Node's first InternalIP. */
  bindAddr?: string | undefined;
  /** memberlist port (UDP+TCP); default 7946. */
  bindPort?: number;
  /** memberlist timing preset; default fast. */
  preset?: PresetName;
  /** The memberlist secret string; default read from the `memberlist` Secret. */
  secret?: string | undefined;
  /** Only these interfaces answer (default: every eligible one). */
  interfaces?: readonly string[] | undefined;
  /** Regex of interfaces never used (default layer2's DEFAULT_EXCLUDE). */
  excludeInterfaces?: RegExp | undefined;
  /** Gratuitous refresh period while announcing (ms, 0 disables); default 30 s. */
  refreshIntervalMs?: number;
  metrics?: SpeakerMetrics;
  onFatal?: (err: Error) => void;
  /** Overrides for the announcer (tests). */
  announcer?: AnnouncerOptions;
}

/** The running speaker. */
export class Speaker {
  readonly metrics: SpeakerMetrics;
  readonly #o: SpeakerOptions;
  readonly #log: Logger;
  readonly #core: CoreV1Api;
  readonly #events: EventRecorder;
  readonly #services: ResilientInformer<V1Service>;
  readonly #slices: ResilientInformer<V1EndpointSlice>;
  readonly #nodes: ResilientInformer<V1Node>;
  readonly #configMaps: ResilientInformer<V1ConfigMap>;
  #announcer: Announcer | undefined;
  #ml: Memberlist | undefined;
  /** The last good config's pools (only poolOf is used); undefined until a valid config arrives. */
  #pools: Allocator | undefined;
  /** ip → owners (service keys) currently announced by this node. */
  #announced = new Map<string, Set<string>>();
  #resyncScheduled = false;
  #ready = false;
  #stopping = false;
  #rejoinTimer: NodeJS.Timeout | undefined;

  constructor(o: SpeakerOptions) {
    withKeepAlive(o.kc);
    this.#o = o;
    this.#log = o.log;
    this.metrics = o.metrics ?? new SpeakerMetrics();
    this.#core = o.kc.makeApiClient(CoreV1Api);
    this.#events = new EventRecorder(o.kc, 'ironlb-speaker', o.log, o.nodeName);
    const ctx = { kc: o.kc, log: o.log, onFatal: o.onFatal };
    this.#services = serviceInformer(ctx);
    this.#slices = endpointSliceInformer(ctx);
    this.#nodes = nodeInformer(ctx);
    this.#configMaps = configMapInformer(ctx, o.namespace, o.configMapName ?? 'config');
  }

  /** Syncs informers, starts memberlist and the announcer, joins peers, runs the first resync. */
  async start(): Promise<void> {
    const resync = (): void => this.#scheduleResync();
    this.#services.on(resync);
    this.#slices.on(resync);
    this.#nodes.on((_ev, node) => {
      resync();
      // A new or changed Node may be a speaker we have not joined yet.
      if (node.metadata?.name !== this.#o.nodeName) void this.#joinPeers();
    });
    this.#configMaps.on((ev, cm) => {
      if (ev !== 'delete') this.#applyConfig(cm);
      else this.#log.warn({ op: 'config' }, 'address-pool ConfigMap deleted; keeping the last good config');
      resync();
    });
    await Promise.all([this.#services.start(), this.#slices.start(), this.#nodes.start(), this.#configMaps.start()]);

    const self = this.#nodes.get(this.#o.nodeName);
    if (self === undefined) throw new Error(`Node ${this.#o.nodeName} does not exist; --node-name must be this node's Kubernetes name`);
    const bindAddr = this.#o.bindAddr ?? internalIPs(self)[0];
    if (bindAddr === undefined) throw new Error(`Node ${this.#o.nodeName} has no InternalIP; pass --ml-bind-addr`);
    const secret = this.#o.secret ?? (await this.#readSecret());
    this.#ml = createMemberlist({
      name: this.#o.nodeName,
      bindAddr,
      bindPort: this.#o.bindPort ?? 7946,
      preset: this.#o.preset ?? 'fast',
      ...(secret !== undefined ? { keyring: new Keyring([deriveKeySha256(secret)]) } : {}),
      logger: this.#log.child({ component: 'memberlist' }),
      onEvent: (ev) => {
        this.#log.info({ op: 'memberEvent', event: ev.type, node: ev.member.name, state: ev.member.state }, 'membership changed; resyncing');
        this.metrics.memberEvents.inc({ type: ev.type });
        resync();
      },
    });
    if (secret === undefined) this.#log.warn({ op: 'memberlist' }, 'no memberlist secret: gossip is NOT encrypted');
    await this.#ml.start();
    this.#announcer = new Announcer({
      logger: this.#log.child({ component: 'layer2' }),
      ...(this.#o.refreshIntervalMs !== undefined ? { refreshIntervalMs: this.#o.refreshIntervalMs } : {}),
      select: {
        ...(this.#o.interfaces !== undefined && this.#o.interfaces.length > 0 ? { allow: this.#o.interfaces } : {}),
        ...(this.#o.excludeInterfaces !== undefined ? { exclude: this.#o.excludeInterfaces } : {}),
      },
      onCount: (ev) => this.metrics.count(ev),
      ...this.#o.announcer,
    });
    this.#announcer.start();
    // Join before the first decision: a speaker that sees only itself alive would claim every IP.
    await this.#joinPeers();
    this.#rejoinTimer = setInterval(() => void this.#joinPeers(), 30_000);
    this.#rejoinTimer.unref();
    this.#ready = true;
    this.#resync();
    this.#log.info({ op: 'start', node: this.#o.nodeName, bindAddr, members: this.#ml.liveMembers().length }, 'speaker running');
  }

  /** Ready once started. */
  ready(): boolean {
    return this.#ready;
  }

  /** Alive while informers are healthy. */
  healthy(): boolean {
    return [this.#services, this.#slices, this.#nodes, this.#configMaps].every((i) => !this.#ready || i.healthy());
  }

  /**
   * Graceful stop: stop answering at once, tell peers we left (they take over immediately
   * instead of waiting for failure detection), then close everything.
   */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#ready = false;
    if (this.#rejoinTimer) clearInterval(this.#rejoinTimer);
    this.#announcer?.close();
    this.#announced.clear();
    for (const i of [this.#services, this.#slices, this.#nodes, this.#configMaps]) i.stop();
    if (this.#ml) {
      await this.#ml.leave(500).catch(() => undefined);
      await this.#ml.shutdown().catch(() => undefined);
    }
  }

  async #readSecret(): Promise<string | undefined> {
    try {
      const s = await this.#core.readNamespacedSecret({ name: MEMBERLIST_SECRET, namespace: this.#o.namespace });
      const b64 = s.data?.[MEMBERLIST_SECRET_KEY];
      return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
    } catch (err) {
      this.#log.warn({ op: 'memberlistSecret', err }, `cannot read Secret ${this.#o.namespace}/${MEMBERLIST_SECRET}`);
      return undefined;
    }
  }

  async #joinPeers(): Promise<void> {
    const ml = this.#ml;
    if (ml === undefined || this.#stopping) return;
    const known = new Set(ml.liveMembers().map((m) => m.addr));
    const peers = this.#nodes
      .list()
      .filter((n) => n.metadata?.name !== this.#o.nodeName)
      .map((n) => internalIPs(n)[0])
      .filter((ip): ip is string => ip !== undefined && !known.has(ip));
    if (peers.length === 0) return;
    const joined = await ml.join(peers);
    this.#log.debug({ op: 'join', peers, joined }, 'joined peers');
  }

  #applyConfig(cm: V1ConfigMap): void {
    const text = cm.data?.['config'];
    const parsed = text === undefined ? undefined : parseConfig(text);
    if (parsed === undefined || isConfigError(parsed)) {
      this.metrics.configStale.set(1);
      this.#log.error({ op: 'config', err: parsed?.message ?? 'no data key "config"' }, 'invalid address-pool config; keeping the last good one');
      return;
    }
    this.#pools = new Allocator(parsed);
    this.metrics.configStale.set(0);
  }

  #scheduleResync(): void {
    if (!this.#ready || this.#resyncScheduled) return;
    this.#resyncScheduled = true;
    setImmediate(() => {
      this.#resyncScheduled = false;
      this.#resync();
    });
  }

  #resync(): void {
    const ml = this.#ml;
    const announcer = this.#announcer;
    if (ml === undefined || announcer === undefined || this.#stopping) return;
    const endpoints = new Map<string, EndpointView[]>();
    for (const slice of this.#slices.list()) {
      const key = sliceServiceKey(slice);
      if (key === undefined) continue;
      const list = endpoints.get(key);
      if (list === undefined) endpoints.set(key, endpointViews(slice));
      else list.push(...endpointViews(slice));
    }
    const alive = new Set(ml.liveMembers().map((m) => m.name));
    const snapshot: Snapshot = {
      self: this.#o.nodeName,
      services: this.#services.list().flatMap((s) => serviceView(s, this.#o.lbClass) ?? []),
      endpoints,
      nodes: this.#nodes.list().map(nodeView),
      alive,
      // Without a valid config nothing is announced: we cannot tell our IPs from anyone's.
      inPool: (ip) => this.#pools?.poolOf(ip) !== undefined,
    };
    const p = plan(snapshot);
    this.metrics.membersAlive.set(alive.size);
    // Withdraw first, so an IP moving between services is never announced twice over.
    for (const [ip, owners] of this.#announced) {
      const want = new Set(p.announce.get(ip) ?? []);
      for (const owner of owners) {
        if (want.has(owner)) continue;
        announcer.withdraw(ip, owner);
        owners.delete(owner);
        this.metrics.announced.remove({ service: owner, ip, node: this.#o.nodeName });
        this.#log.info({ op: 'withdraw', svc: owner, ip }, 'stopped announcing');
      }
      if (owners.size === 0) this.#announced.delete(ip);
    }
    const gained = new Set<string>();
    for (const [ip, owners] of p.announce) {
      const have = this.#announced.get(ip) ?? new Set<string>();
      for (const owner of owners) {
        if (have.has(owner)) continue;
        announcer.announce(ip, owner);
        have.add(owner);
        gained.add(owner);
        this.metrics.announced.set({ service: owner, ip, node: this.#o.nodeName }, 1);
        this.#log.info({ op: 'announce', svc: owner, ip }, 'announcing');
      }
      this.#announced.set(ip, have);
    }
    for (const key of gained) {
      const [namespace = '', name = ''] = key.split('/');
      const svc = this.#services.get(name, namespace);
      void this.#events.record(
        { kind: 'Service', apiVersion: 'v1', namespace, name, uid: svc?.metadata?.uid },
        'Normal',
        'nodeAssigned',
        `announcing from node "${this.#o.nodeName}" with protocol "layer2"`,
      );
    }
  }
}

/** A Node's InternalIP addresses, IPv4 first. */
export function internalIPs(node: V1Node): string[] {
  const ips = (node.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address);
  return [...ips.filter((ip) => !ip.includes(':')), ...ips.filter((ip) => ip.includes(':'))];
}
