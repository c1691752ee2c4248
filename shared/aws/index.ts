/**
 * The Hourglass runtime on AWS: configuration, clients, the DynamoDB store, ingest, the
 * stream relay (outbox), the worker middleware, and the generic producer outbox.
 */
export * from './bulk';
export * from './caps';
export * from './clients';
export * from './config';
export * from './decision-writes';
export * from './errors';
export * from './ingest';
export * from './messages';
export * from './operator';
export * from './operator-actions';
export * from './outbox';
export * from './overview';
export * from './redrive';
export * from './relay';
export * from './runtime';
export * from './status-index';
export * from './store';
export * from './sweeper';
export * from './table';
export * from './tasks';
export * from './telemetry';
export * from './worker';
