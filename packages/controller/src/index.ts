/** The ironlb controller: allocation of LoadBalancer IPs into Service status. */
export { Controller, type ControllerOptions } from './controller.js';
export { ServiceReconciler, type ControllerPort, type Verdict } from './reconciler.js';
export { serviceRecord, isHandled, ingressIPs, annotation, serviceKey, POOL_ANNOTATION, ANNOTATION_PREFIXES } from './service-record.js';
export { ControllerMetrics } from './metrics.js';
export { KeyedQueue } from './queue.js';
