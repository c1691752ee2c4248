import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { TaskStatus } from '../core/definitions';
import type { TaskQueue } from './config';
import { lifecycleEntry, publishInBatches, sendTimers, timerMessage } from './messages';
import { type ListedTaskRow, tasksDueBefore } from './status-index';
import type { StoreDeps } from './store';
import type { TaskItem } from './table';
import { markPublished, markSwept, unmarkSwept, unpublishedTasks } from './tasks';
import { Metric, type Telemetry } from './telemetry';

/**
 * How long past its lease (RUNNING) or its run time (SCHEDULED) a task may sit before the
 * sweeper sends its timer again, and how long a finished task may wait for its lifecycle
 * event before the sweeper publishes it again. Well beyond SQS redelivery, Scheduler's
 * window and the relay's stream retries, so a healthy task is never swept. It is also how
 * long the sweeper leaves a task it swept before it may sweep it again.
 */
export const SWEEP_GRACE_MS = 15 * 60_000;

/** The most tasks one sweep handles of each kind; the next sweep takes the rest. */
export const SWEEP_LIMIT = 1_000;

/**
 * Real ms a sweep keeps in hand before its function's timeout: it stops starting work
 * below this, and the next sweep (5 minutes later) goes on from where it stopped.
 */
export const SWEEP_RESERVE_MS = 10_000;

/** What the sweeper needs. */
export interface SweepDeps extends StoreDeps {
  readonly sqs: SQSClient;
  readonly eventBridge: EventBridgeClient;
  readonly busName: string;
  taskQueue(taskType: string): TaskQueue;
  readonly telemetry: Telemetry;
  /** False once the run is out of time. @default always true */
  readonly hasTime?: () => boolean;
}

/** What one sweep did. */
export interface Sweep {
  /** Tasks whose timer was sent again. */
  readonly resent: readonly ListedTaskRow[];
  /** Finished tasks whose lifecycle event was published again. */
  readonly republished: readonly TaskItem[];
  /** True when the sweep ran out of time or hit {@link SWEEP_LIMIT} with work left. */
  readonly unfinished: boolean;
}

/**
 * Recovers work the pipeline lost, reading indexes only (never a scan):
 *
 * - Timers: a RUNNING task whose lease ran out long ago (its message went to the DLQ after
 *   repeated crashes) and a SCHEDULED task long past its run time (its schedule or message
 *   was lost). Each is first marked as swept with a conditional write (so a task is sent
 *   again at most once per grace period, however many sweeps overlap or however long a
 *   backlog waits behind a concurrency cap), then its timer message is sent again in
 *   batches. The worker re-claims or runs it, and skips it if it turns out to be stale.
 * - Lifecycle events: a finished task still marked unpublished after the grace period (its
 *   stream record was dropped after the relay's retries) is published again, then unmarked;
 *   so a workflow waiting for the task's outcome still moves on.
 *
 * Counts what it re-sent ({@link Metric.timersResent}, {@link Metric.lifecycleRepublished}):
 * in a healthy deployment both stay at zero.
 */
export async function sweep(deps: SweepDeps, graceMs = SWEEP_GRACE_MS): Promise<Sweep> {
  const hasTime = deps.hasTime ?? (() => true);
  const now = deps.clock();
  const [open, unpublished] = await Promise.all([
    // A task is claimed at or after its run time, so one whose lease ran out a grace
    // period ago was due before that too: one read of the open tasks due before then.
    tasksDueBefore(deps, [TaskStatus.RUNNING, TaskStatus.SCHEDULED], {
      before: now - graceMs,
      firstPerShard: SWEEP_LIMIT,
      notSweptSince: now - graceMs,
    }),
    unpublishedTasks(deps, now - graceMs, SWEEP_LIMIT),
  ]);
  const running = open.filter((t) => t.status === TaskStatus.RUNNING);
  const scheduled = open.filter((t) => t.status === TaskStatus.SCHEDULED);
  const stuck = [
    ...running.filter((t) => (t.leaseUntil ?? 0) + graceMs < now),
    ...scheduled,
  ].filter((t) => (t.sweptAt ?? 0) < now - graceMs);
  const timers = await resendTimers(deps, stuck, now, graceMs, hasTime);
  const events = hasTime()
    ? await republishLifecycleEvents(deps, unpublished, now)
    : { republished: [], unfinished: unpublished.length > 0 };
  const sent = timers.sent;
  const republished = events.republished;
  const unfinished = timers.unfinished || events.unfinished || unpublished.length >= SWEEP_LIMIT;

  deps.telemetry.count(Metric.timersResent, sent.length);
  deps.telemetry.count(Metric.lifecycleRepublished, republished.length);
  for (const task of sent) {
    deps.telemetry.warn('re-sent the timer of a stuck task', {
      taskId: task.taskId,
      status: task.status,
      runAt: task.runAt,
      leaseUntil: task.leaseUntil,
    });
  }
  for (const task of republished) {
    deps.telemetry.warn('published again the lifecycle event of a finished task', {
      taskId: task.taskId,
      status: task.status,
      finishedAt: task.finishedAt,
    });
  }
  deps.telemetry.flush();
  return { resent: sent, republished, unfinished };
}

/**
 * Marks each stuck task swept (at most {@link SWEEP_LIMIT}, while time is left) and sends its
 * timer again; a task whose send fails is unmarked, so the next sweep tries it again.
 */
async function resendTimers(
  deps: SweepDeps,
  stuck: readonly ListedTaskRow[],
  now: number,
  graceMs: number,
  hasTime: () => boolean,
): Promise<{ sent: ListedTaskRow[]; unfinished: boolean }> {
  let unfinished = stuck.length > SWEEP_LIMIT;
  const marked: ListedTaskRow[] = [];
  for (const task of stuck.slice(0, SWEEP_LIMIT)) {
    if (!hasTime()) {
      unfinished = true;
      break;
    }
    if (await markSwept(deps, task, now, now - graceMs)) marked.push(task);
  }
  const failed = await sendTimers(
    deps.sqs,
    marked.map((task) => ({
      queueUrl: deps.taskQueue(task.taskType).url,
      message: timerMessage(task),
    })),
  );
  const unsent = new Set(failed.map((t) => t.message.taskId));
  if (unsent.size > 0) {
    deps.telemetry.error('re-sending timers failed; the next sweep tries them again', {
      tasks: [...unsent].slice(0, 20),
    });
    for (const task of marked.filter((t) => unsent.has(t.taskId)))
      await unmarkSwept(deps, task, now).catch(() => {});
  }
  return { sent: marked.filter((t) => !unsent.has(t.taskId)), unfinished };
}

/** Publishes the lifecycle events of finished tasks still marked unpublished, and unmarks each one sent. */
async function republishLifecycleEvents(
  deps: SweepDeps,
  unpublished: readonly TaskItem[],
  now: number,
): Promise<{ republished: TaskItem[]; unfinished: boolean }> {
  if (unpublished.length === 0) return { republished: [], unfinished: false };
  const entries = unpublished.map((task, index) => ({
    entry: lifecycleEntry(task, deps.busName, now),
    index,
  }));
  const failedAt = await publishInBatches(
    deps.eventBridge,
    entries,
    unpublished.length,
    deps.telemetry,
  );
  const republished: TaskItem[] = [];
  for (const task of unpublished.slice(0, failedAt)) {
    await markPublished(deps, task);
    republished.push(task);
  }
  return { republished, unfinished: failedAt < unpublished.length };
}
