/**
 * The wire protocol, shared by the beacon, the receiver and the reports. This entry point stays
 * free of heavy imports so the beacon can load it on a program's critical path.
 */
export * from './limits.js';
export type * from './types.js';
export { createRunEncoder, encodeMessage, sanitizeComponents, cleanLabel, cleanPlatform } from './encode.js';
export type { RunEncoder } from './encode.js';
export { parseCollector, formatCollector } from './collector.js';
export type { CollectorAddress } from './collector.js';
