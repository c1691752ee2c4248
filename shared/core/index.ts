/**
 * The Hourglass core: definitions, time parsing, event routing, the decider, the
 * simulator, the diagram and the static check. Pure: no AWS SDK, no I/O, no clock.
 */

export type { StandardSchemaV1 } from '@standard-schema/spec';
export * from './check';
export * from './commands';
export * from './compat';
export * from './decider';
export * from './definitions';
export * from './diagram';
export * from './errors';
export * from './events';
export * from './history';
export * from './influences';
export * from './journey-controls';
export * from './lifecycle';
export * from './path';
export * from './patterns';
export * from './recurrence';
export * from './simulator';
export * from './time';
export * from './timers';
