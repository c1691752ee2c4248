import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { backoffMs, type Json, TaskStatus, type TaskType } from '../core/definitions';
import { NonRetryableError, RetryAfterError, TaskTimeoutError } from './errors';
import { delaySecondsFor, type TaskMessage } from './relay';
import { getTask, type StoreDeps, type TaskExpectation, transitionTask } from './store';
import { statusKeys, type TaskItem } from './table';
import { Metric, type Telemetry } from './telemetry';

/**
 * A claim lasts the task type's timeout plus this margin. SQS's visibility timeout (at
 * least 6× the function timeout) outlasts it, so a crashed attempt's message comes back
 * only after its lease has run out and can be re-claimed.
 */
export const LEASE_MARGIN_MS = 30_000;
/**
 * A message this much early or less waits in the worker until its task's run time, then
 * runs; one earlier than this goes back to the queue with a delay. SQS delays are whole
 * seconds, rounded to the nearest (see `delaySecondsFor`), so a message arrives up to half a
 * second early or late: the wait makes an early one start at its run time, never before,
 * for at most half a second of billed waiting; a late one starts up to half a second late.
 */
export const EARLY_WAIT_MS = 1_000;

/** What a worker handler gets besides the task itself. */
export interface TaskContext {
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** `<taskId>:<attempt>`: use it to make side effects idempotent. */
  readonly idempotencyKey: string;
  /** The latest start the task type allows, or null. */
  readonly deadline: Date | null;
  /** Fires when the attempt reaches the task type's timeout. */
  readonly signal: AbortSignal;
  /** The Lambda context, when running in Lambda. */
  readonly lambda?: Context;
}

/** The task a handler runs. */
export interface Task<Input = Json> {
  readonly taskId: string;
  readonly workflow: string;
  readonly key: string;
  readonly taskType: string;
  readonly input: Input;
  readonly dueAt: Date;
}

/** A worker's business logic. Throw to fail the attempt; see NonRetryableError and RetryAfterError. */
export type TaskHandler<Input = Json> = (task: Task<Input>, ctx: TaskContext) => Promise<void>;

