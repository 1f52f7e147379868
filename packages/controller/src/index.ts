/** The ironlb controller: allocation of LoadBalancer IPs into Service status. */
export { Controller, type ControllerOptions } from './controller.js';
export { ServiceReconciler, isTerminating, REPORT_AGAIN_MS, type ControllerPort, type Verdict } from './reconciler.js';
export {
  serviceRecord,
  isHandled,
  ingressIPs,
  annotation,
  annotationConflict,
  serviceKey,
  POOL_ANNOTATION,
  ANNOTATION_PREFIXES,
  READ_ANNOTATIONS,
} from './service-record.js';
export { ControllerMetrics, type ConfigRejection } from './metrics.js';
export { KeyedQueue, type QueueOptions, type FailureReport, type Work } from './queue.js';
export { PendingServices } from './pending.js';
export { MemberlistSecretKeeper, type SecretKeeperOptions } from './secret-keeper.js';
export { strandedBy, releaseVerdict, parseMaxRelease, MAX_RELEASE_ANNOTATION, DEFAULT_MAX_RELEASE, type Holder, type ReleaseVerdict } from './config-guard.js';
