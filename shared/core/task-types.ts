import { DefinitionError, describeValue, HourglassError } from './errors';
import type { JourneyControl } from './journey-controls';
import { assertPath, readPath } from './path';
import { formatDuration, parseDuration } from './time';
import { assertName, within } from './validation';

/** Task types: how tasks of one kind run (timeout, deadline, retries, concurrency, precision), and the statuses a task goes through. */

/** The states a task row goes through. The last four are terminal. */
export const TaskStatus = {
  SCHEDULED: 'SCHEDULED',
  RUNNING: 'RUNNING',
  COMPLETED: 'COMPLETED',
  FAILED: 'FAILED',
  CANCELLED: 'CANCELLED',
  EXPIRED: 'EXPIRED',
} as const;
/** One of {@link TaskStatus}. */
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];

/** Statuses after which a task never changes again. */
export const TERMINAL_STATUSES: ReadonlySet<TaskStatus> = new Set([
  TaskStatus.COMPLETED,
  TaskStatus.FAILED,
  TaskStatus.CANCELLED,
  TaskStatus.EXPIRED,
]);

/** How a task ended, as workflows see it: `"<task-type>.<outcome>"` is a trigger. */
export const TaskOutcome = {
  completed: 'completed',
  failed: 'failed',
  expired: 'expired',
  cancelled: 'cancelled',
} as const;
/** One of {@link TaskOutcome}. */
export type TaskOutcome = (typeof TaskOutcome)[keyof typeof TaskOutcome];

/** The outcome a terminal status is reported as. */
export const OUTCOME_OF_STATUS: Readonly<Record<string, TaskOutcome>> = {
  COMPLETED: 'completed',
  FAILED: 'failed',
  EXPIRED: 'expired',
  CANCELLED: 'cancelled',
};

/**
 * How close to its due time a task must start. `second` (the default): within about half a
 * second, from SQS delays, or for timers over 30 minutes away an EventBridge Scheduler
 * schedule set a few minutes early and then an SQS re-delay. `minute`: never before its due
 * time and within about two minutes after it, from a schedule set for the first whole
 * minute at or after the due time (Scheduler fires anywhere in that minute), with no
 * re-delay: one message and one worker invocation fewer per task. Timers within 30 minutes
 * use SQS delays either way.
 */
export const Precision = { second: 'second', minute: 'minute' } as const;
/** One of {@link Precision}. */
export type Precision = (typeof Precision)[keyof typeof Precision];

/** The concurrency caps SQS event sources allow ("maximum concurrency", 2–1000). */
export const CONCURRENCY_RANGE = { min: 2, max: 1000 } as const;

/** True for a concurrency cap SQS event sources accept: a whole number in {@link CONCURRENCY_RANGE}. */
export function isConcurrencyCap(value: unknown): value is number {
  return (
    Number.isInteger(value) &&
    (value as number) >= CONCURRENCY_RANGE.min &&
    (value as number) <= CONCURRENCY_RANGE.max
  );
}

/** How a failed attempt is retried. */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  /** `fixed` waits `initialMs` each time; `exponential` doubles it after each attempt. */
  readonly backoff: 'fixed' | 'exponential';
  /** The wait before the second attempt, in ms. */
  readonly initialMs: number;
  /** The longest wait between attempts, in ms. */
  readonly maxMs: number;
}

/** Options of {@link defineTaskType}. */
export interface TaskTypeOptions {
  /** The task type's name: kebab-case, unique, used in queue and function names. */
  readonly name: string;
  /**
   * How long one attempt may run before it is aborted (Temporal's StartToClose timeout).
   * @default '30s'
   */
  readonly timeout?: string;
  /**
   * The latest start, measured from the due time (Temporal's ScheduleToStart timeout). A
   * task not started by then is EXPIRED and never runs. @default no deadline
   */
  readonly deadline?: string;
  /**
   * How long the task may take in all, retries and backoffs included, measured from the
   * due time (Temporal's ScheduleToClose timeout). An attempt is cut short at it, and a
   * retry that would start after it is not made: the task is FAILED. @default no limit
   */
  readonly totalTimeout?: string;
  /** Retries of failed attempts. @default { maxAttempts: 3, backoff: 'exponential', initial: '10s', max: '5m' } */
  readonly retry?: {
    readonly maxAttempts?: number;
    readonly backoff?: 'fixed' | 'exponential';
    readonly initial?: string;
    readonly max?: string;
  };
  /** Most attempts of this type running at once (SQS maximum concurrency, 2–1000). @default no limit */
  readonly concurrency?: number;
  /** How close to the due time it must start. @default 'second' */
  readonly precision?: Precision;
  /**
   * The path, in the event that schedules a task, to the tenant it works for (e.g.
   * `detail.accountId`). Every message of the task carries it as its SQS message group, so
   * that one tenant's burst cannot starve the others on the task type's queue (SQS fair
   * queues; docs/workflows.md). An event without it is rejected. @default no tenant
   */
  readonly tenant?: string;
  /**
   * A journey control its tasks obey: never due in its quiet hours, and counted against its
   * caps. `overCap`: a task over a cap is dropped (CANCELLED with the reason) or deferred
   * to the next free slot. `pastDeadline`: when quiet hours would move a task past its
   * deadline, it is dropped, or runs at the end of the quiet hours with its deadline moved
   * as much. @default no control
   */
  readonly journey?: {
    readonly control: JourneyControl;
    /** @default 'defer' */
    readonly overCap?: 'drop' | 'defer';
    /** @default 'drop' */
    readonly pastDeadline?: 'drop' | 'run';
  };
}

