/**
 * @ironlb/core: the pure domain of ironlb (IP arithmetic, config parsing, allocation,
 * layer2 announcer election). No I/O, no Kubernetes client, no timers.
 */
export {
  type Family,
  type IP,
  type IPRange,
  type RangeParse,
  parseIP,
  formatIP,
  formatRange,
  parseRange,
  familyBits,
  familyName,
  rangeSize,
  rangeContains,
  rangesOverlap,
  isBuggyIP,
  countBuggy,
  type ReservedBlock,
  RESERVED_BLOCKS,
  reservedOverlap,
  isIPv4Mapped,
  quote,
} from './ip.js';
export { type Pool, type Config, type ConfigError, type ConfigLimits, CONFIG_LIMITS, EMPTY_CONFIG, isConfigError, parseConfig } from './config.js';
export {
  type IPFamilyPolicy,
  type PortProtocol,
  type ServicePort,
  type ServiceRecord,
  type Allocation,
  type AllocationFailureReason,
  type SharingConflict,
  type AllocationFailure,
  type AllocationResult,
  type PoolStats,
  Allocator,
} from './allocator.js';
export { type RequestedIPs, requestedIPsFrom, backendKeyFor } from './service.js';
export {
  type ElectionCandidate,
  type ElectionInput,
  type NoWinnerReason,
  type ElectionResult,
  electionHash,
  electAnnouncer,
} from './election.js';
