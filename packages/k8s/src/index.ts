/** Kubernetes adapters shared by the controller and the speaker. */
export { loadKubeConfig, withKeepAlive } from './kubeconfig.js';
export { apiClients, makeApiClient, agentsBuilt, type ApiClients, type ApiClientOptions } from './clients.js';
export { createLogger, type Logger } from './log.js';
export { ResilientInformer, InformerStoppedError, type InformerEvent, type InformerOptions, type Watcher } from './informer.js';
export {
  ApiHealth,
  LogLimiter,
  backoffDelay,
  DEFAULT_BACKOFF,
  type BackoffOptions,
  type ConnectionState,
  type HealthSource,
  type Readiness,
  type GaugeDescriptor,
} from './health.js';
export { EventRecorder, truncateEventMessage, type EventTarget, type EventType, type EventSink, type EventRecorderOptions, type EventStats } from './events.js';
export { ServiceWriter } from './services.js';
export { ensureMemberlistSecret, createMemberlistSecret, MEMBERLIST_SECRET, MEMBERLIST_SECRET_KEY } from './secret.js';
export { startOpsServer, type OpsHandlers, type OpsServer, type OpsServerOptions } from './ops.js';
export { serviceInformer, configMapInformer, secretInformer, nodeInformer, endpointSliceInformer, type InformerContext } from './informers.js';
export { serviceKey, isHandled, ingressIPs } from './service-fields.js';
