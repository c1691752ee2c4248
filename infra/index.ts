/** The Hourglass CDK constructs. */

export { type EventPattern, ingestPatterns } from '../shared/core/patterns';
export * from './hourglass';
export * from './outbox';
export * from './outputs';
