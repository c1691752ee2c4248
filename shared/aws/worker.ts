import type { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import {
  backoffMs,
  type Json,
  TaskStatus,
  type TaskType,
  totalDeadline,
  totalTimeoutCause,
} from '../core/definitions';
import { resultRefusal, runAttempt, warnWhileRunning } from './attempt';
import type { CapStore } from './caps';
import { NonRetryableError, RetryAfterError, TaskTimeoutError } from './errors';
import {
  delaySecondsFor,
  parseTaskMessage,
  sendTimers,
  type TaskMessage,
  type TimerSend,
} from './messages';
import { gatherRedelays, sendAgain } from './resend';
import { defaultWorkerDeps } from './runtime';
import { LEASE_MARGIN_MS } from './settings';
import type { TaskItem } from './table';
import type { TaskStore } from './tasks';
import { Metric, type Telemetry } from './telemetry';
import { passCaps, releaseCap } from './worker-caps';

export { LEASE_MARGIN_MS } from './settings';

/** When a claim made at `at` for a task of this type runs out. */
export function leaseEnd(taskType: TaskType, at: number): number {
  return at + taskType.timeoutMs + LEASE_MARGIN_MS;
}
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
  /** 1 for the first attempt; a re-claim after a crash or a retry after a failure adds one. */
  readonly attempt: number;
  /**
   * The same for every attempt of the task (it is the task id): pass it to the service you
   * call (an `Idempotency-Key` header, a conditional write) so that an effect which
   * succeeded in an attempt whose result was lost (a crash, a timeout, a lost completion
   * write) is not made twice by the next attempt. See docs/runtime.md.
   */
  readonly idempotencyKey: string;
  /** The latest start the task type allows, or null. */
  readonly deadline: Date | null;
  /**
   * Aborts when the attempt reaches the task type's timeout. Pass it to every call that
   * takes one (`fetch(url, { signal })`, the AWS SDK's `abortSignal`) and stop when it
   * fires: the worker waits for the handler to return before it ends the invocation, and
   * Lambda ends a handler that never returns at the function timeout.
   */
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

/**
 * A worker's business logic. Throw to fail the attempt (see NonRetryableError and
 * RetryAfterError); return small JSON (at most 4 KB) to keep it as the task's result, in
 * its completed event's `detail.result` for the workflow's guards and assigns.
 */
export type TaskHandler<Input = Json> = (
  task: Task<Input>,
  ctx: TaskContext,
  // biome-ignore lint/suspicious/noConfusingVoidType: a handler returns nothing, or its result
) => Promise<void | Json>;

/** What the worker middleware needs. */
export interface WorkerDeps {
  /** The task rows: every transition is one conditional write (see `dynamoTaskStore`). */
  readonly tasks: TaskStore;
  /** Epoch ms now. */
  readonly clock: () => number;
  readonly sqs: SQSClient;
  /** The task type's own queue, for re-delaying an early message or handing one back. */
  readonly queueUrl: string;
  readonly telemetry: Telemetry;
  /** How much faster than real time the clock runs (the local cloud's compression). @default 1 */
  readonly timeScale?: number;
  /** Waits this many clock ms (real ms divided by `timeScale`). @default a timer */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Frequency caps of journey controls. Required for a task type whose control has caps. */
  readonly caps?: CapStore;
}

/** What became of one message. */
export type MessageOutcome =
  | 'completed'
  | 'retrying'
  | 'failed'
  | 'expired'
  | 'redelayed'
  | 'handed-back'
  | 'skipped-missing'
  | 'skipped-stale'
  | 'skipped-finished'
  | 'skipped-claimed'
  | 'deferred'
  | 'lost-race';

/** The options of {@link processTaskMessage}. */
export interface MessageOptions {
  /** The Lambda context, when running in Lambda. */
  readonly lambda?: Context;
  /**
   * Asked just before the claim: false hands the message back unclaimed (the invocation
   * has not the time left to run an attempt to its timeout). @default always true
   */
  readonly hasTimeForAttempt?: () => boolean;
  /**
   * Takes an early message to send again with a delay until `runAt`, so a batch sends all
   * of its re-delays in one SendMessageBatch. Without it, the message is sent at once.
   */
  readonly redelay?: (message: TaskMessage, runAt: number) => void;
  /**
   * Takes a handler that outlived its timed-out attempt (it ignored its signal) and settles
   * when it returns. Without it, {@link processTaskMessage} waits for the handler itself
   * before returning.
   */
  readonly onAbandoned?: (handlerReturned: Promise<void>) => void;
}

/**
 * A timer message's arrival: the task as it is now, or what became of the message instead
 * (the task is gone, stale, finished or claimed by a live attempt; or the message came more
 * than {@link EARLY_WAIT_MS} early and went back to the queue). A message less early than
 * that waits here for the run time; `now` is when the attempt may start.
 */
async function arrive(
  deps: WorkerDeps,
  message: TaskMessage,
  redelay?: MessageOptions['redelay'],
): Promise<
  | { readonly outcome: MessageOutcome; readonly task?: undefined; readonly now?: undefined }
  | { readonly outcome?: undefined; readonly task: TaskItem; readonly now: number }
> {
  const task = await deps.tasks.get(message);
  if (task === undefined) {
    deps.telemetry.warn('timer for a task that does not exist; skipped', { ...message });
    return { outcome: 'skipped-missing' };
  }
  if (message.generation < task.generation) return { outcome: 'skipped-stale' };
  if (task.status !== TaskStatus.SCHEDULED && task.status !== TaskStatus.RUNNING)
    return { outcome: 'skipped-finished' };

  const timeScale = deps.timeScale ?? 1;
  let now = deps.clock();
  if (task.status === TaskStatus.RUNNING) {
    if ((task.leaseUntil ?? 0) > now) return { outcome: 'skipped-claimed' };
    // else the last attempt's worker died or timed out without a word: re-claim it
  } else if (task.runAt - now > EARLY_WAIT_MS) {
    if (redelay !== undefined) {
      redelay(message, task.runAt);
      return { outcome: 'redelayed' };
    }
    const unsent = await sendTimers(deps.sqs, [
      { queueUrl: deps.queueUrl, message, delaySeconds: delaySecondsFor(task.runAt, now) },
    ]);
    if (unsent.length > 0) throw new Error(`re-delaying the timer of task ${task.taskId} failed`);
    return { outcome: 'redelayed' };
  } else if (task.runAt > now) {
    // Early by less than EARLY_WAIT_MS: wait for the run time here. The claim below is
    // conditional, so a cancel written meanwhile still wins.
    const sleep = deps.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms / timeScale)));
    // Timers may fire a millisecond before the clock shows the run time: wait one more.
    while (now < task.runAt) {
      await sleep(task.runAt - now + 1);
      now = deps.clock();
    }
  }
  return { task, now };
}

