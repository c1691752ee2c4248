import type { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import {
  DEFAULT_SCHEDULE_LEAD_SECONDS,
  MAX_SCHEDULE_LEAD_SECONDS,
  MIN_SCHEDULE_LEAD_SECONDS,
  SCHEDULE_LEAD_RULE,
} from '../shared/aws/config';
import { DEFAULT_RETENTION_DAYS } from '../shared/aws/table';
import type { HourglassDefinitions, TaskType } from '../shared/core/definitions';
import { minimumRetentionMs } from '../shared/core/history';
import type { Observability } from './function';

/** What the Hourglass construct and its workers take, and how it checks it. */

/** Props of {@link Hourglass}. */
export interface HourglassProps {
  /**
   * The definitions to deploy: `defineHourglass({ taskTypes, workflows })`. The ingest
   * function is bundled from the module they were made in (`workflows.module`), so it runs
   * exactly the definitions the bus rules route; there is no separate ingest entry to keep
   * in step.
   */
  readonly workflows: HourglassDefinitions;
  /** The bus domain events arrive on and lifecycle events go to. @default a new bus */
  readonly bus?: events.IEventBus;
  /** @default functions/relay.ts */
  readonly relayEntry?: string;
  /** @default functions/sweeper.ts */
  readonly sweeperEntry?: string;
  /** What happens to the table when the stack is deleted. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * How early one-shot schedules fire before the due time, in seconds (60–840: Scheduler
   * fires anywhere in a schedule's minute). @default 120
   */
  readonly scheduleLeadSeconds?: number;
  /**
   * How long finished tasks, finished instances and rejected events stay in the table before
   * DynamoDB's TTL may delete them (whole days, 1–3650). @default 30 days
   */
  readonly retention?: Duration;
  /** Where every alarm notifies (alarm and OK). @default no notification: see `alarms` */
  readonly alarmTopic?: sns.ITopic;
  /** X-Ray tracing and the log level of every function. @default no tracing, WARN */
  readonly observability?: Observability;
  /**
   * Whose lifecycle events (`TaskCompleted`, `TaskFailed`, …) reach the bus: `consumed`,
   * only the outcomes a workflow has a transition for, or `all`, for your own rules on the
   * bus. Each published event costs a PutEvents and two small writes. @default 'consumed'
   */
  readonly lifecycleEvents?: 'consumed' | 'all';
}

/** Options of {@link Hourglass.addWorker}. */
export interface WorkerOptions {
  /** The worker's entry file, e.g. `functions/workers/send-discount-code.ts`. */
  readonly entry: string;
  /** @default 256 */
  readonly memorySize?: number;
  /**
   * The function timeout: from the task type's timeout to 30 s more (an attempt's lease is
   * its timeout plus 30 s, and must outlast the function, so that a handler which ignores
   * its abort signal is ended by Lambda before a retry can start). @default the task type's
   * timeout plus 30 seconds
   */
  readonly timeout?: Duration;
  /** Most concurrent invocations (SQS maximum concurrency, 2–1000). @default the task type's concurrency, else no limit */
  readonly concurrency?: number;
  /**
   * Messages per invocation (1–10). The worker runs a batch's records concurrently, or one
   * after another for a task type with a `concurrency` cap. @default 5, or 1 with a cap
   */
  readonly batchSize?: number;
}

/** A task type's queue and worker. Its dead letters go to the shared task DLQ. */
export interface Worker {
  readonly taskType: TaskType;
  readonly queue: sqs.Queue;
  readonly function: NodejsFunction;
}

/**
 * Checks the construct's props and returns the values it deploys with; an error names the
 * prop and the fix.
 */
export function checkProps(
  id: string,
  props: HourglassProps,
): { readonly lead: number; readonly retentionDays: number } {
  if (props?.workflows?.kind !== 'hourglass') {
    throw new Error(
      `Hourglass '${id}': props.workflows must be the result of defineHourglass({ taskTypes, workflows })`,
    );
  }
  const lead = props.scheduleLeadSeconds ?? DEFAULT_SCHEDULE_LEAD_SECONDS;
  if (
    !Number.isInteger(lead) ||
    lead < MIN_SCHEDULE_LEAD_SECONDS ||
    lead > MAX_SCHEDULE_LEAD_SECONDS
  ) {
    throw new Error(
      `Hourglass '${id}': props.scheduleLeadSeconds must be ${SCHEDULE_LEAD_RULE}, got ${lead}`,
    );
  }
  const retentionDays =
    props.retention === undefined
      ? DEFAULT_RETENTION_DAYS
      : props.retention.toHours({ integral: false }) / 24;
  if (!Number.isInteger(retentionDays) || retentionDays < 1 || retentionDays > 3650) {
    throw new Error(
      `Hourglass '${id}': props.retention must be whole days from 1 to 3650, got ${retentionDays}`,
    );
  }
  const needed = Math.ceil(minimumRetentionMs(props.workflows) / 86_400_000);
  if (retentionDays < needed) {
    throw new Error(
      `Hourglass '${id}': props.retention is ${retentionDays} days, but these workflows replay up to ${needed - 7} days of history (their longest retain, or 14 days), and a finished task's row must outlast that by a week, or a replayed event would run its task again; set retention to at least ${needed} days`,
    );
  }
  return { lead, retentionDays };
}
