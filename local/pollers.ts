import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { taskQueueName } from '../shared/aws/config';
import type { StreamRecord } from '../shared/aws/messages';
import { defaultWorkerDeps } from '../shared/aws/runtime';
import {
  defaultWorkerBatchSize,
  INGEST,
  RELAY,
  RELAY_STREAM_ITEM_TYPE,
  visibilityTimeoutFor,
} from '../shared/aws/settings';
import type { StoreDeps } from '../shared/aws/store';
import { worker } from '../shared/aws/worker';
import type { HourglassDefinitions, TaskType } from '../shared/core/definitions';
import { type FaultInjector, handlerWithFaults, workerWithFaults } from './faults';
import {
  INGEST_QUEUE,
  type LocalQueue,
  TASK_QUEUE_PREFIX,
  workerTimeoutSeconds,
} from './provision';
import { type Handler, type Poller, pollQueue } from './runner';
import { pollStream } from './stream-poller';

/** Real ms between the local cloud's polls; at scale S, one poll interval is S× that in virtual time. */
export const POLL_INTERVAL_MS = 15;
/** Ingest batches the local cloud runs at once. */
const INGEST_CONCURRENCY = 4;

/** What {@link startPollers} needs. */
export interface PollerContext {
  readonly definitions: HourglassDefinitions;
  readonly sqs: SQSClient;
  readonly streams: DynamoDBStreamsClient;
  readonly streamArn: string;
  /** False when a receive on the queue would come back empty (fauxqs, read in-process). */
  readonly receivable: (queue: string) => boolean;
  readonly queues: {
    readonly ingest: LocalQueue;
    readonly relayDlq: LocalQueue;
    readonly taskQueues: Readonly<Record<string, LocalQueue>>;
  };
  readonly handlers: {
    readonly ingest: Handler;
    readonly relay: Handler;
    /** The worker entry file of a task type. */
    readonly workerEntry: (taskType: string) => string;
  };
  readonly storeDeps: StoreDeps;
  /** Virtual ms per real ms: the mappings' batching windows are scaled by it. */
  readonly timeScale: number;
  readonly injector: FaultInjector;
  /** True while a task type's workers are down (an injected outage). */
  readonly down: (taskType: string) => boolean;
  readonly report: (where: string) => (error: unknown) => void;
}

/**
 * Starts the local event source mappings, configured as the construct deploys them: the
 * ingest queue's, the relay's on the table stream, and one per task queue, each running
 * the real handler in-process (with the run's injected faults).
 */
export async function startPollers(ctx: PollerContext): Promise<Poller[]> {
  const workers = await Promise.all(
    ctx.definitions.taskTypes.map((type) => workerPoller(ctx, type)),
  );
  return [ingestPoller(ctx), relayPoller(ctx), ...workers];
}

/** The ingest queue's event source mapping. */
function ingestPoller(ctx: PollerContext): Poller {
  const { ingest } = ctx.queues;
  return pollQueue({
    name: 'ingest',
    sqs: ctx.sqs,
    queueUrl: ingest.url,
    queueArn: ingest.arn,
    receivable: () => ctx.receivable(INGEST_QUEUE),
    handler: ctx.handlers.ingest,
    batchSize: INGEST.batchSize,
    visibilityTimeoutSeconds: visibilityTimeoutFor(INGEST.timeoutSeconds),
    timeoutMs: INGEST.timeoutSeconds * 1000,
    intervalMs: POLL_INTERVAL_MS,
    // On AWS the ingest mapping has no maximum concurrency and scales out with the
    // backlog; four batches at once is what this process can overlap usefully.
    concurrency: INGEST_CONCURRENCY,
    batchingWindowMs: (INGEST.batchingWindowSeconds * 1000) / ctx.timeScale,
    onError: ctx.report('ingest'),
  });
}

/** The relay's event source mapping on the table stream, filtered as the construct filters it. */
function relayPoller(ctx: PollerContext): Poller {
  const { faults, chance } = ctx.injector;
  const relayHandler = ctx.handlers.relay;
  return pollStream({
    name: 'relay',
    streams: ctx.streams,
    streamArn: ctx.streamArn,
    handler: async (event: never, context) => {
      const result = await relayHandler(event, context);
      if (chance(faults.duplicateStreamBatchRate)) await relayHandler(event, context);
      return result;
    },
    batchSize: RELAY.batchSize,
    filter: (record: StreamRecord) =>
      (record.dynamodb?.NewImage?.type as { S?: string } | undefined)?.S === RELAY_STREAM_ITEM_TYPE,
    retryAttempts: RELAY.retryAttempts,
    batchingWindowMs: (RELAY.batchingWindowSeconds * 1000) / ctx.timeScale,
    onFailure: { sqs: ctx.sqs, queueUrl: ctx.queues.relayDlq.url },
    timeoutMs: RELAY.timeoutSeconds * 1000,
    intervalMs: POLL_INTERVAL_MS,
    failBatch: () => chance(faults.relayFailureRate),
    onError: ctx.report('relay'),
  });
}

/** One task type's event source mapping, running its worker entry (with the run's faults). */
async function workerPoller(ctx: PollerContext, type: TaskType): Promise<Poller> {
  const { sqs, injector } = ctx;
  const queue = ctx.queues.taskQueues[type.name]!;
  const entry = await import(ctx.handlers.workerEntry(type.name));
  // With faults inside handlers, the worker's own logic (`run`) is wrapped with them and
  // put in the same worker middleware its entry uses.
  const real: Handler =
    injector.inHandlers && typeof entry.run === 'function'
      ? (worker(type, handlerWithFaults(entry.run, injector), () =>
          defaultWorkerDeps(type.name),
        ) as unknown as Handler)
      : entry.handler;
  const handler = workerWithFaults(type, real, {
    sqs,
    queueUrl: queue.url,
    storeDeps: ctx.storeDeps,
    injector,
  });
  return pollQueue({
    name: `worker-${type.name}`,
    sqs,
    queueUrl: queue.url,
    queueArn: queue.arn,
    receivable: () => ctx.receivable(taskQueueName(TASK_QUEUE_PREFIX, type.name)),
    handler,
    batchSize: defaultWorkerBatchSize(type),
    visibilityTimeoutSeconds: visibilityTimeoutFor(workerTimeoutSeconds(type)),
    timeoutMs: workerTimeoutSeconds(type) * 1000,
    intervalMs: POLL_INTERVAL_MS,
    concurrency: type.concurrency ?? 2,
    paused: () => ctx.down(type.name),
    onError: ctx.report(`worker-${type.name}`),
  });
}