/** The outcome of a transition write: counted when it won, `lost-race` when it did not. */
function countWin(
  deps: WorkerDeps,
  task: TaskItem,
  won: boolean,
  metric: Metric,
  outcome: MessageOutcome,
): MessageOutcome {
  if (!won) return 'lost-race';
  deps.telemetry.count(metric, 1, { taskType: task.taskType });
  return outcome;
}

/**
 * Handles one timer message for a task: load the row; skip it when cancelled, finished or
 * stale; re-delay it when early; expire it past its deadline; hand it back when the
 * invocation is out of time; claim it with a conditional write; run the handler; then
 * complete it, or reschedule it after the backoff, or fail it. A message for a RUNNING task
 * whose lease ran out re-claims it (crash recovery).
 */
export async function processTaskMessage(
  deps: WorkerDeps,
  taskType: TaskType,
  handler: TaskHandler<never>,
  message: TaskMessage,
  options: MessageOptions = {},
): Promise<MessageOutcome> {
  const arrived = await arrive(deps, message, options.redelay);
  if (arrived.outcome !== undefined) return arrived.outcome;
  const { task, now } = arrived;

  const counted = (won: boolean, metric: Metric, outcome: MessageOutcome) =>
    countWin(deps, task, won, metric, outcome);
  if (task.deadlineAt !== null && now > task.deadlineAt)
    return counted(await deps.tasks.expire(task, now), Metric.expired, 'expired');
  // The total timeout (retries included) passed while it waited: it fails, unrun.
  const limit = totalDeadline(taskType, task.dueAt);
  if (limit !== null && now > limit) {
    const cause = totalTimeoutCause(taskType);
    return counted(await deps.tasks.fail(task, null, now, cause), Metric.failed, 'failed');
  }
  const attempt = task.attempt + 1;
  if (attempt > taskType.retry.maxAttempts) {
    const reason = 'every attempt ended without a result (worker crash or timeout)';
    return counted(await deps.tasks.fail(task, null, now, reason), Metric.failed, 'failed');
  }
  if (options.hasTimeForAttempt?.() === false) return 'handed-back';
  const capped = await passCaps(deps, taskType, task, now);
  if (capped !== null) return capped;
  const leaseUntil = leaseEnd(taskType, now);
  if (!(await deps.tasks.claim(task, { at: now, leaseUntil }))) {
    await releaseCap(deps, taskType, task);
    return 'lost-race';
  }
  deps.telemetry.latency(Metric.lateness, Math.max(0, now - task.runAt), {
    taskType: task.taskType,
  });

  const result = await runAttempt(
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
      idempotencyKey: task.taskId,
      deadline: task.deadlineAt === null ? null : new Date(task.deadlineAt),
      lambda: options.lambda,
    },
    // An attempt is cut short at the total timeout.
    limit === null ? taskType.timeoutMs : Math.min(taskType.timeoutMs, Math.max(1, limit - now)),
    deps.timeScale ?? 1,
  );
  const done = deps.clock();
  if (result.ok) return recordSuccess(deps, task, attempt, result.value, done);
  const outcome = await recordFailure(deps, taskType, task, {
    attempt,
    error: result.error,
    done,
    leaseUntil,
    limit,
  });
  const returned = warnWhileRunning(deps, task, result.settled, deps.timeScale ?? 1);
  if (options.onAbandoned) options.onAbandoned(returned);
  else await returned;
  return outcome;
}

