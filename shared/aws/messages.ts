import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { OUTCOME_OF_STATUS } from '../core/definitions';
import { LIFECYCLE_SOURCE, OUTCOME_DETAIL_TYPES } from '../core/lifecycle';
import type { TaskItem } from './table';
import type { Telemetry } from './telemetry';

/**
 * The shapes of the messages Hourglass sends between its functions, and the one way to send
 * a timer: the relay, the worker and the sweeper all import from here.
 */

export { LIFECYCLE_SOURCE } from '../core/lifecycle';

/** SQS's longest delay for one message ("Valid values: 0 to 900", SendMessage). */
export const MAX_SQS_DELAY_SECONDS = 900;

/**
 * Timers due within this ride SQS alone; later ones get an EventBridge Scheduler schedule.
 * Two SQS delays: a timer due in 15 to 30 minutes is sent with the longest delay, and the
 * worker sends the early message back with the rest (`delaySecondsFor`), the one re-send a
 * schedule's early fire needs anyway. So the SQS path costs no more messages than the
 * Scheduler path in this range, and saves the Scheduler invocation ($1 per million) and its
 * unbatched SendMessage; its timer also keeps SQS's second precision. Beyond it each further
 * 15 minutes would cost another re-send and worker invocation, which a schedule does not
 * (docs/cost.md measures both).
 */
export const SQS_TIMER_MAX_MS = 2 * MAX_SQS_DELAY_SECONDS * 1_000;

/** SendMessageBatch takes at most this many entries per call. */
export const SQS_BATCH_LIMIT = 10;

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

/** The timer message a task type's queue receives: enough to find the row and spot staleness. */
export interface TaskMessage {
  readonly taskId: string;
  readonly workflow: string;
  readonly key: string;
  readonly taskType: string;
  readonly generation: number;
  /** When the attempt may start, epoch ms. */
  readonly runAt: number;
  /** The tenant: sent as the message's SQS message group, so a fair queue can be fair. */
  readonly tenant?: string;
}

/** The timer message of a task's current generation. */
export function timerMessage(
  task: Pick<
    TaskItem,
    'taskId' | 'workflow' | 'key' | 'taskType' | 'generation' | 'runAt' | 'tenant'
  >,
): TaskMessage {
  return {
    taskId: task.taskId,
    workflow: task.workflow,
    key: task.key,
    taskType: task.taskType,
    generation: task.generation,
    runAt: task.runAt,
    ...(task.tenant === undefined ? {} : { tenant: task.tenant }),
  };
}

/** Reads a timer message from a queue message body; null when it is not one. */
export function parseTaskMessage(body: string): TaskMessage | null {
  try {
    const m = JSON.parse(body) as TaskMessage;
    const ok =
      typeof m?.taskId === 'string' &&
      typeof m.workflow === 'string' &&
      typeof m.key === 'string' &&
      typeof m.taskType === 'string' &&
      Number.isInteger(m.generation) &&
      typeof m.runAt === 'number' &&
      (m.tenant === undefined || typeof m.tenant === 'string');
    return ok ? m : null;
  } catch {
    return null;
  }
}

/** One timer to send: its queue, its message, and how long SQS holds it back. */
export interface TimerSend {
  readonly queueUrl: string;
  readonly message: TaskMessage;
  /** 0–900. @default 0 */
  readonly delaySeconds?: number;
}

/**
 * Sends timer messages, grouped by queue in batches of {@link SQS_BATCH_LIMIT}. Returns the
 * timers that were not sent (a failed call, or an entry SQS refused), so the caller can
 * retry them or report them; never throws for a refused entry.
 */
export async function sendTimers(
  sqs: SQSClient,
  timers: readonly TimerSend[],
): Promise<TimerSend[]> {
  const byQueue = new Map<string, TimerSend[]>();
  for (const timer of timers) {
    const list = byQueue.get(timer.queueUrl) ?? [];
    list.push(timer);
    byQueue.set(timer.queueUrl, list);
  }
  const unsent: TimerSend[] = [];
  for (const [queueUrl, list] of byQueue) {
    for (let i = 0; i < list.length; i += SQS_BATCH_LIMIT) {
      const chunk = list.slice(i, i + SQS_BATCH_LIMIT);
      const entries: SendMessageBatchRequestEntry[] = chunk.map((timer, j) => ({
        Id: String(j),
        MessageBody: JSON.stringify(timer.message),
        DelaySeconds: timer.delaySeconds ?? 0,
        // SQS fair queues: "Fair queues identify tenants by the MessageGroupId property on
        // each message" (SQS Developer Guide, "How Amazon SQS fair queues work"); on a
        // standard queue it orders nothing and costs nothing.
        ...(timer.message.tenant === undefined ? {} : { MessageGroupId: timer.message.tenant }),
      }));
      try {
        const result = await sqs.send(
          new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }),
        );
        for (const failed of result?.Failed ?? []) unsent.push(chunk[Number(failed.Id)]!);
      } catch {
        unsent.push(...chunk);
      }
    }
  }
  return unsent;
}

/**
 * The lifecycle event of a task in a terminal status. `lifecycleId` is the same however
 * often it is published (the relay, then the sweeper's republish), so consumers can
 * de-duplicate on it.
 */
export function lifecycleEntry(
  task: TaskItem,
  busName: string,
  now: number,
): PutEventsRequestEntry {
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  return {
    Source: LIFECYCLE_SOURCE,
    DetailType: OUTCOME_DETAIL_TYPES[OUTCOME_OF_STATUS[task.status]!],
    EventBusName: busName,
    Time: new Date(task.finishedAt ?? now),
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
      ...(task.result === undefined ? {} : { result: task.result }),
    }),
  };
}

/** PutEvents takes at most this many entries per call. */
export const PUT_EVENTS_LIMIT = 10;

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

/** A DynamoDB stream record, as Lambda delivers it (images in DynamoDB JSON). */
export interface StreamRecord {
  readonly eventName?: string;
  readonly dynamodb?: {
    readonly SequenceNumber?: string;
    readonly NewImage?: Record<string, unknown>;
    readonly OldImage?: Record<string, unknown>;
  };
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
