/** The ironlb controller: allocation of LoadBalancer IPs into Service status. */
export { Controller, type ControllerOptions, type WebhookOptions, ADVERTISED_CONDITION } from './controller.js';
export { ServiceReconciler, isTerminating, REPORT_AGAIN_MS, type ControllerPort, type Verdict } from './reconciler.js';
export { serviceRecord, isHandled, ingressIPs, annotation, annotationConflict, serviceKey, POOL_ANNOTATION, ANNOTATION_PREFIXES, READ_ANNOTATIONS } from './service-record.js';
export { ControllerMetrics, type ConfigRejection } from './metrics.js';
export { KeyedQueue, type QueueOptions, type FailureReport, type Work } from './queue.js';
export { PendingServices } from './pending.js';
export { MemberlistSecretKeeper, type SecretKeeperOptions } from './secret-keeper.js';
export { strandedBy, releaseVerdict, parseMaxRelease, MAX_RELEASE_ANNOTATION, DEFAULT_MAX_RELEASE, type Holder, type ReleaseVerdict } from './config-guard.js';
/** Moved to @ironlb/k8s (the speaker needs it too); re-exported for callers of the controller package. */
export { ConfigObjects, type ConfigObjectsOptions, type CrdMode, type ObjectInformers, type ObjectChange } from '@ironlb/k8s';
export { poolStatus, advertisementStatus, condition, MAX_LISTED_NODES, type PoolStatusInput, type AdvertisementStatusInput } from './object-status.js';
export { admit, type AdmissionRequest, type AdmissionVerdict, type AdmissionContext } from './webhook/validate.js';
export { WebhookCertificates, rotationPlan, DEFAULT_CERT_TIMING, type CertTiming, type CaState, type RotationPlan, type ServingCert, type WebhookCertOptions } from './webhook/certs.js';
export { WebhookServer, type WebhookServerOptions, type WebhookResult } from './webhook/server.js';
export { WebhookCertKeeper, type CertKeeperOptions } from './webhook/cert-keeper.js';