/**
 * Records a successful attempt: COMPLETED with the handler's result; FAILED when the
 * result cannot be kept (not JSON, or over the size limit: retrying cannot fix it).
 */
async function recordSuccess(
  deps: WorkerDeps,
  task: TaskItem,
  attempt: number,
  value: unknown,
  done: number,
): Promise<MessageOutcome> {
  const refused = resultRefusal(value);
  if (refused !== null) {
    const won = await deps.tasks.fail(task, attempt, done, refused);
    return countWin(deps, task, won, Metric.failed, 'failed');
  }
  if (await deps.tasks.complete(task, attempt, done, value as Json | undefined))
    return countWin(deps, task, true, Metric.completed, 'completed');
  deps.telemetry.warn(
    'the attempt finished after its lease was taken over; its result is not recorded',
    { taskId: task.taskId, attempt },
  );
  return 'lost-race';
}

/**
 * Records a failed attempt: FAILED when it may not be retried (a `NonRetryableError`, the
 * last attempt, or no time left within the total timeout), else SCHEDULED again after the
 * backoff.
 */
async function recordFailure(
  deps: WorkerDeps,
  taskType: TaskType,
  task: TaskItem,
  failed: {
    readonly attempt: number;
    readonly error: unknown;
    readonly done: number;
    readonly leaseUntil: number;
    /** The total timeout's end, or null. */
    readonly limit: number | null;
  },
): Promise<MessageOutcome> {
  const { attempt, error, done, leaseUntil, limit } = failed;
  const counted = (won: boolean, metric: Metric, outcome: MessageOutcome) =>
    countWin(deps, task, won, metric, outcome);
  const reason =
    `${(error as Error)?.name ?? 'Error'}: ${(error as Error)?.message ?? String(error)}`.slice(
      0,
      1_000,
    );
  if (NonRetryableError.is(error) || attempt >= taskType.retry.maxAttempts)
    return counted(await deps.tasks.fail(task, attempt, done, reason), Metric.failed, 'failed');
  const runAt = retryAt(taskType, error, attempt, done, leaseUntil);
  if (limit !== null && runAt > limit) {
    // No time left for another attempt within the total timeout: not retried.
    const cause = `${reason}; ${totalTimeoutCause(taskType)}`.slice(0, 1_000);
    return counted(await deps.tasks.fail(task, attempt, done, cause), Metric.failed, 'failed');
  }
  const won = await deps.tasks.retry(task, attempt, { at: done, runAt, reason });
  return counted(won, Metric.retried, 'retrying');
}

/**
 * When the next attempt after a failed one may start: after the backoff (or the delay a
 * `RetryAfterError` asks for). A timed-out handler may still be running (it may ignore its
 * signal): its retry waits for the lease, which outlasts the function, so two attempts
 * never overlap.
 */
function retryAt(
  taskType: TaskType,
  error: unknown,
  attempt: number,
  done: number,
  leaseUntil: number,
): number {
  const backoff = RetryAfterError.delayOf(error) ?? backoffMs(taskType.retry, attempt);
  return error instanceof TaskTimeoutError ? Math.max(done + backoff, leaseUntil) : done + backoff;
}

/**
 * Real ms an invocation keeps in hand beyond the task type's timeout before it claims
 * another task: the time to write the attempt's outcome and return the batch response.
 */
export const BATCH_RESERVE_MS = 3_000;

