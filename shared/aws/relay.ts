import { createHash } from 'node:crypto';
import type { EventBridgeClient, PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  type SchedulerClient,
} from '@aws-sdk/client-scheduler';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { TaskStatus, TERMINAL_STATUSES } from '../core/definitions';
import { isTimerType } from '../core/timers';
import type { TaskQueue } from './config';
import {
  delaySecondsFor,
  lifecycleEntry,
  publishInBatches,
  SQS_TIMER_MAX_MS,
  type StreamRecord,
  sendTimers,
  streamImage,
  type TimerSend,
  timerMessage,
} from './messages';
import type { StoreDeps } from './store';
import type { TaskItem } from './table';
import { markPublished } from './tasks';
import { Metric, type Telemetry } from './telemetry';

/** What the relay needs: the table (to mark lifecycle events published), the clients, its config. */
export interface RelayDeps extends StoreDeps {
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
  readonly telemetry: Telemetry;
}

/**
 * The deterministic schedule name of one generation of a task: at most 64 characters of
 * the allowed alphabet, the same on every retry, so creating it twice is harmless.
 */
export function scheduleName(taskId: string, generation: number): string {
  return `hg-${createHash('sha256').update(taskId).digest('hex').slice(0, 40)}-g${generation}`;
}

/**
 * The first whole minute at or after `ms`. A minute-precision task's schedule is set for
 * it: Scheduler fires anywhere in the minute an `at()` names, so the timer arrives at or
 * after the due time, never before, and needs no re-delay.
 */
export function nextWholeMinute(ms: number): number {
  return Math.ceil(ms / 60_000) * 60_000;
}

/** `at()` wants a UTC wall-clock time without zone or fraction. */
function atExpression(ms: number): string {
  return `at(${new Date(ms).toISOString().slice(0, 19)})`;
}

function image(raw: Record<string, unknown> | undefined): TaskItem | undefined {
  return streamImage<TaskItem>(raw, 'task');
}

function usedScheduler(task: TaskItem): boolean {
  return task.runAt - task.updatedAt > SQS_TIMER_MAX_MS;
}

/** A timer to send through the task queue, with the run time its delay is counted to. */
type QueueTimer = Omit<TimerSend, 'delaySeconds'> & { readonly runAt: number };

/**
 * Arms a task's timer: a one-shot schedule, created here; or, due within
 * {@link SQS_TIMER_MAX_MS}, an SQS delay, handed to `viaQueue` so the batch sends all its
 * queue timers together (one SendMessageBatch per 10, not one request each).
 */
async function armTimer(
  deps: RelayDeps,
  task: TaskItem,
  viaQueue: (timer: QueueTimer) => void,
): Promise<void> {
  const queue = deps.config.taskQueue(task.taskType);
  const message = timerMessage(task);
  const delayMs = task.runAt - deps.clock();
  if (delayMs <= SQS_TIMER_MAX_MS) {
    // Up to 15 minutes in one delay; beyond, the worker re-sends the early message.
    viaQueue({ queueUrl: queue.url, message, runAt: task.runAt });
    return;
  }
  const name = scheduleName(task.taskId, task.generation);
  const fireAt =
    task.precision === 'minute'
      ? nextWholeMinute(task.runAt)
      : task.runAt - deps.config.scheduleLeadSeconds * 1_000;
  try {
    await deps.scheduler.send(
      new CreateScheduleCommand({
        Name: name,
        GroupName: deps.config.scheduleGroup,
        ClientToken: name,
        ScheduleExpression: atExpression(fireAt),
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

/**
 * Sends the queue timers of the records before `failedAt` in batched requests. Returns the
 * index of the first record whose timer was not sent (`failedAt` when all were): the stream
 * retries from there, the records after it run again, and a timer sent twice is harmless
 * (the worker skips the duplicate).
 */
async function sendQueueTimers(
  deps: RelayDeps,
  queueTimers: readonly { timer: QueueTimer; index: number }[],
  failedAt: number,
): Promise<number> {
  // The delay is counted from now, the moment of sending, not from when the record was read.
  const now = deps.clock();
  const timers = queueTimers
    .filter((t) => t.index < failedAt)
    .map(({ timer: { runAt, ...send }, index }) => ({
      index,
      timer: { ...send, delaySeconds: delaySecondsFor(runAt, now) } as TimerSend,
    }));
  const unsent = new Set(
    await sendTimers(
      deps.sqs,
      timers.map((t) => t.timer),
    ),
  );
  let firstUnsent = failedAt;
  for (const t of timers)
    if (unsent.has(t.timer)) {
      deps.telemetry.error('sending a timer failed; the stream retries from this record', {
        taskId: t.timer.message.taskId,
      });
      firstUnsent = Math.min(firstUnsent, t.index);
    }
  return firstUnsent;
}

/**
 * The outbox: reacts to task rows on the table's stream. A task that became SCHEDULED
 * (new, retried or moved) gets a timer — SQS delays when due within 30 minutes, else a
 * one-shot EventBridge Scheduler schedule a few minutes early; a cancelled or moved task
 * loses its schedule; a task that reached a terminal status is published as a lifecycle
 * event. Every step is idempotent under repeated records. On a failure, the batch reports
 * the first failed record's sequence number, so Lambda retries from there.
 */
export async function relayBatch(
  deps: RelayDeps,
  records: readonly StreamRecord[],
): Promise<{ batchItemFailures: { itemIdentifier: string }[] }> {
  const publish: { entry: PutEventsRequestEntry; index: number; task: TaskItem }[] = [];
  const queueTimers: { timer: QueueTimer; index: number }[] = [];
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
        await armTimer(deps, after, (timer) => queueTimers.push({ timer, index }));
        deps.telemetry.count(Metric.timersArmed, 1, { taskType: after.taskType });
      }
      // A cancelled task's schedule goes; so does that of a timer its instance fired before
      // the schedule did (an event timed after it was applied first).
      const firedTimer = isTimerType(after.taskType) && after.status === TaskStatus.COMPLETED;
      if (
        (after.status === TaskStatus.CANCELLED || firedTimer) &&
        before?.status === TaskStatus.SCHEDULED
      )
        await disarmTimer(deps, before);
      if (after.publish && TERMINAL_STATUSES.has(after.status) && before?.status !== after.status) {
        publish.push({
          entry: lifecycleEntry(after, deps.config.busName, deps.clock()),
          index,
          task: after,
        });
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

  failedAt = Math.min(failedAt, await sendQueueTimers(deps, queueTimers, failedAt));

  const toSend = publish.filter((p) => p.index < failedAt);
  failedAt = Math.min(
    failedAt,
    await publishInBatches(deps.eventBridge, toSend, records.length, deps.telemetry),
  );
  const published = toSend.filter((p) => p.index < failedAt);
  deps.telemetry.count(Metric.lifecycleEvents, published.length);
  // Unmark what was published, so the sweeper does not publish it again. A failure here
  // only costs a duplicate event later (consumers de-duplicate on lifecycleId).
  await Promise.all(
    published.map((p) =>
      markPublished(deps, p.task).catch((error: Error) =>
        deps.telemetry.warn(
          'marking a lifecycle event published failed; the sweeper may publish it again',
          {
            taskId: p.task.taskId,
            error: error.message,
          },
        ),
      ),
    ),
  );
  if (failedAt >= records.length) return { batchItemFailures: [] };
  const sequence = records[failedAt]?.dynamodb?.SequenceNumber ?? String(failedAt);
  return { batchItemFailures: [{ itemIdentifier: sequence }] };
}
