/** Kubernetes adapters shared by the controller and the speaker. */
export { loadKubeConfig, withKeepAlive } from './kubeconfig.js';
export { apiClients, makeApiClient, agentsBuilt, type ApiClients, type ApiClientOptions } from './clients.js';
export { createLogger, type Logger } from './log.js';
export { ResilientInformer, InformerStoppedError, type InformerEvent, type InformerOptions, type Watcher } from './informer.js';
export { ApiHealth, LogLimiter, backoffDelay, DEFAULT_BACKOFF, type BackoffOptions, type ConnectionState, type HealthSource, type Readiness, type GaugeDescriptor } from './health.js';
export { EventRecorder, truncateEventMessage, type EventTarget, type EventType, type EventSink, type EventRecorderOptions, type EventStats } from './events.js';
export { ServiceWriter, type ServiceCondition } from './services.js';
export { ensureMemberlistSecret, createMemberlistSecret, MEMBERLIST_SECRET, MEMBERLIST_SECRET_KEY } from './secret.js';
export { startOpsServer, type OpsHandlers, type OpsServer, type OpsServerOptions } from './ops.js';
export { serviceInformer, configMapInformer, secretInformer, nodeInformer, endpointSliceInformer, type InformerContext, type FactoryOptions } from './informers.js';
export { serviceKey, isHandled, ingressIPs } from './service-fields.js';
export { CoalescingWriter, type CoalescingWriterOptions, type CoalescingStats, type WriteOutcome } from './coalesce.js';
export {
  IRONLB_GROUP,
  IRONLB_VERSION,
  IRONLB_API_VERSION,
  PLURALS,
  type Condition,
  type IPAddressPoolStatus,
  type IPAddressPoolObject,
  type L2AdvertisementStatus,
  type L2AdvertisementObject,
  type ServiceL2StatusFields,
  type ServiceL2StatusObject,
  type ObjectsInput,
  type SourcesInput,
  type SourcesResult,
  configFromSources,
  ipAddressPoolInformer,
  l2AdvertisementInformer,
  serviceL2StatusInformer,
  namespaceInformer,
  servedResources,
  configFromObjects,
  nodeInfo,
} from './crds.js';
export { ServiceL2StatusWriter, apiL2StatusSink, L2STATUS_NODE_LABEL, L2STATUS_SERVICE_LABEL, type ServiceRef, type Announcement, type L2StatusSink, type L2StatusWriterOptions } from './l2status.js';
export { ConfigObjects, type ConfigObjectsOptions, type CrdMode, type ObjectInformers, type ObjectChange } from './config-objects.js';
