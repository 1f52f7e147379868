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
 *   --ml-preset [IRONLB_ML_PRESET]            fast (default), local or lan
 *   --ml-secret-key [IRONLB_ML_SECRET_KEY]    memberlist secret; default read from Secret `memberlist`
 *   --interfaces [IRONLB_INTERFACES]          comma list: only these interfaces answer
 *   --exclude-interfaces [IRONLB_EXCLUDE_INTERFACES]  regex of interfaces never used
 *   --gratuitous-refresh [IRONLB_GRATUITOUS_REFRESH]  seconds between refreshes while leading (0 off; default 30)
 *   --log-level [LOG_LEVEL]                   default info
 *   --metrics-host / --metrics-port [IRONLB_METRICS_HOST / _PORT]  default 0.0.0.0:7472
 */
import { parseArgs } from 'node:util';
import { createLogger, loadKubeConfig, startOpsServer } from '@ironlb/k8s';
import type { PresetName } from '@ironlb/memberlist';
import { Speaker } from './speaker.js';

function main(): void {
  const { values: v } = parseArgs({
    options: {
      'node-name': { type: 'string' },
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      'config-name': { type: 'string' },
      'lb-class': { type: 'string' },
      'ml-bind-addr': { type: 'string' },
      'ml-bind-port': { type: 'string' },
      'ml-preset': { type: 'string' },
      'ml-secret-key': { type: 'string' },
      interfaces: { type: 'string' },
      'exclude-interfaces': { type: 'string' },
      'gratuitous-refresh': { type: 'string' },
      'log-level': { type: 'string' },
      'metrics-host': { type: 'string' },
      'metrics-port': { type: 'string' },
    },
    strict: true,
  });
  const env = process.env;
  const log = createLogger('ironlb-speaker', v['log-level'] ?? env['LOG_LEVEL'] ?? 'info');
  const nodeName = v['node-name'] ?? env['IRONLB_NODE_NAME'];
  if (nodeName === undefined || nodeName === '') {
    console.error('ironlb speaker: --node-name (or IRONLB_NODE_NAME) is required');
    process.exit(2);
  }
  const preset = (v['ml-preset'] ?? env['IRONLB_ML_PRESET'] ?? 'fast') as PresetName;
  if (!['fast', 'local', 'lan'].includes(preset)) {
    console.error(`ironlb speaker: --ml-preset must be fast, local or lan, not ${preset}`);
    process.exit(2);
  }
  const ifaces = (v.interfaces ?? env['IRONLB_INTERFACES'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const exclude = v['exclude-interfaces'] ?? env['IRONLB_EXCLUDE_INTERFACES'];
  const refresh = v['gratuitous-refresh'] ?? env['IRONLB_GRATUITOUS_REFRESH'];
  const lbClass = v['lb-class'] ?? env['IRONLB_LB_CLASS'];
  const speaker = new Speaker({
    kc: loadKubeConfig(v.kubeconfig),
    log,
    nodeName,
    namespace: v.namespace ?? env['IRONLB_NAMESPACE'] ?? 'ironlb-system',
    configMapName: v['config-name'] ?? env['IRONLB_CONFIG_NAME'] ?? 'config',
    lbClass: lbClass === '' ? undefined : lbClass,
    bindAddr: v['ml-bind-addr'] ?? env['IRONLB_ML_BIND_ADDR'],
    bindPort: Number(v['ml-bind-port'] ?? env['IRONLB_ML_BIND_PORT'] ?? 7946),
    preset,
    secret: v['ml-secret-key'] ?? env['IRONLB_ML_SECRET_KEY'],
    interfaces: ifaces,
    ...(exclude !== undefined && exclude !== '' ? { excludeInterfaces: new RegExp(exclude) } : {}),
    ...(refresh !== undefined ? { refreshIntervalMs: Number(refresh) * 1000 } : {}),
    onFatal: (err) => {
      log.fatal({ err }, 'lost the Kubernetes API; exiting');
      process.exit(1);
    },
  });
  let stopping = false;
  const shutdown = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ op: 'shutdown', signal: sig }, 'leaving the cluster');
    // SIGTERM must end within the 2 s grace: stop answering, leave, exit — whatever happens.
    setTimeout(() => process.exit(0), 1500).unref();
    speaker.stop().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  startOpsServer(v['metrics-host'] ?? env['IRONLB_METRICS_HOST'] ?? '0.0.0.0', Number(v['metrics-port'] ?? env['IRONLB_METRICS_PORT'] ?? 7472), {
    metrics: async () => speaker.metrics.registry.metrics(),
    metricsContentType: speaker.metrics.registry.contentType,
    healthy: () => speaker.healthy(),
    ready: () => speaker.ready(),
  })
    .then(async () => speaker.start())
    .catch((err: unknown) => {
      log.fatal({ err }, 'speaker failed to start');
      process.exit(1);
    });
}

main();