/** What a task type's tasks obey of a journey control. */
export interface TaskJourney {
  readonly control: JourneyControl;
  readonly overCap: 'drop' | 'defer';
  readonly pastDeadline: 'drop' | 'run';
}

/** A validated task type. Build it with {@link defineTaskType}. */
export interface TaskType {
  readonly kind: 'task-type';
  readonly name: string;
  readonly timeoutMs: number;
  readonly deadlineMs: number | null;
  /** See {@link TaskTypeOptions.totalTimeout}. */
  readonly totalTimeoutMs: number | null;
  readonly retry: RetryPolicy;
  readonly concurrency: number | null;
  readonly precision: Precision;
  /** See {@link TaskTypeOptions.tenant}. */
  readonly tenantPath: string | null;
  /** See {@link TaskTypeOptions.journey}. */
  readonly journey: TaskJourney | null;
}

/**
 * Declares how tasks of one type run: timeout, deadline, retries, concurrency and
 * precision. Validated at once; the error names the field and the bad value.
 *
 * @example
 * const sendDiscountCode = defineTaskType({
 *   name: 'send-discount-code',
 *   deadline: '2h',
 *   retry: { maxAttempts: 3 },
 * });
 */
export function defineTaskType(options: TaskTypeOptions): TaskType {
  const where = `task type '${String(options?.name)}'`;
  assertName(options?.name, where);
  const retry = options.retry ?? {};
  const maxAttempts = retry.maxAttempts ?? 3;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new DefinitionError(
      where,
      `retry.maxAttempts must be an integer ≥ 1, got ${describeValue(maxAttempts)}`,
    );
  }
  const backoff = retry.backoff ?? 'exponential';
  if (backoff !== 'fixed' && backoff !== 'exponential') {
    throw new DefinitionError(
      where,
      `retry.backoff must be "fixed" or "exponential", got ${describeValue(backoff)}`,
    );
  }
  const initialMs = within(where, () => parseDuration(retry.initial ?? '10s', 'retry.initial'));
  const maxMs = within(where, () => parseDuration(retry.max ?? '5m', 'retry.max'));
  if (maxMs < initialMs) {
    throw new DefinitionError(
      where,
      `retry.max (${formatDuration(maxMs)}) must not be shorter than retry.initial (${formatDuration(initialMs)})`,
    );
  }
  const timeoutMs = within(where, () => parseDuration(options.timeout ?? '30s', 'timeout'));
  if (timeoutMs < 1_000 || timeoutMs > 15 * 60_000) {
    throw new DefinitionError(
      where,
      `timeout must be between 1s and 15m (the Lambda limit), got ${JSON.stringify(options.timeout)}`,
    );
  }
  const deadlineMs =
    options.deadline === undefined
      ? null
      : within(where, () => parseDuration(options.deadline, 'deadline'));
  const totalTimeoutMs = totalTimeoutOf(options, where, timeoutMs, deadlineMs);
  const concurrency = options.concurrency ?? null;
  if (concurrency !== null && !isConcurrencyCap(concurrency)) {
    throw new DefinitionError(
      where,
      `concurrency must be an integer from ${CONCURRENCY_RANGE.min} to ${CONCURRENCY_RANGE.max} (SQS maximum concurrency), got ${describeValue(concurrency)}; leave it out for no limit`,
    );
  }
  if ((options as { lane?: unknown }).lane !== undefined) {
    throw new DefinitionError(
      where,
      'lane is no longer an option: lanes were never enforced; cap a task type with concurrency instead',
    );
  }
  const precision = options.precision ?? Precision.second;
  if (!Object.values(Precision).includes(precision)) {
    throw new DefinitionError(
      where,
      `precision must be "second" or "minute", got ${describeValue(precision)}`,
    );
  }
  const journey = journeyOf(options, where);
  const tenantPath = options.tenant ?? null;
  if (tenantPath !== null) within(where, () => assertPath(tenantPath, 'tenant'));
  return {
    kind: 'task-type',
    name: options.name,
    timeoutMs,
    deadlineMs,
    totalTimeoutMs,
    retry: { maxAttempts, backoff, initialMs, maxMs },
    concurrency,
    precision,
    tenantPath,
    journey,
  };
}

