/** The Hourglass CDK constructs. */
export * from './hourglass';
export * from './outbox';
export * from './patterns';
