import { createHash } from 'node:crypto';
import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  type SchedulerClient,
} from '@aws-sdk/client-scheduler';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { TaskStatus, TERMINAL_STATUSES } from '../core/definitions';
import type { TaskQueue } from './config';
import { LIFECYCLE_SOURCE } from './ingest';
import type { TaskItem } from './table';
import { Metric, type Telemetry } from './telemetry';

/** SQS's longest delay: timers due sooner go through SQS, later ones through Scheduler. */
export const MAX_SQS_DELAY_SECONDS = 900;

/**
 * The SQS delay that brings a timer message closest to `runAt`. SQS delays are whole
 * seconds (SendMessage "DelaySeconds: The length of time, in seconds, for which to delay
 * a specific message. Valid values: 0 to 900"), so rounding to the nearest second lands the
 * message at most half a second early or late; the worker waits out an early arrival (see
 * `EARLY_WAIT_MS` in worker.ts). Rounding up instead would never be early but always up
 * to a second late; rounding down would make the worker wait up to a whole second.
 */
export function delaySecondsFor(runAt: number, now: number): number {
  return Math.max(0, Math.min(MAX_SQS_DELAY_SECONDS, Math.round((runAt - now) / 1_000)));
}
/** PutEvents takes at most this many entries per call. */
export const PUT_EVENTS_LIMIT = 10;

/** The timer message a task type's queue receives: enough to find the row and spot staleness. */
export interface TaskMessage {
  readonly taskId: string;
  readonly workflow: string;
  readonly key: string;
  readonly taskType: string;
  readonly generation: number;
  /** When the attempt may start, epoch ms. */
  readonly runAt: number;
}

/** The timer message of a task's current generation. */
export function timerMessage(task: TaskItem): TaskMessage {
  return {
    taskId: task.taskId,
    workflow: task.workflow,
    key: task.key,
    taskType: task.taskType,
    generation: task.generation,
    runAt: task.runAt,
  };
}

/** The lifecycle event detail-types, by terminal status. */
export const LIFECYCLE_DETAIL_TYPES: Readonly<Record<string, string>> = {
  COMPLETED: 'TaskCompleted',
  FAILED: 'TaskFailed',
  CANCELLED: 'TaskCancelled',
  EXPIRED: 'TaskExpired',
};

/** What the relay needs. */
export interface RelayDeps {
  readonly sqs: SQSClient;
  readonly scheduler: SchedulerClient;
  readonly eventBridge: EventBridgeClient;
  readonly config: {
    taskQueue(taskType: string): TaskQueue;
    readonly scheduleGroup: string;
    readonly schedulerRoleArn: string;
    readonly schedulerDlqArn: string;
    readonly scheduleLeadSeconds: number;
    readonly busName: string;
  };
  readonly clock: () => number;
  readonly telemetry: Telemetry;
}

/** A DynamoDB stream record, as Lambda delivers it (images in DynamoDB JSON). */
export interface StreamRecord {
  readonly eventName?: string;
  readonly dynamodb?: {
    readonly SequenceNumber?: string;
    readonly NewImage?: Record<string, unknown>;
    readonly OldImage?: Record<string, unknown>;
  };
}

/**
 * The deterministic schedule name of one generation of a task: at most 64 characters of
 * the allowed alphabet, the same on every retry, so creating it twice is harmless.
 */
export function scheduleName(taskId: string, generation: number): string {
  return `hg-${createHash('sha256').update(taskId).digest('hex').slice(0, 40)}-g${generation}`;
}

/** `at()` wants a UTC wall-clock time without zone or fraction. */
function atExpression(ms: number): string {
  return `at(${new Date(ms).toISOString().slice(0, 19)})`;
}

/** Unmarshalls a stream image, for items whose `type` is the one wanted. */
export function streamImage<T>(
  raw: Record<string, unknown> | undefined,
  type?: string,
): T | undefined {
  if (raw === undefined) return undefined;
  if (type !== undefined && (raw.type as { S?: string } | undefined)?.S !== type) return undefined;
  return unmarshall(raw as never) as T;
}

function image(raw: Record<string, unknown> | undefined): TaskItem | undefined {
  return streamImage<TaskItem>(raw, 'task');
}

function usedScheduler(task: TaskItem): boolean {
  return task.runAt - task.updatedAt > MAX_SQS_DELAY_SECONDS * 1_000;
}

async function armTimer(deps: RelayDeps, task: TaskItem): Promise<void> {
  const queue = deps.config.taskQueue(task.taskType);
  const message = timerMessage(task);
  const delayMs = task.runAt - deps.clock();
  if (delayMs <= MAX_SQS_DELAY_SECONDS * 1_000) {
    await deps.sqs.send(
      new SendMessageCommand({
        QueueUrl: queue.url,
        MessageBody: JSON.stringify(message),
        DelaySeconds: delaySecondsFor(task.runAt, deps.clock()),
      }),
    );
    return;
  }
  const name = scheduleName(task.taskId, task.generation);
  try {
    await deps.scheduler.send(
      new CreateScheduleCommand({
        Name: name,
        GroupName: deps.config.scheduleGroup,
        ClientToken: name,
        ScheduleExpression: atExpression(task.runAt - deps.config.scheduleLeadSeconds * 1_000),
        ScheduleExpressionTimezone: 'UTC',
        FlexibleTimeWindow: { Mode: 'OFF' },
        ActionAfterCompletion: 'DELETE',
        Description: `hourglass ${task.taskId} generation ${task.generation}`.slice(0, 512),
        Target: {
          Arn: queue.arn,
          RoleArn: deps.config.schedulerRoleArn,
          Input: JSON.stringify(message),
          RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86_400 },
          DeadLetterConfig: { Arn: deps.config.schedulerDlqArn },
        },
      }),
    );
  } catch (error) {
    if (!(error instanceof ConflictException) && (error as Error)?.name !== 'ConflictException')
      throw error;
  }
}

