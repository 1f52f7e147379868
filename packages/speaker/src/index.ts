/** The ironlb speaker: layer2 announcements with per-service election over memberlist. */
export { Speaker, type SpeakerOptions, internalIPs } from './speaker.js';
export { plan, serviceView, endpointViews, nodeView, sliceServiceKey, EXCLUDE_LABEL, type Snapshot, type Plan, type Decision } from './state.js';
export { SpeakerMetrics } from './metrics.js';
