import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { HourglassDefinitions } from '../core/definitions';
import { minimumRetentionMs } from '../core/history';
import { dynamoCapStore } from './caps';
import { type Clients, createClients } from './clients';
import { type Config, ENV, loadConfig } from './config';
import { ConfigError } from './errors';
import { type IngestDeps, ingestBatch } from './ingest';
import type { RelayDeps } from './relay';
import { dynamoTaskStore } from './tasks';
import { powertoolsTelemetry, type Telemetry } from './telemetry';
import type { WorkerDeps } from './worker';

/** The process-wide pieces every function shares: config, clients, clock. */
export interface Runtime {
  readonly config: Config;
  readonly clients: Clients;
  readonly clock: () => number;
}

let shared: Runtime | undefined;

/** The runtime of this process, created on first use (at cold start) and reused. */
export function runtime(): Runtime {
  // Read Date.now at each call (not a captured reference), so a replaced clock is honoured.
  shared ??= { config: loadConfig(), clients: createClients(), clock: () => Date.now() };
  return shared;
}

/** Ingest's dependencies from the environment. */
export function defaultIngestDeps(
  definitions: HourglassDefinitions,
  telemetry: Telemetry = powertoolsTelemetry('hourglass-ingest'),
): IngestDeps {
  const { config, clients, clock } = runtime();
  const retentionMs = config.retentionDays * 86_400_000;
  const needed = minimumRetentionMs(definitions);
  if (retentionMs < needed) {
    throw new ConfigError(
      ENV.retentionDays,
      `is ${config.retentionDays}, but these workflows need at least ${Math.ceil(needed / 86_400_000)} days: a finished task's row must outlast every event that can still be replayed, or the task would run twice`,
    );
  }
  return {
    dynamo: clients.dynamo,
    tableName: config.tableName,
    clock,
    retentionMs,
    lifecycleEvents: config.lifecycleEvents,
    definitions,
    telemetry,
    timers: { sqs: clients.sqs, queueUrl: config.ingestQueue.url, timeScale: config.timeScale },
  };
}

/**
 * The ingest function's Lambda handler for `definitions`: reads its dependencies from the
 * environment once (at cold start) and commits each batch's decisions, returning the
 * messages to retry. Every ingest entry is this one call on the definitions its rules route.
 *
 * @example
 * export const handler = ingestHandler(definitions);
 */
export function ingestHandler(
  definitions: HourglassDefinitions,
): (event: SQSEvent) => Promise<SQSBatchResponse> {
  const deps = defaultIngestDeps(definitions);
  return async (event) => {
    const result = await ingestBatch(
      deps,
      event.Records.map((r) => ({ messageId: r.messageId, body: r.body })),
    );
    deps.telemetry.flush();
    return { batchItemFailures: result.batchItemFailures };
  };
}

/** The relay's dependencies from the environment. */
export function defaultRelayDeps(
  telemetry: Telemetry = powertoolsTelemetry('hourglass-relay'),
): RelayDeps {
  const { config, clients, clock } = runtime();
  return {
    dynamo: clients.dynamo,
    tableName: config.tableName,
    sqs: clients.sqs,
    scheduler: clients.scheduler,
    eventBridge: clients.eventBridge,
    config,
    clock,
    telemetry,
  };
}

/** A worker's dependencies from the environment. */
export function defaultWorkerDeps(
  taskType: string,
  telemetry: Telemetry = powertoolsTelemetry(`hourglass-${taskType}`),
): WorkerDeps {
  const { config, clients, clock } = runtime();
  return {
    tasks: dynamoTaskStore({
      dynamo: clients.dynamo,
      tableName: config.tableName,
      clock,
      retentionMs: config.retentionDays * 86_400_000,
    }),
    caps: dynamoCapStore({ dynamo: clients.dynamo, tableName: config.tableName, clock }),
    clock,
    sqs: clients.sqs,
    queueUrl: config.taskQueue(taskType).url,
    telemetry,
    timeScale: config.timeScale,
  };
}
