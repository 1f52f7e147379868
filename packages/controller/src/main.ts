#!/usr/bin/env node
/**
 * ironlb controller: `npm run controller -- --kubeconfig PATH` (or in-cluster with no flag).
 * Flags (env in brackets):
 *   --kubeconfig [KUBECONFIG]                 default in-cluster
 *   --namespace [IRONLB_NAMESPACE]            default ironlb-system
 *   --config-name [IRONLB_CONFIG_NAME]        default config
 *   --lb-class [IRONLB_LB_CLASS]              only Services of this loadBalancerClass
 *   --log-level [LOG_LEVEL]                   default info
 *   --health-host / --health-port [IRONLB_HEALTH_HOST / _PORT]    /healthz and /readyz; default
 *                                             0.0.0.0 on the metrics port (the kubelet probes the Pod IP)
 *   --metrics-host / --metrics-port [IRONLB_METRICS_HOST / _PORT] /metrics; default 127.0.0.1:7472
 *                                             (loopback only; set the host to 0.0.0.0 or the Pod IP
 *                                             to let Prometheus scrape it). Port 0 picks a free port.
 *   --crds [IRONLB_CRDS]                      auto (default: read ironlb.io objects when installed), on, off
 *   --webhook [IRONLB_WEBHOOK]                true (default) or false: serve the admission webhook
 *   --webhook-host / --webhook-port [IRONLB_WEBHOOK_HOST / _PORT]  default 0.0.0.0:9443
 *   --webhook-config-name [IRONLB_WEBHOOK_CONFIG_NAME]  ValidatingWebhookConfiguration to inject the
 *                                             CA into; default ironlb-webhook
 *   --webhook-hosts [IRONLB_WEBHOOK_HOSTS]    comma list of names/IPs the serving certificate covers;
 *                                             default ironlb-webhook.NAMESPACE.svc(.cluster.local)
 *   --webhook-strand-policy [IRONLB_WEBHOOK_STRAND_POLICY]  warn (default) or refuse a change that
 *                                             takes IPs away from Services
 * The controller never exits because the Kubernetes API is unreachable: it waits (not ready) at
 * start, and later keeps its state and retries while /readyz says "degraded".
 */
import { parseArgs } from 'node:util';
import { createLogger, loadKubeConfig, startOpsServer } from '@ironlb/k8s';
import { Controller } from './controller.js';

function usage(message: string): never {
  console.error(`ironlb controller: ${message}`);
  process.exit(2);
}

function port(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d{1,5}$/.test(text.trim()) || n > 65535) {
    console.error(`ironlb controller: ${flag} must be a port number (0-65535), not ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      'config-name': { type: 'string' },
      'lb-class': { type: 'string' },
      'log-level': { type: 'string' },
      'health-host': { type: 'string' },
      'health-port': { type: 'string' },
      'metrics-host': { type: 'string' },
      'metrics-port': { type: 'string' },
      crds: { type: 'string' },
      webhook: { type: 'string' },
      'webhook-host': { type: 'string' },
      'webhook-port': { type: 'string' },
      'webhook-config-name': { type: 'string' },
      'webhook-hosts': { type: 'string' },
      'webhook-strand-policy': { type: 'string' },
    },
    strict: true,
  });
  const env = process.env;
  const log = createLogger('ironlb-controller', values['log-level'] ?? env['LOG_LEVEL'] ?? 'info');
  const namespace = values.namespace ?? env['IRONLB_NAMESPACE'] ?? 'ironlb-system';
  const lbClass = values['lb-class'] ?? env['IRONLB_LB_CLASS'];
  const metricsPort = port(values['metrics-port'] ?? env['IRONLB_METRICS_PORT'] ?? '7472', '--metrics-port');
  const metricsHost = values['metrics-host'] ?? env['IRONLB_METRICS_HOST'] ?? '127.0.0.1';
  const healthPort = port(values['health-port'] ?? env['IRONLB_HEALTH_PORT'] ?? String(metricsPort), '--health-port');
  const healthHost = values['health-host'] ?? env['IRONLB_HEALTH_HOST'] ?? '0.0.0.0';
  let kc;
  try {
    kc = loadKubeConfig(values.kubeconfig);
  } catch (err) {
    // A broken install (no kubeconfig, no service account): the one thing that cannot recover.
    log.fatal({ err }, 'cannot load the Kubernetes client configuration');
    process.exit(1);
  }
  const crds = values.crds ?? env['IRONLB_CRDS'] ?? 'auto';
  if (crds !== 'auto' && crds !== 'on' && crds !== 'off') usage(`--crds must be auto, on or off, not ${JSON.stringify(crds)}`);
  const webhookOn = values.webhook ?? env['IRONLB_WEBHOOK'] ?? 'true';
  if (webhookOn !== 'true' && webhookOn !== 'false') usage(`--webhook must be true or false, not ${JSON.stringify(webhookOn)}`);
  const policyText = values['webhook-strand-policy'] ?? env['IRONLB_WEBHOOK_STRAND_POLICY'] ?? 'warn';
  const strandPolicy: 'warn' | 'refuse' = policyText === 'warn' || policyText === 'refuse' ? policyText : usage(`--webhook-strand-policy must be warn or refuse, not ${JSON.stringify(policyText)}`);
  const hostsText = values['webhook-hosts'] ?? env['IRONLB_WEBHOOK_HOSTS'];
  const webhook =
    webhookOn === 'true'
      ? {
          host: values['webhook-host'] ?? env['IRONLB_WEBHOOK_HOST'] ?? '0.0.0.0',
          port: port(values['webhook-port'] ?? env['IRONLB_WEBHOOK_PORT'] ?? '9443', '--webhook-port'),
          configName: values['webhook-config-name'] ?? env['IRONLB_WEBHOOK_CONFIG_NAME'] ?? 'ironlb-webhook',
          strandPolicy,
          ...(hostsText !== undefined && hostsText !== ''
            ? {
                hosts: hostsText
                  .split(',')
                  .map((h) => h.trim())
                  .filter(Boolean),
              }
            : {}),
        }
      : undefined;
  const controller = new Controller({
    kc,
    log,
    namespace,
    configMapName: values['config-name'] ?? env['IRONLB_CONFIG_NAME'] ?? 'config',
    lbClass: lbClass === '' ? undefined : lbClass,
    crds,
    ...(webhook !== undefined ? { webhook } : {}),
  });
  let stopping = false;
  const shutdown = (signal: string): void => {
    stopping = true;
    log.info({ op: 'shutdown', signal }, 'stopping');
    controller.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  startOpsServer({
    healthHost,
    healthPort,
    metricsHost,
    metricsPort,
    handlers: {
      metrics: async () => controller.metrics.registry.metrics(),
      metricsContentType: controller.metrics.registry.contentType,
      healthy: () => controller.healthy(),
      ready: () => controller.readiness(),
    },
  })
    .then(async (ops) => {
      log.info({ op: 'start', namespace, lbClass, health: `${ops.health.address}:${ops.health.port}`, metrics: `${ops.metrics.address}:${ops.metrics.port}` }, 'ironlb controller starting');
      await controller.start();
      log.info({ op: 'start' }, 'controller synced');
    })
    .catch((err: unknown) => {
      if (stopping) return;
      log.fatal({ err }, 'controller failed to start');
      process.exit(1);
    });
}

main();
