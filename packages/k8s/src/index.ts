/** Kubernetes adapters shared by the controller and the speaker. */
export { loadKubeConfig, withKeepAlive } from './kubeconfig.js';
export { createLogger, type Logger } from './log.js';
export { ResilientInformer, type InformerEvent, type InformerOptions } from './informer.js';
export { EventRecorder, type EventTarget, type EventType } from './events.js';
export { ServiceWriter } from './services.js';
export { ensureMemberlistSecret, MEMBERLIST_SECRET, MEMBERLIST_SECRET_KEY } from './secret.js';
export { startOpsServer, type OpsHandlers } from './ops.js';
export { serviceInformer, configMapInformer, nodeInformer, endpointSliceInformer, type InformerContext } from './informers.js';
export { serviceKey, isHandled, ingressIPs } from './service-fields.js';
