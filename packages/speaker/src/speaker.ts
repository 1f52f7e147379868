/**
 * The speaker process wiring. Informers (Services, EndpointSlices, Nodes, the address-pool
 * ConfigMap, the memberlist Secret) and gossip events feed one debounced resync: the pure `plan`
 * says which IPs this node should hold, `AnnouncementSet` adds what the wire says (probe first,
 * conflicts, split brain) and drives the announcement protocol.
 *
 * What keeps the VIP up:
 *  - the Kubernetes API going away degrades readiness only: informers retry forever and the
 *    speaker keeps answering and gossiping on its last known state;
 *  - gossip never runs without a key unless the operator says so (`allowPlaintext`): a speaker
 *    without one waits, not ready, and says why; a new key in the Secret is rotated in without a
 *    partition (keyrotation.ts), a deleted Secret changes nothing;
 *  - only Nodes of this cluster with ironlb node meta are admitted to gossip (admission.ts);
 *  - claims on the wire resolve split brains and foreign conflicts (guard.ts, announcements.ts).
 */
import type { KubeConfig, V1ConfigMap, V1EndpointSlice, V1Node, V1Secret, V1Service } from '@kubernetes/client-node';
import type { Config } from '@ironlb/core';
import {
  ApiHealth,
  ConfigObjects,
  EventRecorder,
  type ServiceL2StatusObject,
  serviceL2StatusInformer,
  ServiceL2StatusWriter,
  configFromSources,
  MEMBERLIST_SECRET,
  MEMBERLIST_SECRET_KEY,
  type Readiness,
  type ResilientInformer,
  configMapInformer,
  endpointSliceInformer,
  nodeInformer,
  secretInformer,
  serviceInformer,
} from '@ironlb/k8s';
import { Announcer, type AnnouncerOptions } from '@ironlb/layer2';
import { Keyring, type PresetName, type Timing, createMemberlist, deriveKeySha256 } from '@ironlb/memberlist';
import type { Logger } from 'pino';
import { type AdmissionNode, admit } from './admission.js';
import { AnnouncementSet, type Clock, type Report, type WantedIP } from './announcements.js';
import { InForceView, seededSources } from './in-force.js';
import { rotationStep } from './keyrotation.js';
import { SpeakerMetrics } from './metrics.js';
import { decodeNodeMeta, encodeNodeMeta, keyFingerprint } from './nodemeta.js';
import type { AnnouncementProtocol, MembershipPort, WireClaim } from './ports.js';
import { type EndpointView, type Snapshot, endpointViews, nodeView, plan, serviceView, slimEndpointSlice, slimNode, slimService, sliceServiceKey } from './state.js';

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
  /** memberlist timing preset; default rapid. */
  preset?: PresetName;
  /** Overrides on top of the preset. */
  timing?: Partial<Timing>;
  /** The memberlist secret string; default read (and watched) from the `memberlist` Secret. */
  secret?: string | undefined;
  /** Gossip in clear text when no key exists (default false: wait for the Secret). */
  allowPlaintext?: boolean;
  /** Only these interfaces answer (default: every eligible one). */
  interfaces?: readonly string[] | undefined;
  /** Regex of interfaces never used (default layer2's DEFAULT_EXCLUDE). */
  excludeInterfaces?: RegExp | undefined;
  /** Gratuitous refresh period while announcing (ms, 0 disables); default 30 s. */
  refreshIntervalMs?: number;
  metrics?: SpeakerMetrics;
  /** Overrides for the announcer (tests). */
  announcer?: AnnouncerOptions;
  /** Test seams: the announcement protocol and the membership, and time. */
  protocol?: AnnouncementProtocol;
  membership?: (o: MembershipFactoryOptions) => MembershipPort;
  clock?: Clock;
  /** How long the first join may hold up the first decision (default 1500 ms). */
  initialJoinTimeoutMs?: number;
}

/** What a membership factory is given. */
export interface MembershipFactoryOptions {
  name: string;
  bindAddr: string;
  bindPort: number;
  key: Uint8Array | undefined;
  meta: Uint8Array;
  admit: (c: { name: string; addr: string; meta: Uint8Array }) => string | undefined;
  onEvent: (type: 'join' | 'leave' | 'update', member: string) => void;
}

