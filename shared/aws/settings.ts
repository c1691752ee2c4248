import type { TaskType } from '../core/definitions';

/**
 * The deployment facts the CDK construct, the runtime and the local cloud share: each is
 * written here once, and infra/ and local/ both read it, so the local cloud runs with the
 * settings a deployment has.
 */

/**
 * A claim lasts the task type's timeout plus this margin. SQS's visibility timeout (at
 * least 6× the function timeout) outlasts it, so a crashed attempt's message comes back
 * only after its lease has run out and can be re-claimed.
 */
export const LEASE_MARGIN_MS = 30_000;

/** Visibility timeout of a queue, as a multiple of its consumer's function timeout (AWS's advice for SQS event sources: at least six times). */
export const VISIBILITY_TIMEOUT_FACTOR = 6;
/** Receives before a message moves to its DLQ. */
export const MAX_RECEIVE_COUNT = 5;

/** The ingest function: its timeout, the messages per invocation, and how long its mapping gathers them. */
export const INGEST = { timeoutSeconds: 30, batchSize: 10, batchingWindowSeconds: 1 } as const;
/**
 * The relay function: its timeout, the stream records per invocation, how long the stream
 * mapping gathers records for a batch, and its retries.
 */
export const RELAY = {
  timeoutSeconds: 60,
  batchSize: 100,
  batchingWindowSeconds: 1,
  retryAttempts: 10,
} as const;
/** The sweeper function: its timeout and how often it runs. */
export const SWEEPER = { timeoutSeconds: 60, intervalMinutes: 5 } as const;

/** The stream records the relay receives: task rows only (the filter on `NewImage.type`). */
export const RELAY_STREAM_ITEM_TYPE = 'task';

/** Messages per worker invocation: 5, or 1 for a task type with a concurrency cap (see docs/runtime.md). */
export function defaultWorkerBatchSize(taskType: TaskType): number {
  return taskType.concurrency === null ? 5 : 1;
}

/** The longest function timeout Lambda allows, in seconds. */
export const MAX_FUNCTION_TIMEOUT_SECONDS = 900;

/**
 * The range of a worker's function timeout, in seconds: at least the task type's timeout,
 * at most that plus the lease margin (an attempt's lease must outlast its function).
 */
export function workerTimeoutRange(taskType: TaskType): { min: number; max: number } {
  const min = Math.ceil(taskType.timeoutMs / 1000);
  return { min, max: Math.min(MAX_FUNCTION_TIMEOUT_SECONDS, min + LEASE_MARGIN_MS / 1000) };
}

/** A queue's visibility timeout, in seconds, for a consumer with this function timeout. */
export function visibilityTimeoutFor(functionTimeoutSeconds: number): number {
  return Math.min(43_200, VISIBILITY_TIMEOUT_FACTOR * functionTimeoutSeconds);
}

/** Memory of every Hourglass function (MB), on arm64; a worker may set its own. */
export const FUNCTION_MEMORY_MB = 256;

/**
 * The Powertools log level the construct deploys unless `observability.logLevel` says
 * otherwise: WARN, so the logs hold what needs a look (failures, retries, re-sent timers)
 * while each task's life is in its row's timeline, the metrics and the lifecycle events.
 * The cost benchmark runs the handlers at this level to count the bytes.
 */
export const DEPLOYED_LOG_LEVEL = 'WARN';

/**
 * Whether the construct turns X-Ray tracing on unless `observability.tracing` says
 * otherwise: off, since at low volume a trace per invocation costs more than the task.
 */
export const TRACING_BY_DEFAULT = false;

/**
 * The stack outputs the operator tools read (`hourglass … --stack NAME` finds the table,
 * bus and dead-letter queues by these keys), so one Hourglass construct per stack.
 */
export const OUTPUT_KEYS = {
  tableName: 'HourglassTableName',
  busName: 'HourglassBusName',
  ingestDlqUrl: 'HourglassIngestDlqUrl',
  taskDlqUrl: 'HourglassTaskDlqUrl',
  ingestQueueUrl: 'HourglassIngestQueueUrl',
  /** Every task queue's URL is this plus the task type's name: `hourglass redrive tasks` sends each message back to its own. */
  taskQueueUrlPrefix: 'HourglassTaskQueueUrlPrefix',
} as const;
