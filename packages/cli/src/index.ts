/** kubectl-ironlb as a library: the pure reports and the migration, for tests and other tools. */
export { migrate, type MigrateOptions, type MigrateResult } from './migrate.js';
export { statusReport, explain, effectiveConfig, recordOf, type ClusterView, type StatusReport, type PoolLine, type ServiceLine, type NodeLine, type Explanation } from './report.js';
export { renderStatus, renderExplain, table, age } from './render.js';
export { readCluster, readMetalLB, type ReadOptions } from './cluster.js';
