#!/usr/bin/env node
/**
 * ironlb speaker: `npm run speaker -- --node-name NAME --kubeconfig PATH` (or in-cluster).
 * Flags (env in brackets):
 *   --node-name [IRONLB_NODE_NAME]            this node's Kubernetes name (required)
 *   --kubeconfig [KUBECONFIG]                 default in-cluster
 *   --namespace [IRONLB_NAMESPACE]            default ironlb-system
 *   --config-name [IRONLB_CONFIG_NAME]        default config
 *   --lb-class [IRONLB_LB_CLASS]              only Services of this loadBalancerClass
 *   --ml-bind-addr [IRONLB_ML_BIND_ADDR]      memberlist address; default the Node's InternalIP
 *   --ml-bind-port [IRONLB_ML_BIND_PORT]      default 7946 (UDP and TCP)
 *   --ml-preset [IRONLB_ML_PRESET]            rapid (default: ~150 ms crash detection), fast, local or lan
 *   --ml-secret-key [IRONLB_ML_SECRET_KEY]    memberlist secret; default read from Secret `memberlist`
 *   --ml-allow-plaintext [IRONLB_ML_ALLOW_PLAINTEXT=true]  gossip unencrypted when no key exists
 *                                             (default: wait for the Secret, not ready)
 *   --interfaces [IRONLB_INTERFACES]          comma list: only these interfaces answer
 *   --exclude-interfaces [IRONLB_EXCLUDE_INTERFACES]  regex of interfaces never used
 *   --gratuitous-refresh [IRONLB_GRATUITOUS_REFRESH]  seconds between refreshes while leading (0 off; default 30)
 *   --log-level [LOG_LEVEL]                   default info
 *   --health-host / --health-port [IRONLB_HEALTH_HOST / _PORT]    /healthz, /readyz; default 0.0.0.0
 *                                             on the metrics port (the kubelet probes the node IP)
 *   --metrics-host / --metrics-port [IRONLB_METRICS_HOST / _PORT] /metrics; default 127.0.0.1:7472
 *                                             (loopback only: on hostNetwork anything else is open
 *                                             to the whole segment; set 0.0.0.0 to let Prometheus in)
 * The speaker never exits because the Kubernetes API is unreachable: it waits (not ready) at
 * start, and later keeps answering on its last state while /readyz says "degraded".
 */
import { parseArgs } from 'node:util';
import { createLogger, loadKubeConfig, startOpsServer } from '@ironlb/k8s';
import type { PresetName } from '@ironlb/memberlist';
import { Speaker } from './speaker.js';

function fail(msg: string): never {
  console.error(`ironlb speaker: ${msg}`);
  process.exit(2);
}

function port(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d{1,5}$/.test(text.trim()) || n > 65535) fail(`${flag} must be a port number (0-65535), not ${JSON.stringify(text)}`);
  return n;
}

/** The flags, as the header of this file lists them (printed by --help and on a bad flag). */
const USAGE = `usage: speaker --node-name NAME [--kubeconfig PATH] [flags]
flags: --namespace --config-name --lb-class --ml-bind-addr --ml-bind-port --ml-preset
       --ml-secret-key --ml-allow-plaintext --interfaces --exclude-interfaces
       --gratuitous-refresh --log-level --health-host --health-port --metrics-host --metrics-port
(each also as an environment variable; see the README's "Speaker flags")`;

