#!/usr/bin/env node
/**
 * ironlb controller: `npm run controller -- --kubeconfig PATH` (or in-cluster with no flag).
 * Flags (env in brackets): --kubeconfig [KUBECONFIG], --namespace [IRONLB_NAMESPACE] (default
 * ironlb-system), --config-name [IRONLB_CONFIG_NAME] (default config), --lb-class
 * [IRONLB_LB_CLASS], --log-level [LOG_LEVEL] (default info), --metrics-host [IRONLB_METRICS_HOST]
 * (default 0.0.0.0), --metrics-port [IRONLB_METRICS_PORT] (default 7472; 0 picks a free port).
 */
import { parseArgs } from 'node:util';
import { createLogger, loadKubeConfig, startOpsServer } from '@ironlb/k8s';
import { Controller } from './controller.js';

function main(): void {
  const { values } = parseArgs({
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      'config-name': { type: 'string' },
      'lb-class': { type: 'string' },
      'log-level': { type: 'string' },
      'metrics-host': { type: 'string' },
      'metrics-port': { type: 'string' },
    },
    strict: true,
  });
  const env = process.env;
  const log = createLogger('ironlb-controller', values['log-level'] ?? env['LOG_LEVEL'] ?? 'info');
  const namespace = values.namespace ?? env['IRONLB_NAMESPACE'] ?? 'ironlb-system';
  const lbClass = values['lb-class'] ?? env['IRONLB_LB_CLASS'];
  const metricsPort = Number(values['metrics-port'] ?? env['IRONLB_METRICS_PORT'] ?? 7472);
  const metricsHost = values['metrics-host'] ?? env['IRONLB_METRICS_HOST'] ?? '0.0.0.0';
  const kc = loadKubeConfig(values.kubeconfig);
  const controller = new Controller({
    kc,
    log,
    namespace,
    configMapName: values['config-name'] ?? env['IRONLB_CONFIG_NAME'] ?? 'config',
    lbClass: lbClass === '' ? undefined : lbClass,
    onFatal: (err) => {
      log.fatal({ err }, 'lost the Kubernetes API; exiting');
      process.exit(1);
    },
  });
  const shutdown = (): void => {
    log.info({ op: 'shutdown' }, 'stopping');
    controller.stop();
    process.exit(0);
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  startOpsServer(metricsHost, metricsPort, {
    metrics: async () => controller.metrics.registry.metrics(),
    metricsContentType: controller.metrics.registry.contentType,
    healthy: () => controller.healthy(),
    ready: () => controller.ready(),
  })
    .then(async (srv) => {
      const addr = srv.address();
      log.info({ op: 'start', namespace, lbClass, metrics: typeof addr === 'object' && addr ? `${addr.address}:${addr.port}` : metricsPort }, 'ironlb controller starting');
      await controller.start();
      log.info({ op: 'start' }, 'controller synced');
    })
    .catch((err: unknown) => {
      log.fatal({ err }, 'controller failed to start');
      process.exit(1);
    });
}

main();