/** The journey control options of a task type, checked. */
function journeyOf(options: TaskTypeOptions, where: string): TaskJourney | null {
  const journey = options.journey;
  if (journey === undefined) return null;
  if ((journey?.control as JourneyControl | undefined)?.kind !== 'journey-control') {
    throw new DefinitionError(
      where,
      `journey.control must be made with defineJourneyControl(), got ${describeValue(journey?.control)}`,
    );
  }
  const overCap = journey.overCap ?? 'defer';
  const pastDeadline = journey.pastDeadline ?? 'drop';
  if (overCap !== 'drop' && overCap !== 'defer') {
    throw new DefinitionError(
      where,
      `journey.overCap must be "drop" or "defer", got ${describeValue(overCap)}`,
    );
  }
  if (pastDeadline !== 'drop' && pastDeadline !== 'run') {
    throw new DefinitionError(
      where,
      `journey.pastDeadline must be "drop" or "run", got ${describeValue(pastDeadline)}`,
    );
  }
  return { control: journey.control, overCap, pastDeadline };
}

/**
 * The longest tenant SQS takes as a message group id ("MessageGroupId … can be up to 128
 * characters long. Valid values: alphanumeric characters and punctuation"), SendMessage.
 */
export const MAX_TENANT_LENGTH = 128;
const TENANT = /^[\x21-\x7e]{1,128}$/;

/**
 * The tenant of a task of `taskType` scheduled by `event`, or null when the type names
 * none. Throws, saying what to fix, when the event lacks it or it cannot be a message group.
 */
export function tenantOf(taskType: TaskType, event: unknown): string | null {
  if (taskType.tenantPath === null) return null;
  const value = readPath(event, taskType.tenantPath);
  const tenant = typeof value === 'number' ? String(value) : value;
  if (typeof tenant !== 'string' || !TENANT.test(tenant)) {
    throw new HourglassError(
      `${taskType.tenantPath} is ${tenant === undefined ? 'missing' : `${describeValue(value)}, not 1 to ${MAX_TENANT_LENGTH} letters, digits or punctuation`}: task type '${taskType.name}' groups its tasks by tenant there (its tenant option)`,
    );
  }
  return tenant;
}

/** The total timeout of a task type, checked against its timeout and deadline. */
function totalTimeoutOf(
  options: TaskTypeOptions,
  where: string,
  timeoutMs: number,
  deadlineMs: number | null,
): number | null {
  if (options.totalTimeout === undefined) return null;
  const totalMs = within(where, () => parseDuration(options.totalTimeout, 'totalTimeout'));
  if (totalMs < timeoutMs) {
    throw new DefinitionError(
      where,
      `totalTimeout (${formatDuration(totalMs)}) is shorter than one attempt's timeout (${formatDuration(timeoutMs)}): lengthen totalTimeout or shorten timeout`,
    );
  }
  if (deadlineMs !== null && deadlineMs > totalMs) {
    throw new DefinitionError(
      where,
      `deadline (${formatDuration(deadlineMs)}) is later than totalTimeout (${formatDuration(totalMs)}): a task could never start after ${formatDuration(totalMs)}; shorten deadline or lengthen totalTimeout`,
    );
  }
  return totalMs;
}

/**
 * When a task of this type must be done by, retries included (its due time plus the total
 * timeout), or null when the type has no total timeout.
 */
export function totalDeadline(taskType: TaskType, dueAt: number): number | null {
  return taskType.totalTimeoutMs === null ? null : dueAt + taskType.totalTimeoutMs;
}

/** The cause recorded when a task fails for its total timeout. */
export function totalTimeoutCause(taskType: TaskType): string {
  return `total timeout (ScheduleToClose) of ${formatDuration(taskType.totalTimeoutMs ?? 0)} passed, retries included`;
}

/** The wait before attempt `attempt + 1` after attempt `attempt` failed. */
export function backoffMs(retry: RetryPolicy, attempt: number): number {
  const wait =
    retry.backoff === 'fixed' ? retry.initialMs : retry.initialMs * 2 ** Math.max(0, attempt - 1);
  return Math.min(wait, retry.maxMs);
}

/** Throws unless `value` is a task type made with defineTaskType. */
export function assertTaskType(
  value: unknown,
  where: string,
  field: string,
): asserts value is TaskType {
  if ((value as TaskType)?.kind !== 'task-type') {
    throw new DefinitionError(
      where,
      `${field} must be a task type made with defineTaskType(), got ${describeValue(value)}`,
    );
  }
}