async function disarmTimer(deps: RelayDeps, task: TaskItem): Promise<void> {
  if (!usedScheduler(task)) return; // an SQS delay cannot be taken back; the worker skips it as stale
  try {
    await deps.scheduler.send(
      new DeleteScheduleCommand({
        Name: scheduleName(task.taskId, task.generation),
        GroupName: deps.config.scheduleGroup,
      }),
    );
  } catch (error) {
    if (
      !(error instanceof ResourceNotFoundException) &&
      (error as Error)?.name !== 'ResourceNotFoundException'
    )
      throw error;
  }
}

function lifecycleEntry(deps: RelayDeps, task: TaskItem): PutEventsRequestEntry {
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  return {
    Source: LIFECYCLE_SOURCE,
    DetailType: LIFECYCLE_DETAIL_TYPES[task.status],
    EventBusName: deps.config.busName,
    Time: new Date(task.finishedAt ?? deps.clock()),
    Detail: JSON.stringify({
      lifecycleId: `${task.taskId}:${task.status}`,
      workflow: task.workflow,
      key: task.key,
      taskType: task.taskType,
      taskId: task.taskId,
      status: task.status,
      attempt: task.attempt,
      dueAt: iso(task.dueAt),
      startedAt: iso(task.startedAt),
      finishedAt: iso(task.finishedAt),
      lateCancels: task.lateCancels.length,
    }),
  };
}

/**
 * Publishes entries in batches of {@link PUT_EVENTS_LIMIT}, each tagged with the index of
 * the stream record it came from. Returns the index of the first record whose entry failed
 * (or `records` when none did), so the caller can report that record for a retry.
 */
export async function publishInBatches(
  eventBridge: EventBridgeClient,
  entries: readonly { readonly entry: PutEventsRequestEntry; readonly index: number }[],
  records: number,
  telemetry: Telemetry,
): Promise<number> {
  let failedAt = records;
  for (let i = 0; i < entries.length; i += PUT_EVENTS_LIMIT) {
    const chunk = entries.slice(i, i + PUT_EVENTS_LIMIT);
    try {
      const result = await eventBridge.send(
        new PutEventsCommand({ Entries: chunk.map((c) => c.entry) }),
      );
      (result.Entries ?? []).forEach((entry, j) => {
        if (entry.ErrorCode) failedAt = Math.min(failedAt, chunk[j]!.index);
      });
    } catch (error) {
      telemetry.error('publishing events failed; the stream retries', {
        error: (error as Error).message,
      });
      failedAt = Math.min(failedAt, chunk[0]!.index);
    }
  }
  return failedAt;
}

/**
 * The outbox: reacts to task rows on the table's stream. A task that became SCHEDULED
 * (new, retried or moved) gets a timer — an SQS delay when due within 15 minutes, else a
 * one-shot EventBridge Scheduler schedule a few minutes early; a cancelled or moved task
 * loses its schedule; a task that reached a terminal status is published as a lifecycle
 * event. Every step is idempotent under repeated records. On a failure, the batch reports
 * the first failed record's sequence number, so Lambda retries from there.
 */
export async function relayBatch(
  deps: RelayDeps,
  records: readonly StreamRecord[],
): Promise<{ batchItemFailures: { itemIdentifier: string }[] }> {
  const publish: { entry: PutEventsRequestEntry; index: number }[] = [];
  let failedAt = records.length;
  for (const [index, record] of records.entries()) {
    const before = image(record.dynamodb?.OldImage);
    const after = image(record.dynamodb?.NewImage);
    if (after === undefined) continue;
    try {
      const moved = before !== undefined && before.generation !== after.generation;
      if (
        after.status === TaskStatus.SCHEDULED &&
        (before === undefined || before.status !== TaskStatus.SCHEDULED || moved)
      ) {
        if (before?.status === TaskStatus.SCHEDULED) await disarmTimer(deps, before);
        await armTimer(deps, after);
        deps.telemetry.count(Metric.timersArmed, 1, { taskType: after.taskType });
      }
      if (after.status === TaskStatus.CANCELLED && before?.status === TaskStatus.SCHEDULED)
        await disarmTimer(deps, before);
      if (TERMINAL_STATUSES.has(after.status) && before?.status !== after.status) {
        publish.push({ entry: lifecycleEntry(deps, after), index });
      }
    } catch (error) {
      deps.telemetry.error('relay step failed; the stream retries from this record', {
        taskId: after.taskId,
        error: (error as Error).message,
      });
      failedAt = index;
      break;
    }
  }

  const toSend = publish.filter((p) => p.index < failedAt);
  failedAt = Math.min(
    failedAt,
    await publishInBatches(deps.eventBridge, toSend, records.length, deps.telemetry),
  );
  deps.telemetry.count(Metric.lifecycleEvents, toSend.filter((p) => p.index < failedAt).length);
  if (failedAt >= records.length) return { batchItemFailures: [] };
  const sequence = records[failedAt]?.dynamodb?.SequenceNumber ?? String(failedAt);
  return { batchItemFailures: [{ itemIdentifier: sequence }] };
}