const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** The running speaker. */
export class Speaker {
  readonly metrics: SpeakerMetrics;
  readonly health: ApiHealth;
  readonly #o: SpeakerOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #events: EventRecorder;
  readonly #services: ResilientInformer<V1Service>;
  readonly #slices: ResilientInformer<V1EndpointSlice>;
  readonly #nodes: ResilientInformer<V1Node>;
  readonly #configMaps: ResilientInformer<V1ConfigMap>;
  readonly #secrets: ResilientInformer<V1Secret> | undefined;
  #protocol: AnnouncementProtocol | undefined;
  #ml: MembershipPort | undefined;
  #set: AnnouncementSet | undefined;
  /** The config in force (ConfigMap + ironlb.io objects); undefined until a valid one arrives. */
  #config: Config | undefined;
  /** The ConfigMap's last good config (kept when its text turns invalid or empty). */
  #legacy: Config | undefined;
  readonly #objects: ConfigObjects;
  /** The config in force the controller publishes: seeds `previous`, so both decide alike. */
  readonly #inForce: InForceView;
  readonly #l2status: ServiceL2StatusWriter;
  /** Interfaces each held IP is announced on (for ServiceL2Status). */
  #heldInterfaces = new Map<string, readonly string[] | null>();
  /** Services with a ServiceL2Status naming this node, and since when. */
  readonly #l2Since = new Map<string, Date>();
  /** ServiceL2Status records ("ns/name node") this node deleted for a dead node, and when (ms). */
  readonly #l2Swept = new Map<string, number>();
  /** IPs warned about for advertised interfaces missing here, and which. */
  #missingWarned = new Map<string, string>();
  /** Every ServiceL2Status (when the CRDs are installed). */
  #l2Records: ResilientInformer<ServiceL2StatusObject> | undefined;
  /**
   * IPs some node was elected for at an earlier resync, so some speaker announced them. Taking
   * one over (failover) needs no probe; an IP never elected before (new, or without endpoints
   * until now), and every IP right after start, is probed before its first announcement.
   */
  #electedIPs = new Set<string>();
  /** Last meta each peer advertised (kept while the peer is a Node, even when it is dead). */
  readonly #peerMeta = new Map<string, { macs: readonly string[]; keys: readonly string[]; primary: string | null }>();
  /** Gossip keys we know by fingerprint (the Secret's current one and those installed). */
  readonly #keysByFp = new Map<string, Uint8Array>();
  #announcedMetric = new Map<string, Set<string>>();
  #resyncScheduled = false;
  #ready = false;
  #waiting = 'starting: waiting for the first list from the Kubernetes API';
  #stopping = false;
  #abort = new AbortController();
  #timers: NodeJS.Timeout[] = [];
  #lastMeta = '';
  #rotating = false;
  #keyless = false;

  constructor(o: SpeakerOptions) {
    this.#o = o;
    this.#log = o.log;
    this.#clock = o.clock ?? realClock;
    this.metrics = o.metrics ?? new SpeakerMetrics();
    this.health = new ApiHealth({ log: o.log.child({ component: 'api' }) });
    this.metrics.addGauges(this.health.gauges());
    this.#events = new EventRecorder(o.kc, 'ironlb-speaker', o.log, o.nodeName);
    const ctx = { kc: o.kc, log: o.log, health: this.health };
    this.#services = serviceInformer(ctx, { transform: slimService });
    this.#slices = endpointSliceInformer(ctx, { transform: slimEndpointSlice });
    this.#nodes = nodeInformer(ctx, { transform: slimNode });
    this.#configMaps = configMapInformer(ctx, o.namespace, o.configMapName ?? 'config');
    this.#secrets = o.secret === undefined ? secretInformer(ctx, o.namespace, MEMBERLIST_SECRET) : undefined;
    // IPAddressPools and L2Advertisements, when their CRDs are installed (the speaker has its own Node informer).
    this.#objects = new ConfigObjects({ kc: o.kc, log: o.log.child({ component: 'crds' }), namespace: o.namespace, mode: 'auto', health: this.health, watchNamespaces: false, watchNodes: false });
    this.#l2status = new ServiceL2StatusWriter(o.kc, { log: o.log.child({ component: 'l2status' }) });
    this.#inForce = new InForceView({ kc: o.kc, log: o.log.child({ component: 'inForce' }), namespace: o.namespace });
  }