/** What the worker middleware needs. */
export interface WorkerDeps extends StoreDeps {
  readonly sqs: SQSClient;
  /** The task type's own queue, for re-delaying an early message. */
  readonly queueUrl: string;
  readonly telemetry: Telemetry;
  /** How much faster than real time the clock runs (the local cloud's compression). @default 1 */
  readonly timeScale?: number;
  /** Waits this many clock ms (real ms divided by `timeScale`). @default a timer */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** What became of one message. */
export type MessageOutcome =
  | 'completed'
  | 'retrying'
  | 'failed'
  | 'expired'
  | 'redelayed'
  | 'skipped-missing'
  | 'skipped-stale'
  | 'skipped-finished'
  | 'skipped-claimed'
  | 'lost-race';

function parseMessage(body: string): TaskMessage | null {
  try {
    const m = JSON.parse(body) as TaskMessage;
    const ok =
      typeof m?.taskId === 'string' &&
      typeof m.workflow === 'string' &&
      typeof m.key === 'string' &&
      typeof m.taskType === 'string' &&
      Number.isInteger(m.generation) &&
      typeof m.runAt === 'number';
    return ok ? m : null;
  } catch {
    return null;
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Runs the handler, aborting it at the task type's timeout. */
async function runWithTimeout(
  handler: TaskHandler<never>,
  task: Task<never>,
  ctx: Omit<TaskContext, 'signal'>,
  timeoutMs: number,
  timeScale: number,
) {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new TaskTimeoutError(task.taskId, timeoutMs);
      controller.abort(error);
      reject(error);
    }, timeoutMs / timeScale);
  });
  try {
    await Promise.race([handler(task, { ...ctx, signal: controller.signal }), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Claims a task for one attempt: SCHEDULED (or RUNNING with an expired lease, when
 * `reclaim`) at the generation read → RUNNING with a lease, conditionally. False when
 * another worker or a cancel changed the row first.
 */
export async function claimTask(
  deps: StoreDeps,
  taskType: TaskType,
  task: TaskItem,
  now: number,
  reclaim: boolean,
): Promise<boolean> {
  const attempt = task.attempt + 1;
  return transitionTask(
    deps,
    task,
    {
      status: task.status,
      generation: task.generation,
      ...(reclaim ? { leaseUntil: task.leaseUntil } : {}),
    },
    {
      set: {
        status: TaskStatus.RUNNING,
        attempt,
        leaseUntil: now + taskType.timeoutMs + LEASE_MARGIN_MS,
        startedAt: task.startedAt ?? now,
        ...statusKeys(task.taskId, TaskStatus.RUNNING, task.runAt),
      },
      entry: {
        at: iso(now),
        status: TaskStatus.RUNNING,
        cause: reclaim
          ? `attempt ${attempt} (re-claimed after a lost attempt)`
          : `attempt ${attempt}`,
      },
    },
  );
}

/** The metric each terminal status is counted under. */
const FINISH_METRIC = {
  COMPLETED: Metric.completed,
  FAILED: Metric.failed,
  EXPIRED: Metric.expired,
} as const;

/**
 * Moves a task to a terminal status (COMPLETED, FAILED or EXPIRED) if the row is still what
 * `expect` says, releasing its lease and counting it. False when the caller lost the race.
 */
async function finishTask(
  deps: WorkerDeps,
  task: TaskItem,
  expect: TaskExpectation,
  status: keyof typeof FINISH_METRIC,
  at: number,
  cause: string,
  lastError?: string,
): Promise<boolean> {
  const won = await transitionTask(deps, task, expect, {
    set: {
      status,
      finishedAt: at,
      ...(lastError === undefined ? {} : { lastError }),
      ...statusKeys(task.taskId, status, task.runAt),
    },
    remove: ['leaseUntil'],
    entry: { at: iso(at), status, cause },
  });
  if (won) deps.telemetry.count(FINISH_METRIC[status], 1, { taskType: task.taskType });
  return won;
}

/**
 * Handles one timer message for a task: load the row; skip it when cancelled, finished or
 * stale; re-delay it when early; expire it past its deadline; claim it with a conditional
 * write; run the handler; then complete it, or reschedule it after the backoff, or fail it.
 * A message for a RUNNING task whose lease ran out re-claims it (crash recovery).
 */
export async function processTaskMessage(
  deps: WorkerDeps,
  taskType: TaskType,
  handler: TaskHandler<never>,
  message: TaskMessage,
  lambda?: Context,
): Promise<MessageOutcome> {
  const task = await getTask(deps, message);
  if (task === undefined) {
    deps.telemetry.warn('timer for a task that does not exist; skipped', { ...message });
    return 'skipped-missing';
  }
  if (message.generation < task.generation) return 'skipped-stale';
  if (task.status !== TaskStatus.SCHEDULED && task.status !== TaskStatus.RUNNING)
    return 'skipped-finished';

  let now = deps.clock();
  let reclaim = false;
  if (task.status === TaskStatus.RUNNING) {
    if ((task.leaseUntil ?? 0) > now) return 'skipped-claimed';
    reclaim = true; // the last attempt's worker died or timed out without a word
  } else if (task.runAt - now > EARLY_WAIT_MS) {
    await deps.sqs.send(
      new SendMessageCommand({
        QueueUrl: deps.queueUrl,
        MessageBody: JSON.stringify(message),
        DelaySeconds: delaySecondsFor(task.runAt, now),
      }),
    );
    return 'redelayed';
  } else if (task.runAt > now) {
    // Early by less than EARLY_WAIT_MS: wait for the run time here. The claim below is
    // conditional, so a cancel written meanwhile still wins.
    const sleep =
      deps.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms / (deps.timeScale ?? 1))));
    // Timers may fire a millisecond before the clock shows the run time: wait one more.
    while (now < task.runAt) {
      await sleep(task.runAt - now + 1);
      now = deps.clock();
    }
  }

  const expect = {
    status: task.status,
    generation: task.generation,
    ...(reclaim ? { leaseUntil: task.leaseUntil } : {}),
  };
  if (task.deadlineAt !== null && now > task.deadlineAt) {
    const won = await finishTask(
      deps,
      task,
      expect,
      TaskStatus.EXPIRED,
      now,
      `deadline ${iso(task.deadlineAt)} passed`,
    );
    return won ? 'expired' : 'lost-race';
  }
  const attempt = task.attempt + 1;
  if (attempt > taskType.retry.maxAttempts) {
    const won = await finishTask(
      deps,
      task,
      expect,
      TaskStatus.FAILED,
      now,
      `attempt ${task.attempt} never finished`,
      'every attempt ended without a result (worker crash or timeout)',
    );
    return won ? 'failed' : 'lost-race';
  }
  const claimed = await claimTask(deps, taskType, task, now, reclaim);
  if (!claimed) return 'lost-race';
  deps.telemetry.latency(Metric.lateness, Math.max(0, now - task.runAt), {
    taskType: task.taskType,
  });

  const runningExpect = { status: TaskStatus.RUNNING, attempt };
  try {
    await runWithTimeout(
      handler,
      {
        taskId: task.taskId,
        workflow: task.workflow,
        key: task.key,
        taskType: task.taskType,
        input: task.input as never,
        dueAt: new Date(task.dueAt),
      },
      {
        attempt,
        idempotencyKey: `${task.taskId}:${attempt}`,
        deadline: task.deadlineAt === null ? null : new Date(task.deadlineAt),
        lambda,
      },
      taskType.timeoutMs,
      deps.timeScale ?? 1,
    );
  } catch (error) {
    const done = deps.clock();
    const reason =
      `${(error as Error)?.name ?? 'Error'}: ${(error as Error)?.message ?? String(error)}`.slice(
        0,
        1_000,
      );
    const final = error instanceof NonRetryableError || attempt >= taskType.retry.maxAttempts;
    if (final) {
      await finishTask(
        deps,
        task,
        runningExpect,
        TaskStatus.FAILED,
        done,
        `attempt ${attempt}: ${reason}`,
        reason,
      );
      return 'failed';
    }
    const delay =
      error instanceof RetryAfterError ? error.delayMs : backoffMs(taskType.retry, attempt);
    await transitionTask(deps, task, runningExpect, {
      set: {
        status: TaskStatus.SCHEDULED,
        runAt: done + delay,
        lastError: reason,
        ...statusKeys(task.taskId, TaskStatus.SCHEDULED, done + delay),
      },
      remove: ['leaseUntil'],
      bumpGeneration: true,
      entry: {
        at: iso(done),
        status: TaskStatus.SCHEDULED,
        cause: `retry after attempt ${attempt}: ${reason}`,
      },
    });
    deps.telemetry.count(Metric.retried, 1, { taskType: task.taskType });
    return 'retrying';
  }
  const done = deps.clock();
  const completed = await finishTask(
    deps,
    task,
    runningExpect,
    TaskStatus.COMPLETED,
    done,
    `attempt ${attempt}`,
  );
  if (!completed) {
    deps.telemetry.warn(
      'the attempt finished after its lease was taken over; its result is not recorded',
      { taskId: task.taskId, attempt },
    );
    return 'lost-race';
  }
  return 'completed';
}