/**
 * Handles an SQS batch of timer messages for one task type.
 *
 * Records run concurrently, so the batch takes about as long as its slowest task and fits
 * the function timeout (the task type's timeout plus a margin). A task type with a
 * `concurrency` cap runs its records one after another instead, so that the cap counts
 * attempts, not invocations. Either way a message is claimed only while the invocation has
 * time left to run an attempt to its timeout (`getRemainingTimeInMillis`); the rest are
 * handed back at once, sent to the queue again as new messages, so they wait for neither
 * the visibility timeout nor count a receive toward the DLQ.
 *
 * A message that is not a timer message is reported as a batch item failure (so it reaches
 * the DLQ, never dropped); so is a message whose processing hit an AWS error.
 */
export async function processTaskBatch(
  deps: WorkerDeps,
  taskType: TaskType,
  handler: TaskHandler<never>,
  event: SQSEvent,
  lambda?: Context,
): Promise<SQSBatchResponse> {
  const failures: { itemIdentifier: string }[] = [];
  const handedBack: { messageId: string; timer: TimerSend }[] = [];
  const abandoned: Promise<void>[] = [];
  const redelays = gatherRedelays(deps);
  const handBack = (messageId: string, message: TaskMessage) =>
    handedBack.push({ messageId, timer: { queueUrl: deps.queueUrl, message } });
  const neededMs = taskType.timeoutMs / (deps.timeScale ?? 1) + BATCH_RESERVE_MS;
  // The first attempt of an invocation always runs (the function timeout is at least the
  // task type's timeout), so a batch always makes progress; the others need the time.
  let claims = 0;
  const hasTimeForAttempt = () => {
    if (claims > 0 && lambda !== undefined && lambda.getRemainingTimeInMillis() < neededMs)
      return false;
    claims += 1;
    return true;
  };
  const processRecord = async (record: SQSEvent['Records'][number]) => {
    const message = parseTaskMessage(record.body);
    if (message === null || message.taskType !== taskType.name) {
      deps.telemetry.error('not a timer message for this task type; left for the DLQ', {
        messageId: record.messageId,
        taskType: taskType.name,
      });
      failures.push({ itemIdentifier: record.messageId });
      return;
    }
    try {
      const outcome = await processTaskMessage(deps, taskType, handler, message, {
        lambda,
        hasTimeForAttempt,
        onAbandoned: (returned) => abandoned.push(returned),
        redelay: (early, runAt) => redelays.add(record.messageId, early, runAt),
      });
      if (outcome === 'handed-back') handBack(record.messageId, message);
    } catch (error) {
      deps.telemetry.error('processing a timer message failed; it returns to the queue', {
        taskId: message.taskId,
        error: (error as Error).message,
      });
      failures.push({ itemIdentifier: record.messageId });
    }
  };
  if (taskType.concurrency === null) {
    await Promise.all(event.Records.map(processRecord));
  } else {
    for (const record of event.Records) {
      // A handler still running past its timeout holds its slot of the cap: start nothing
      // more, hand the rest back.
      const message = abandoned.length > 0 ? parseTaskMessage(record.body) : null;
      if (message !== null && message.taskType === taskType.name)
        handBack(record.messageId, message);
      else await processRecord(record);
    }
  }

  failures.push(...(await sendAgain(deps, [], handedBack)), ...(await redelays.finish()));
  if (handedBack.length > 0)
    deps.telemetry.count(Metric.handedBack, handedBack.length, { taskType: taskType.name });
  // Only now, with every outcome written and the rest handed back, wait for handlers that
  // outlived their attempts: returning earlier would freeze them mid-flight, to resume in a
  // later invocation outside their lease. Lambda ends the invocation at its timeout if they
  // never return (AWS: "If the Lambda function crashes or times out during the Invoke
  // phase, Lambda resets the execution environment").
  await Promise.all(abandoned);
  deps.telemetry.flush();
  return { batchItemFailures: failures };
}

/**
 * Wraps a task handler as a Lambda handler for its task type's queue: a middy handler, so
 * you can `.use()` your own middlewares. Dependencies default to the real ones, read from
 * the environment at the first invocation (`defaultWorkerDeps`); tests pass their own.
 *
 * @example
 * export const handler = worker(sendDiscountCode, async (task, ctx) => {
 *   await mailer.send(task.input.email, { idempotencyKey: ctx.idempotencyKey, signal: ctx.signal });
 * });
 */
export function worker<Input = Json>(
  taskType: TaskType,
  handler: TaskHandler<Input>,
  deps: () => WorkerDeps = () => defaultWorkerDeps(taskType.name),
) {
  let resolved: WorkerDeps | undefined;
  return middy<SQSEvent, SQSBatchResponse>().handler(async (event, context) => {
    resolved ??= deps();
    return processTaskBatch(resolved, taskType, handler as TaskHandler<never>, event, context);
  });
}