  /**
   * Waits for the API and the gossip key (as long as they take), starts the announcement
   * protocol and gossip, joins peers and makes the first decision. Rejects only when stopped
   * first or when the setup is broken (bad bind address, a port in use).
   */
  async start(): Promise<void> {
    const resync = (): void => this.#scheduleResync();
    this.#services.on(resync);
    this.#slices.on(resync);
    this.#nodes.on((_ev, node) => {
      resync();
      // A new or changed Node may be a speaker we have not joined yet.
      if (node.metadata?.name !== this.#o.nodeName) void this.#joinPeers();
    });
    this.#configMaps.on((ev) => {
      if (ev === 'delete') this.#log.warn({ op: 'config' }, 'address-pool ConfigMap deleted; keeping the last good config');
      this.#recomputeConfig();
      resync();
    });
    this.#objects.on(() => {
      this.#recomputeConfig();
      this.#watchL2Records();
      resync();
    });
    this.#secrets?.on(() => void this.#rotateKeys());
    const signal = this.#abort.signal;
    await Promise.all([
      ...[this.#services, this.#slices, this.#nodes, this.#configMaps, ...(this.#secrets ? [this.#secrets] : [])].map(async (i) => i.start(signal)),
      this.#objects.start(),
      this.#inForce.start(signal),
    ]);
    // What the controller has in force decides over what partial views computed during the start.
    this.#recomputeConfig(true);
    this.#inForce.onChange(() => {
      this.#recomputeConfig(true);
      resync();
    });

    const self = await this.#waitFor(() => this.#nodes.get(this.#o.nodeName), `Node ${this.#o.nodeName} does not exist (is --node-name this node's Kubernetes name?)`);
    const bindAddr = this.#o.bindAddr ?? internalIPs(self)[0];
    if (bindAddr === undefined) throw new Error(`Node ${this.#o.nodeName} has no InternalIP; pass --ml-bind-addr`);

    const protocol = this.#o.protocol ?? this.#layer2();
    this.#protocol = protocol;
    protocol.start();

    const key = await this.#initialKey();
    if (key === undefined) {
      this.#keyless = true;
      this.#log.warn({ op: 'memberlist' }, 'no gossip key and --ml-allow-plaintext is set: gossip is NOT encrypted');
    }
    this.metrics.gossipEncrypted.set(key === undefined ? 0 : 1);
    this.#set = new AnnouncementSet({
      self: this.#o.nodeName,
      port: protocol,
      clock: this.#clock,
      selfMacs: () => new Set(protocol.macs()),
      peerOfMac: (mac) => this.#peerOfMac(mac),
      onChange: resync,
      report: (r) => this.#onReport(r),
    });
    protocol.onClaim((c: WireClaim) => {
      this.#set?.onClaim(c.ip, c.mac);
      this.#syncAnnouncedMetric();
    });

    const factory = this.#o.membership ?? ((f: MembershipFactoryOptions) => this.#memberlist(f));
    const ml = factory({
      name: this.#o.nodeName,
      bindAddr,
      bindPort: this.#o.bindPort ?? 7946,
      key,
      meta: this.#meta(),
      admit: (c) => {
        const why = admit(c, (name) => this.#admissionNode(name));
        if (why !== undefined) this.metrics.admissionRefusals.inc({ reason: why });
        return why;
      },
      onEvent: (type, member) => {
        this.#log.info({ op: 'memberEvent', event: type, node: member }, 'membership changed; resyncing');
        this.metrics.memberEvents.inc({ type });
        this.#learnPeers();
        resync();
        if (type !== 'leave') void this.#rotateKeys();
      },
    });
    this.#ml = ml;
    await ml.start();
    // Join before the first decision: a speaker that sees only itself alive would claim every IP.
    // Bounded: with every peer down (all speakers restarting) we must not wait for TCP timeouts;
    // the probe before announcing and the split-brain guard cover a view that is still partial.
    await Promise.race([this.#joinPeers(), sleep(this.#o.initialJoinTimeoutMs ?? 1500)]);
    this.#learnPeers();
    const rejoin = setInterval(() => void this.#joinPeers(), 30_000);
    const metaCheck = setInterval(() => void this.#publishMeta(), 10_000);
    rejoin.unref();
    metaCheck.unref();
    this.#timers.push(rejoin, metaCheck);
    this.#ready = true;
    this.#resync();
    void this.#rotateKeys();
    this.#watchL2Records();
    this.#log.info({ op: 'start', node: this.#o.nodeName, bindAddr, members: this.#live().size }, 'speaker running');
  }

  /** /readyz: starting (with why), ok, or degraded while the API is unreachable. */
  readiness(): Readiness {
    if (!this.#ready) return { ok: false, state: 'starting', detail: this.#waiting };
    return this.health.readiness();
  }

  /** Ready once started and the API is reachable. */
  ready(): boolean {
    return this.readiness().ok;
  }

  /** Liveness: the speaker never wedges on the API; there is nothing a restart would fix. */
  healthy(): boolean {
    return true;
  }

  /**
   * Graceful stop: tell peers we leave (they take over at once instead of after failure
   * detection), stop answering, then close everything. The leave goes out first: for the few
   * milliseconds until we withdraw, two nodes answer, and both serve; the other order leaves a
   * gap in which nobody answers.
   */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#ready = false;
    const left = this.#ml?.leave(500).catch(() => undefined);
    this.#set?.close();
    this.#protocol?.close();
    this.#abort.abort();
    for (const t of this.#timers) clearInterval(t);
    for (const i of [this.#services, this.#slices, this.#nodes, this.#configMaps, this.#secrets]) i?.stop();
    this.#objects.stop();
    this.#inForce.stop();
    this.#l2Records?.stop();
    // The records stay: the next announcer overwrites them (a delete here would race its write).
    this.#l2status.stop();
    await left;
    await this.#ml?.shutdown().catch(() => undefined);
  }

  // ------------------------------------------------------------------ start-up pieces

  /** Polls `get` until it returns something, saying why we wait (not ready meanwhile). */
  async #waitFor<T>(get: () => T | undefined, why: string): Promise<T> {
    let v = get();
    if (v !== undefined) return v;
    this.#waiting = `starting: ${why}`;
    this.#log.warn({ op: 'start' }, why);
    let n = 0;
    while ((v = get()) === undefined) {
      if (this.#stopping) throw new Error('speaker stopped while starting');
      await sleep(250);
      if (++n % 240 === 0) this.#log.warn({ op: 'start' }, `still ${why}`);
    }
    return v;
  }

  /** The key gossip starts with: the flag's, or the Secret's once it exists (waiting for it). */
  async #initialKey(): Promise<Uint8Array | undefined> {
    if (this.#o.secret !== undefined) return this.#remember(deriveKeySha256(this.#o.secret));
    const fromSecret = (): Uint8Array | undefined => {
      const s = this.#secretString();
      return s === undefined ? undefined : this.#remember(deriveKeySha256(s));
    };
    const now = fromSecret();
    if (now !== undefined || this.#o.allowPlaintext === true) return now;
    return this.#waitFor(
      fromSecret,
      `waiting for the memberlist Secret ${this.#o.namespace}/${MEMBERLIST_SECRET} (key "${MEMBERLIST_SECRET_KEY}"): gossip never runs without a key (the controller creates it; --ml-allow-plaintext to gossip in clear text)`,
    );
  }

  #secretString(): string | undefined {
    const s = this.#secrets?.get(MEMBERLIST_SECRET, this.#o.namespace);
    const b64 = s?.data?.[MEMBERLIST_SECRET_KEY];
    if (b64 === undefined || b64 === '') return undefined;
    return Buffer.from(b64, 'base64').toString('utf8');
  }

  #remember(key: Uint8Array): Uint8Array {
    this.#keysByFp.set(keyFingerprint(key), key);
    return key;
  }

  #layer2(): AnnouncementProtocol {
    let claimHandler: (c: WireClaim) => void = () => undefined;
    const a = new Announcer({
      logger: this.#log.child({ component: 'layer2' }),
      ...(this.#o.refreshIntervalMs !== undefined ? { refreshIntervalMs: this.#o.refreshIntervalMs } : {}),
      select: {
        ...(this.#o.interfaces !== undefined && this.#o.interfaces.length > 0 ? { allow: this.#o.interfaces } : {}),
        ...(this.#o.excludeInterfaces !== undefined ? { exclude: this.#o.excludeInterfaces } : {}),
      },
      onCount: (ev) => this.metrics.count(ev),
      onClaim: (c) => claimHandler({ ip: c.ip, mac: c.mac }),
      ...this.#o.announcer,
    });
    this.metrics.watchLayer2(() => a.health());
    return {
      start: () => a.start(),
      macs: () => a.interfaceMacs(),
      interfaces: () => [...new Set(a.responders().map((r) => r.slice(r.indexOf('/') + 1)))],
      onClaim: (cb) => {
        claimHandler = cb;
      },
      announce: (ip, owner, interfaces) => a.announce(ip, owner, interfaces ?? undefined),
      withdraw: (ip, owner) => a.withdraw(ip, owner),
      reassert: (ip, against) => {
        if (against === 'peer') a.reannounce(ip);
        else a.reassert(ip);
      },
      probe: async (ip, mode) => {
        // 'quick': is a peer we yield to still there? One probe and 80 ms of listening (a live peer
        // answers in about a millisecond; a late answer only costs a short dual answer, then a yield).
        const r = await a.probe(ip, mode === 'quick' ? { count: 1, intervalMs: 0, waitMs: 80 } : {}).catch(() => undefined);
        return { macs: r?.conflict ? [r.conflict.mac] : [] };
      },
      close: () => a.close(),
    };
  }

  #memberlist(f: MembershipFactoryOptions): MembershipPort {
    const ml = createMemberlist({
      name: f.name,
      bindAddr: f.bindAddr,
      bindPort: f.bindPort,
      preset: this.#o.preset ?? 'rapid',
      ...(this.#o.timing !== undefined ? { timing: this.#o.timing } : {}),
      ...(f.key !== undefined ? { keyring: new Keyring([f.key]) } : {}),
      meta: f.meta,
      admit: f.admit,
      logger: this.#log.child({ component: 'memberlist' }),
      onEvent: (ev) => f.onEvent(ev.type, ev.member.name),
    });
    this.metrics.watchMemberlist(() => ml.stats());
    return ml;
  }

  // ------------------------------------------------------------------ gossip: peers, meta, keys

  #admissionNode(name: string): AdmissionNode | undefined {
    const n = this.#nodes.get(name);
    if (n === undefined) return undefined;
    const addresses = (n.status?.addresses ?? []).filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP').map((a) => a.address);
    return { name, addresses };
  }

  /** Members gossip sees alive and does not suspect. */
  #healthy(): Set<string> {
    const ml = this.#ml;
    if (ml === undefined) return new Set();
    return new Set(
      ml
        .members()
        .filter((m) => m.state === 'alive')
        .map((m) => m.name),
    );
  }

  #live(): Set<string> {
    const ml = this.#ml;
    if (ml === undefined) return new Set();
    return new Set(
      ml
        .members()
        .filter((m) => m.state === 'alive' || m.state === 'suspect')
        .map((m) => m.name),
    );
  }

  /** Refreshes the peers' MACs and keys from their meta; forgets peers that are no Node any more. */
  #learnPeers(): void {
    const ml = this.#ml;
    if (ml === undefined) return;
    for (const m of ml.members()) {
      if (m.name === this.#o.nodeName) continue;
      const meta = decodeNodeMeta(m.meta);
      if (meta !== null) this.#peerMeta.set(m.name, meta);
    }
    for (const name of [...this.#peerMeta.keys()]) if (this.#nodes.get(name) === undefined) this.#peerMeta.delete(name);
  }

  #peerOfMac(mac: string): string | undefined {
    const m = mac.toLowerCase();
    for (const [name, meta] of this.#peerMeta) if (meta.macs.includes(m)) return name;
    return undefined;
  }

  #meta(): Uint8Array {
    const keys = this.#ml?.keys() ?? [...this.#keysByFp.values()].slice(0, 1);
    const fps = keys.map(keyFingerprint);
    return encodeNodeMeta({ macs: (this.#protocol?.macs() ?? []).map((m) => m.toLowerCase()), keys: fps, primary: fps[0] ?? null });
  }

  /** Re-advertises our meta when it changed (interfaces, keys). */
  async #publishMeta(): Promise<void> {
    const ml = this.#ml;
    if (ml === undefined || this.#stopping) return;
    const meta = this.#meta();
    const text = Buffer.from(meta).toString('hex');
    if (text === this.#lastMeta) return;
    this.#lastMeta = text;
    await ml.updateMeta(meta).catch((err: unknown) => this.#log.warn({ op: 'meta', err }, 'could not publish node meta'));
  }

  /** One step of key rotation (see keyrotation.ts); re-runs itself while steps remain. */
  async #rotateKeys(): Promise<void> {
    const ml = this.#ml;
    if (ml === undefined || this.#stopping || this.#rotating) return;
    if (this.#keyless) {
      if (this.#secretString() !== undefined) this.#log.warn({ op: 'keys' }, 'a memberlist Secret exists now but gossip started in clear text; restart the speaker to encrypt');
      return;
    }
    this.#rotating = true;
    try {
      const s = this.#o.secret ?? this.#secretString();
      const desired = s === undefined ? undefined : keyFingerprint(this.#remember(deriveKeySha256(s)));
      if (s === undefined && this.#secrets !== undefined) this.#log.debug({ op: 'keys' }, 'memberlist Secret absent; keeping the current keys');
      for (let round = 0; round < 4; round++) {
        const installed = ml.keys().map(keyFingerprint);
        this.metrics.gossipKeys.set(installed.length);
        const live = this.#live();
        this.#learnPeers();
        const peers = [...live].filter((n) => n !== this.#o.nodeName).map((name) => ({ name, keys: this.#peerMeta.get(name)?.keys ?? [], primary: this.#peerMeta.get(name)?.primary ?? null }));
        const steps = rotationStep(desired, { installed, primary: installed[0] ?? null }, peers);
        if (steps.length === 0) break;
        for (const st of steps) {
          const key = this.#keysByFp.get(st.fp);
          if (key === undefined) continue;
          if (st.kind === 'install') ml.addKey(key);
          else if (st.kind === 'use') ml.useKey(key);
          else {
            ml.removeKey(key);
            this.#keysByFp.delete(st.fp);
          }
          this.#log.info({ op: 'keys', step: st.kind, key: st.fp }, `gossip key rotation: ${st.kind} ${st.fp}`);
        }
        const after = ml.keys().map(keyFingerprint);
        this.metrics.gossipKeys.set(after.length);
        if (steps.some((x) => x.kind === 'remove') && after.length === 1) this.metrics.keyRotations.inc();
        await this.#publishMeta();
      }
    } finally {
      this.#rotating = false;
    }
  }

  async #joinPeers(): Promise<void> {
    const ml = this.#ml;
    if (ml === undefined || this.#stopping) return;
    const known = new Set(
      ml
        .members()
        .filter((m) => m.state === 'alive' || m.state === 'suspect')
        .map((m) => m.name),
    );
    const peers = this.#nodes
      .list()
      .filter((n) => n.metadata?.name !== this.#o.nodeName && !known.has(n.metadata?.name ?? ''))
      .map((n) => internalIPs(n)[0])
      .filter((ip): ip is string => ip !== undefined);
    if (peers.length === 0) return;
    const joined = await ml.join(peers);
    this.#log.debug({ op: 'join', peers, joined }, 'joined peers');
  }

  // ------------------------------------------------------------------ config and decisions

  /**
   * The config in force from the ConfigMap and the ironlb.io objects (the controller's rules),
   * seeded from the controller's published config in force; `adopt`: prefer that over our own.
   */
  #recomputeConfig(adopt = false): void {
    const inf = this.#objects.informers;
    const cm = this.#configMaps.get(this.#o.configMapName ?? 'config', this.#o.namespace);
    const seed = seededSources({ own: this.#config, ownLegacy: this.#legacy, published: this.#inForce.config, adopt });
    const r = configFromSources({
      configMapText: cm?.data?.['config'],
      lastGoodLegacy: seed.lastGoodLegacy,
      pools: inf?.pools.list() ?? [],
      advertisements: inf?.advertisements.list() ?? [],
      previous: seed.previous,
    });
    if (r.legacyError !== undefined) this.#log.error({ op: 'config', err: r.legacyError }, 'invalid address-pool config; keeping the last good one');
    this.metrics.configStale.set(r.legacyError !== undefined || r.problems.length > 0 ? 1 : 0);
    this.#legacy = r.legacy;
    // What the controller published is the config in force: it ran the checks a speaker cannot
    // (the mass-release guard refuses `address-pools: []` there, and a speaker that applied it
    // would silence every VIP the controller keeps). Our own merge stands in only while nothing
    // is published (an install whose controller never ran, or one older than the document).
    const published = this.#inForce.config;
    if (published !== undefined) {
      this.#config = published;
      return;
    }
    // Nothing configured yet (no ConfigMap, no pool): we cannot tell our IPs from anyone's.
    this.#config = r.legacy === undefined && r.config.pools.length === 0 ? undefined : r.config;
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
    const set = this.#set;
    if (set === undefined || !this.#ready || this.#stopping) return;
    const t0 = performance.now();
    const endpoints = new Map<string, EndpointView[]>();
    for (const slice of this.#slices.list()) {
      const key = sliceServiceKey(slice);
      if (key === undefined) continue;
      const list = endpoints.get(key);
      if (list === undefined) endpoints.set(key, endpointViews(slice));
      else list.push(...endpointViews(slice));
    }
    const alive = this.#live();
    const services = this.#services.list().flatMap((s) => serviceView(s, this.#o.lbClass) ?? []);
    const snapshot: Snapshot = {
      self: this.#o.nodeName,
      services,
      endpoints,
      nodes: this.#nodes.list().map(nodeView),
      alive,
      // Without a valid config nothing is announced: we cannot tell our IPs from anyone's.
      config: this.#config ?? { kind: 'Config', pools: [], warnings: [], blank: true },
    };
    const p = plan(snapshot);
    this.metrics.membersAlive.set(alive.size);
    const electionIp = new Map(services.map((s) => [s.key, s.ips[0] ?? '']));
    const want = new Map<string, WantedIP>();
    for (const [ip, h] of p.announce) {
      want.set(ip, { owners: h.owners, electionIp: electionIp.get(h.owners[0] ?? '') ?? ip, probeFirst: !this.#electedIPs.has(ip), interfaces: h.interfaces });
    }
    this.#heldInterfaces = new Map([...p.announce].map(([ip, h]) => [ip, h.interfaces]));
    this.#warnMissingInterfaces(p.announce);
    const elected = new Set<string>();
    for (const d of p.decisions) for (const ip of d.ips) if (d.winner !== null || this.#electedIPs.has(ip)) elected.add(ip);
    this.#electedIPs = elected;
    // Held IPs the election moved to a live peer: kept until that peer claims them (a handover).
    const handover = new Map<string, string>();
    for (const d of p.decisions) {
      if (d.winner === null || d.winner === this.#o.nodeName || !alive.has(d.winner)) continue;
      for (const ip of d.ips) handover.set(ip, d.winner);
    }
    set.reconcile(want, { alive, healthy: this.#healthy(), handover });
    this.#syncAnnouncedMetric();
    this.#sweepL2Records(alive);
    this.metrics.resyncSeconds.set((performance.now() - t0) / 1000);
  }

  /**
   * An L2Advertisement may list interfaces this node does not have (a typo, another NIC naming):
   * the IP is then answered nowhere here. MetalLB only logs it (metallb#1359 asks for an Event):
   * say it once per IP and set of missing names, as a Warning on the Service and in the log.
   */
  #warnMissingInterfaces(announce: ReadonlyMap<string, { owners: string[]; interfaces: readonly string[] | null }>): void {
    const protocol = this.#protocol;
    if (protocol === undefined) return;
    const have = new Set(protocol.interfaces());
    const now = new Map<string, string>();
    for (const [ip, h] of announce) {
      if (h.interfaces === null) continue;
      const missing = h.interfaces.filter((i) => !have.has(i));
      if (missing.length === 0) continue;
      const key = missing.join(',');
      now.set(ip, key);
      if (this.#missingWarned.get(ip) === key) continue;
      const none = missing.length === h.interfaces.length;
      const msg = `L2Advertisement interface(s) ${missing.join(', ')} do not exist on node "${this.#o.nodeName}" (or are not eligible: down, excluded, no broadcast)${none ? `: IP ${ip} is answered on no interface here` : ''}`;
      this.#log.warn({ op: 'interfaces', ip, missing, node: this.#o.nodeName }, msg);
      for (const o of h.owners) this.#serviceEvent(o, 'Warning', 'InterfaceMissing', msg);
    }
    this.#missingWarned = now;
  }

  /** Keeps the announced gauge, the nodeAssigned Events and ServiceL2Status in step with what is held. */
  #syncAnnouncedMetric(): void {
    const held = this.#set?.held() ?? new Map<string, Set<string>>();
    this.#syncL2Status(held);
    for (const [ip, owners] of this.#announcedMetric) {
      for (const owner of owners) {
        if (held.get(ip)?.has(owner) === true) continue;
        this.metrics.announced.remove({ service: owner, ip, node: this.#o.nodeName });
        this.#log.info({ op: 'withdraw', svc: owner, ip }, 'stopped announcing');
      }
    }
    for (const [ip, owners] of held) {
      for (const owner of owners) {
        if (this.#announcedMetric.get(ip)?.has(owner) === true) continue;
        this.metrics.announced.set({ service: owner, ip, node: this.#o.nodeName }, 1);
        this.#log.info({ op: 'announce', svc: owner, ip }, 'announcing');
        this.#serviceEvent(owner, 'Normal', 'nodeAssigned', `announcing from node "${this.#o.nodeName}" with protocol "layer2"`);
      }
    }
    this.#announcedMetric = held;
  }

  /**
   * One ServiceL2Status per Service this node announces (node, interfaces, IPs, since when), when
   * the ironlb.io CRDs are installed. The writer coalesces: only changes reach the API.
   */
  #syncL2Status(held: ReadonlyMap<string, ReadonlySet<string>>): void {
    if (this.#objects.informers === undefined) return;
    const now = new Map<string, { ips: string[]; interfaces: readonly string[] | null }>();
    for (const [ip, owners] of held) {
      for (const owner of owners) {
        const e = now.get(owner) ?? { ips: [], interfaces: this.#heldInterfaces.get(ip) ?? null };
        e.ips.push(ip);
        now.set(owner, e);
      }
    }
    for (const owner of [...this.#l2Since.keys()]) {
      if (now.has(owner)) continue;
      this.#l2Since.delete(owner);
      const [namespace = '', name = ''] = owner.split('/');
      this.#l2status.withdraw({ namespace, name }, this.#o.nodeName);
    }
    for (const [owner, e] of now) {
      let since = this.#l2Since.get(owner);
      if (since === undefined) this.#l2Since.set(owner, (since = new Date()));
      const [namespace = '', name = ''] = owner.split('/');
      const uid = this.#services.get(name, namespace)?.metadata?.uid;
      this.#l2status.announce({ namespace, name, uid }, { node: this.#o.nodeName, interfaces: e.interfaces, ips: e.ips.sort(), since });
    }
  }

  /**
   * Watches every ServiceL2Status (one per announced Service: few) once the CRDs are there. A record
   * of a Service we announce that another node overwrote, or deleted when it withdrew (a healed
   * partition, a takeover race), is written again; after a restart, records that still name this
   * node for Services it no longer announces are withdrawn.
   */
  #watchL2Records(): void {
    if (this.#l2Records !== undefined || this.#objects.informers === undefined || this.#stopping) return;
    const inf = serviceL2StatusInformer({ kc: this.#o.kc, log: this.#log });
    this.#l2Records = inf;
    inf.on((ev, obj) => {
      const key = `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
      if (!this.#l2Since.has(key) || (ev !== 'delete' && obj.status?.node === this.#o.nodeName)) return;
      this.#l2Since.set(key, new Date());
      this.#syncL2Status(this.#set?.held() ?? new Map());
    });
    inf.start(this.#abort.signal).then(
      () => {
        for (const o of inf.list()) {
          const key = `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
          if (o.status?.node === this.#o.nodeName && !this.#l2Since.has(key)) this.#l2status.withdraw({ namespace: o.metadata?.namespace ?? '', name: o.metadata?.name ?? '' }, this.#o.nodeName);
        }
      },
      () => undefined,
    );
  }

  /**
   * Deletes ServiceL2Status records that name a node gossip no longer sees alive, for Services
   * this node does not announce: when the only node allowed to announce a Service dies, no
   * takeover overwrites its record, and `kubectl get servicel2status` would name a dead node for
   * good. One janitor (the first alive member by name) acts, so nodes do not race; and one record
   * is swept at most once a minute, because in a partition each side sees the other dead and the
   * other side rewrites its record (deleting only while the record still names that node).
   */
  #sweepL2Records(alive: ReadonlySet<string>): void {
    const inf = this.#l2Records;
    if (inf === undefined || !alive.has(this.#o.nodeName)) return;
    let janitor = this.#o.nodeName;
    for (const m of alive) if (m < janitor) janitor = m;
    if (janitor !== this.#o.nodeName) return;
    const now = Date.now();
    for (const [k, t] of this.#l2Swept) if (now - t > 60_000) this.#l2Swept.delete(k);
    for (const o of inf.list()) {
      const node = o.status?.node;
      const namespace = o.metadata?.namespace ?? '';
      const name = o.metadata?.name ?? '';
      const key = `${namespace}/${name}`;
      if (node === undefined || node === '' || alive.has(node) || this.#l2Since.has(key)) continue;
      const swept = `${key} ${node}`;
      if (this.#l2Swept.has(swept)) continue;
      this.#l2Swept.set(swept, now);
      this.#log.info({ op: 'l2status', svc: key, node }, 'removing the ServiceL2Status of a node that is not alive');
      this.#l2status.withdraw({ namespace, name }, node);
    }
  }

  #serviceEvent(key: string, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const [namespace = '', name = ''] = key.split('/');
    const svc = this.#services.get(name, namespace);
    void this.#events.record({ kind: 'Service', apiVersion: 'v1', namespace, name, uid: svc?.metadata?.uid }, type, reason, message);
  }

  #onReport(r: Report): void {
    switch (r.kind) {
      case 'conflict':
        this.metrics.conflicts.inc({ kind: 'claimed' });
        this.#log.warn({ op: 'conflict', ip: r.ip, mac: r.mac }, 'another host claims an IP we announce; defending it');
        for (const o of r.owners) this.#serviceEvent(o, 'Warning', 'AddressConflict', `IP ${r.ip} is also claimed by ${r.mac}, which is not an ironlb speaker; node "${this.#o.nodeName}" defends it`);
        return;
      case 'inUse':
        this.metrics.conflicts.inc({ kind: 'inUse' });
        this.#log.warn({ op: 'probe', ip: r.ip, mac: r.mac }, 'IP already in use by another host; not announcing it');
        for (const o of r.owners) this.#serviceEvent(o, 'Warning', 'AddressConflict', `IP ${r.ip} is already in use by ${r.mac} on the network; not announcing it until that host releases it`);
        return;
      case 'freed':
        this.#log.info({ op: 'probe', ip: r.ip }, 'IP no longer in use by another host; announcing it');
        for (const o of r.owners) this.#serviceEvent(o, 'Normal', 'AddressConflictResolved', `IP ${r.ip} is no longer answered by another host; announcing it`);
        return;
      case 'yielded':
        this.metrics.splitBrain.inc({ action: 'yield' });
        this.#log.warn({ op: 'splitBrain', ip: r.ip, peer: r.peer }, 'a higher-ranked speaker answers for this IP too (gossip partition?); yielding it');
        this.#syncAnnouncedMetric();
        return;
      case 'reasserted':
        this.metrics.splitBrain.inc({ action: 'reassert' });
        this.#log.warn({ op: 'splitBrain', ip: r.ip, peer: r.peer }, 'a lower-ranked speaker answers for this IP too (gossip partition?); re-asserting');
        return;
      case 'reclaimed':
        this.#log.info({ op: 'splitBrain', ip: r.ip }, 'the speaker we yielded to went silent; the election decides again');
        return;
    }
  }
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms).unref());
}

/** A Node's InternalIP addresses, IPv4 first. */
export function internalIPs(node: V1Node): string[] {
  const ips = (node.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address);
  return [...ips.filter((ip) => !ip.includes(':')), ...ips.filter((ip) => ip.includes(':'))];
}