/**
 * Handles an SQS batch of timer messages for one task type. A message that is not a
 * timer message is reported as a batch item failure (so it reaches the DLQ, never
 * dropped); so is a message whose processing hit an AWS error.
 */
export async function processTaskBatch(
  deps: WorkerDeps,
  taskType: TaskType,
  handler: TaskHandler<never>,
  event: SQSEvent,
  lambda?: Context,
): Promise<SQSBatchResponse> {
  const failures: { itemIdentifier: string }[] = [];
  for (const record of event.Records) {
    const message = parseMessage(record.body);
    if (message === null || message.taskType !== taskType.name) {
      deps.telemetry.error('not a timer message for this task type; left for the DLQ', {
        messageId: record.messageId,
        taskType: taskType.name,
      });
      failures.push({ itemIdentifier: record.messageId });
      continue;
    }
    try {
      await processTaskMessage(deps, taskType, handler, message, lambda);
    } catch (error) {
      deps.telemetry.error('processing a timer message failed; it returns to the queue', {
        taskId: message.taskId,
        error: (error as Error).message,
      });
      failures.push({ itemIdentifier: record.messageId });
    }
  }
  deps.telemetry.flush();
  return { batchItemFailures: failures };
}

/**
 * Wraps a task handler as a Lambda handler for its task type's queue: a middy handler, so
 * you can `.use()` your own middlewares. Dependencies default to the real ones, read from
 * the environment at cold start.
 *
 * @example
 * export const handler = worker(sendDiscountCode, async (task, ctx) => {
 *   await mailer.send(task.input.email, { idempotencyKey: ctx.idempotencyKey });
 * }, () => defaultWorkerDeps('send-discount-code'));
 */
export function worker<Input = Json>(
  taskType: TaskType,
  handler: TaskHandler<Input>,
  deps: () => WorkerDeps,
) {
  let resolved: WorkerDeps | undefined;
  return middy<SQSEvent, SQSBatchResponse>().handler(async (event, context) => {
    resolved ??= deps();
    return processTaskBatch(resolved, taskType, handler as TaskHandler<never>, event, context);
  });
}
