import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { TaskStatus } from '../core/definitions';
import type { TaskQueue } from './config';
import { timerMessage } from './relay';
import { type StoreDeps, tasksDueBefore } from './store';
import type { TaskItem } from './table';

/**
 * How long past its lease (RUNNING) or its run time (SCHEDULED) a task may sit before the
 * sweeper sends its timer again. Well beyond SQS redelivery and Scheduler's window, so a
 * healthy task is never swept.
 */
export const SWEEP_GRACE_MS = 15 * 60_000;

/** What the sweeper needs. */
export interface SweepDeps extends StoreDeps {
  readonly sqs: SQSClient;
  taskQueue(taskType: string): TaskQueue;
}

/**
 * Recovers tasks whose timer was lost: a RUNNING task whose lease ran out long ago (its
 * message went to the DLQ after repeated crashes) and a SCHEDULED task long past its run
 * time (its schedule or message was lost). It sends the task's timer message again; the
 * worker middleware re-claims or runs it, and skips it if it turns out to be stale. Reads
 * the status index only, never scans. Returns the tasks it re-sent.
 */
export async function sweepStuckTasks(
  deps: SweepDeps,
  graceMs = SWEEP_GRACE_MS,
): Promise<TaskItem[]> {
  const now = deps.clock();
  const [running, scheduled] = await Promise.all([
    tasksDueBefore(deps, TaskStatus.RUNNING),
    tasksDueBefore(deps, TaskStatus.SCHEDULED, { before: now - graceMs }),
  ]);
  const stuck = [...running.filter((t) => (t.leaseUntil ?? 0) + graceMs < now), ...scheduled];
  for (const task of stuck) {
    const message = timerMessage(task);
    await deps.sqs.send(
      new SendMessageCommand({
        QueueUrl: deps.taskQueue(task.taskType).url,
        MessageBody: JSON.stringify(message),
      }),
    );
  }
  return stuck;
}