function main(): void {
  let parsed;
  try {
    parsed = parseArgs({ options: FLAGS, strict: true });
  } catch (err) {
    fail(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
  }
  if (parsed.values.help === true) {
    console.log(USAGE);
    process.exit(0);
  }
  run(parsed.values);
}

const FLAGS = {
  help: { type: 'boolean' },
  'node-name': { type: 'string' },
  kubeconfig: { type: 'string' },
  namespace: { type: 'string' },
  'config-name': { type: 'string' },
  'lb-class': { type: 'string' },
  'ml-bind-addr': { type: 'string' },
  'ml-bind-port': { type: 'string' },
  'ml-preset': { type: 'string' },
  'ml-secret-key': { type: 'string' },
  'ml-allow-plaintext': { type: 'boolean' },
  interfaces: { type: 'string' },
  'exclude-interfaces': { type: 'string' },
  'gratuitous-refresh': { type: 'string' },
  'log-level': { type: 'string' },
  'health-host': { type: 'string' },
  'health-port': { type: 'string' },
  'metrics-host': { type: 'string' },
  'metrics-port': { type: 'string' },
} as const;

/** Starts the speaker from parsed flags. */
function run(v: ReturnType<typeof parseArgs<{ options: typeof FLAGS; strict: true }>>['values']): void {
  const env = process.env;
  const log = createLogger('ironlb-speaker', v['log-level'] ?? env['LOG_LEVEL'] ?? 'info');
  const nodeName = v['node-name'] ?? env['IRONLB_NODE_NAME'];
  if (nodeName === undefined || nodeName === '') fail('--node-name (or IRONLB_NODE_NAME) is required');
  const preset = (v['ml-preset'] ?? env['IRONLB_ML_PRESET'] ?? 'rapid') as PresetName;
  if (!['rapid', 'fast', 'local', 'lan'].includes(preset)) fail(`--ml-preset must be rapid, fast, local or lan, not ${preset}`);
  const ifaces = (v.interfaces ?? env['IRONLB_INTERFACES'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const excludeText = v['exclude-interfaces'] ?? env['IRONLB_EXCLUDE_INTERFACES'];
  let exclude: RegExp | undefined;
  try {
    exclude = excludeText !== undefined && excludeText !== '' ? new RegExp(excludeText) : undefined;
  } catch (err) {
    fail(`--exclude-interfaces is not a valid regular expression: ${String(err)}`);
  }
  const refreshText = v['gratuitous-refresh'] ?? env['IRONLB_GRATUITOUS_REFRESH'];
  const refresh = refreshText === undefined ? undefined : Number(refreshText);
  if (refresh !== undefined && !(refresh >= 0)) fail(`--gratuitous-refresh must be a number of seconds ≥ 0, not ${JSON.stringify(refreshText)}`);
  const lbClass = v['lb-class'] ?? env['IRONLB_LB_CLASS'];
  const metricsPort = port(v['metrics-port'] ?? env['IRONLB_METRICS_PORT'] ?? '7472', '--metrics-port');
  const metricsHost = v['metrics-host'] ?? env['IRONLB_METRICS_HOST'] ?? '127.0.0.1';
  const healthPort = port(v['health-port'] ?? env['IRONLB_HEALTH_PORT'] ?? String(metricsPort), '--health-port');
  const healthHost = v['health-host'] ?? env['IRONLB_HEALTH_HOST'] ?? '0.0.0.0';
  const allowPlaintext = v['ml-allow-plaintext'] === true || env['IRONLB_ML_ALLOW_PLAINTEXT'] === 'true';
  let kc;
  try {
    kc = loadKubeConfig(v.kubeconfig);
  } catch (err) {
    // A broken install (no kubeconfig, no service account): the one thing that cannot recover.
    log.fatal({ err }, 'cannot load the Kubernetes client configuration');
    process.exit(1);
  }
  const speaker = new Speaker({
    kc,
    log,
    nodeName,
    namespace: v.namespace ?? env['IRONLB_NAMESPACE'] ?? 'ironlb-system',
    configMapName: v['config-name'] ?? env['IRONLB_CONFIG_NAME'] ?? 'config',
    lbClass: lbClass === '' ? undefined : lbClass,
    bindAddr: v['ml-bind-addr'] ?? env['IRONLB_ML_BIND_ADDR'],
    bindPort: port(v['ml-bind-port'] ?? env['IRONLB_ML_BIND_PORT'] ?? '7946', '--ml-bind-port'),
    preset,
    secret: v['ml-secret-key'] ?? env['IRONLB_ML_SECRET_KEY'],
    allowPlaintext,
    interfaces: ifaces,
    ...(exclude !== undefined ? { excludeInterfaces: exclude } : {}),
    ...(refresh !== undefined ? { refreshIntervalMs: refresh * 1000 } : {}),
  });
  // The process lives until a signal: servers and sockets are unref'd, and while the API is down
  // and the speaker waits, nothing else would hold the event loop open.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let stopping = false;
  const shutdown = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    // SIGTERM must end within the 2 s grace: leave, stop answering, exit, whatever happens. The
    // leave goes out before anything else (even this log line): peers take over from it.
    const stopped = speaker.stop();
    log.info({ op: 'shutdown', signal: sig }, 'left the cluster; exiting');
    setTimeout(() => process.exit(0), 1500).unref();
    stopped.then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  startOpsServer({
    healthHost,
    healthPort,
    metricsHost,
    metricsPort,
    handlers: {
      metrics: async () => speaker.metrics.registry.metrics(),
      metricsContentType: speaker.metrics.registry.contentType,
      healthy: () => speaker.healthy(),
      ready: () => speaker.readiness(),
    },
  })
    .then(async () => speaker.start())
    .catch((err: unknown) => {
      if (stopping) return;
      // Bad flags or a broken host (port in use, no such Node address): exit with one clear line.
      clearInterval(keepAlive);
      log.fatal({ err }, 'speaker failed to start');
      process.exit(1);
    });
}

main();
