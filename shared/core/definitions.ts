import type { StandardSchemaV1 } from '@standard-schema/spec';
import { DefinitionError, describeValue, HourglassError } from './errors';
import { LIFECYCLE_SOURCE } from './lifecycle';
import { assertPath } from './path';
import { formatDuration, parseDuration } from './time';

/** A JSON value: what task inputs and workflow context must be, so they can be stored. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

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
 * second, from an SQS delay, or for timers over 15 minutes away an EventBridge Scheduler
 * schedule set a few minutes early and then an SQS re-delay. `minute`: never before its due
 * time and within about two minutes after it, from a schedule set for the first whole
 * minute at or after the due time (Scheduler fires anywhere in that minute), with no
 * re-delay: one message and one worker invocation fewer per task. Timers within 15 minutes
 * use an SQS delay either way.
 */
export const Precision = { second: 'second', minute: 'minute' } as const;
/** One of {@link Precision}. */
export type Precision = (typeof Precision)[keyof typeof Precision];

/** The concurrency caps SQS event sources allow ("maximum concurrency", 2–1000). */
export const CONCURRENCY_RANGE = { min: 2, max: 1000 } as const;

const NAME = /^[a-z][a-z0-9-]{0,39}$/;
const NAME_HELP = 'lower-case letters, digits and "-", starting with a letter, at most 40 long';

function assertName(value: unknown, where: string): asserts value is string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new DefinitionError(where, `name must be ${NAME_HELP}, got ${describeValue(value)}`);
  }
}

/** Runs a parser and turns its error into a DefinitionError that says where it happened. */
function within<T>(where: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof DefinitionError) throw error;
    if (error instanceof HourglassError) throw new DefinitionError(where, error.message);
    throw error;
  }
}

// ─── Task types ────────────────────────────────────────────────────────────────────────

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
  /** Start-to-close: how long one attempt may run before it is aborted. @default '30s' */
  readonly timeout?: string;
  /**
   * The latest start, measured from the due time. A task not started by then is EXPIRED
   * and never runs. @default no deadline
   */
  readonly deadline?: string;
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
}

/** A validated task type. Build it with {@link defineTaskType}. */
export interface TaskType {
  readonly kind: 'task-type';
  readonly name: string;
  readonly timeoutMs: number;
  readonly deadlineMs: number | null;
  readonly retry: RetryPolicy;
  readonly concurrency: number | null;
  readonly precision: Precision;
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
  const concurrency = options.concurrency ?? null;
  if (
    concurrency !== null &&
    (!Number.isInteger(concurrency) ||
      concurrency < CONCURRENCY_RANGE.min ||
      concurrency > CONCURRENCY_RANGE.max)
  ) {
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
  return {
    kind: 'task-type',
    name: options.name,
    timeoutMs,
    deadlineMs,
    retry: { maxAttempts, backoff, initialMs, maxMs },
    concurrency,
    precision,
  };
}

/** The wait before attempt `attempt + 1` after attempt `attempt` failed. */
export function backoffMs(retry: RetryPolicy, attempt: number): number {
  const wait =
    retry.backoff === 'fixed' ? retry.initialMs : retry.initialMs * 2 ** Math.max(0, attempt - 1);
  return Math.min(wait, retry.maxMs);
}

// ─── Events ────────────────────────────────────────────────────────────────────────────

/** An event type a workflow consumes: EventBridge `source` and `detail-type`, and the detail's schema. */
export interface EventType<
  Name extends string = string,
  Schema extends StandardSchemaV1 = StandardSchemaV1,
> {
  readonly kind: 'event-type';
  readonly source: string;
  readonly detailType: Name;
  readonly schema: Schema;
  /**
   * Where the event's own time is, when finer than EventBridge's: a path into the detail
   * such as `detail.occurredAt` (an ISO-8601 time with an offset, milliseconds kept). Events
   * without it use the envelope's `time`, which EventBridge keeps to the whole second.
   */
  readonly timeField?: string;
}

/**
 * Declares an event type. The schema is any Standard Schema (Zod, Valibot, ArkType, …);
 * events whose detail fails it are rejected with the schema's message and path.
 *
 * Events of one key are applied in event-time order, ties broken by event id. EventBridge's
 * `time` has whole-second precision, so two events of one key in the same second are
 * ordered by their (random) ids: name a finer time in the detail with `timeField` when the
 * producer has one.
 *
 * @example
 * const UserRegistered = defineEvent({
 *   source: 'shop',
 *   detailType: 'UserRegistered',
 *   schema: z.object({ userId: z.string(), email: z.string() }),
 * });
 */
export function defineEvent<const Name extends string, Schema extends StandardSchemaV1>(options: {
  readonly source: string;
  readonly detailType: Name;
  readonly schema: Schema;
  readonly timeField?: string;
}): EventType<Name, Schema> {
  const where = `event '${String(options?.detailType)}'`;
  if (
    typeof options?.detailType !== 'string' ||
    !/^[A-Za-z][\w.-]{0,127}$/.test(options.detailType)
  ) {
    throw new DefinitionError(
      where,
      `detailType must be letters, digits, ".", "_" or "-", starting with a letter, got ${describeValue(options?.detailType)}`,
    );
  }
  if (options.detailType.includes('.')) {
    throw new DefinitionError(
      where,
      'detailType must not contain "." because "<task-type>.<outcome>" names task outcomes',
    );
  }
  if (typeof options.source !== 'string' || options.source.length === 0) {
    throw new DefinitionError(
      where,
      `source must be a non-empty string such as "shop", got ${describeValue(options.source)}`,
    );
  }
  if (options.source === LIFECYCLE_SOURCE) {
    throw new DefinitionError(
      where,
      `source "${LIFECYCLE_SOURCE}" is reserved for the task lifecycle events Hourglass publishes`,
    );
  }
  if (typeof options.schema?.['~standard']?.validate !== 'function') {
    throw new DefinitionError(
      where,
      'schema must be a Standard Schema (for example a Zod, Valibot or ArkType schema)',
    );
  }
  if (
    options.timeField !== undefined &&
    (typeof options.timeField !== 'string' ||
      !/^detail(\.[A-Za-z_$][\w$]*)+$/.test(options.timeField))
  ) {
    throw new DefinitionError(
      where,
      `timeField must be a path into the detail such as "detail.occurredAt", got ${describeValue(options.timeField)}`,
    );
  }
  return { kind: 'event-type', ...options };
}

/** The event as workflow functions (guards, assign, input) see it. */
export interface WorkflowEvent<Detail = unknown> {
  readonly id: string;
  readonly source: string;
  readonly detailType: string;
  /** Event time, ISO-8601 UTC. */
  readonly time: string;
  readonly detail: Detail;
}

/** The detail of a task outcome trigger such as `send-discount-code.completed`. */
export interface TaskOutcomeDetail {
  readonly taskId: string;
  readonly taskType: string;
  readonly outcome: TaskOutcome;
  readonly attempts: number;
  readonly input: Json;
}

// ─── Workflows ─────────────────────────────────────────────────────────────────────────

/** What guards, `assign` and `input` functions receive. */
export interface TransitionArgs<Context, Detail> {
  readonly context: Context;
  readonly event: WorkflowEvent<Detail>;
}

/** A named condition on a transition; the name labels the diagram. */
export interface Guard<Context, Detail> {
  readonly name: string;
  readonly test: (args: TransitionArgs<Context, Detail>) => boolean;
}

/**
 * What to do when a trigger finds a pending task of the same type in the instance.
 * - `keep-first`: keep the pending task as it is (one reminder per user).
 * - `replace`: move the pending task to the new due time and input.
 * - `per-trigger`: schedule one more task for every trigger.
 * - `{ debounce: { period, maxWait } }`: due `period` after the latest trigger of the
 *   burst, but never later than `maxWait` after the burst's first trigger.
 */
export type CollapsePolicy =
  | 'keep-first'
  | 'replace'
  | 'per-trigger'
  | { readonly debounce: { readonly period: string; readonly maxWait?: string } };

/** Schedules a task from a transition. */
export interface ScheduleSpec<Context, Detail> {
  readonly task: TaskType;
  /** Due this long after the event time. Leave out both `after` and `at` for "at once". */
  readonly after?: string;
  /** Due at the absolute time in this event field, e.g. `detail.publishAt`. */
  readonly at?: string;
  /**
   * Overrides the task type's deadline: `{ after }` measured from the event time, or
   * `{ at }` read from an event field. @default the task type's deadline after the due time
   */
  readonly deadline?: { readonly after: string } | { readonly at: string };
  /** @default 'keep-first' */
  readonly collapse?: CollapsePolicy;
  /** The task's input. @default the event's detail */
  readonly input?: (args: TransitionArgs<Context, Detail>) => Json;
}

/** Refreshes the input of a pending task (its due time stays). */
export interface UpdateSpec<Context, Detail> {
  readonly task: TaskType;
  readonly input: (args: TransitionArgs<Context, Detail>) => Json;
}

/** One transition: optional guard, then context update, then task actions, then the move. */
export interface TransitionSpec<Context, Detail> {
  /** The next state. @default stay in the current state */
  readonly target?: string;
  readonly guard?: Guard<Context, Detail>;
  readonly assign?: (args: TransitionArgs<Context, Detail>) => Context;
  readonly schedule?: ScheduleSpec<Context, Detail> | readonly ScheduleSpec<Context, Detail>[];
  readonly cancel?: TaskType | readonly TaskType[];
  readonly update?: UpdateSpec<Context, Detail> | readonly UpdateSpec<Context, Detail>[];
}

type OneOrMany<T> = T | readonly T[];
type DetailOf<E> = E extends EventType<string, infer S> ? StandardSchemaV1.InferOutput<S> : never;
type EventNamed<Events extends readonly EventType[], Name> = Extract<
  Events[number],
  { detailType: Name }
>;

/** A state: its transitions keyed by event detail-type or `"<task-type>.<outcome>"`. */
export interface StateSpec<Events extends readonly EventType[], Context> {
  /** A final state ends the instance; it has no transitions. @default false */
  readonly final?: boolean;
  readonly on?: {
    readonly [Name in Events[number]['detailType']]?: OneOrMany<
      TransitionSpec<Context, DetailOf<EventNamed<Events, Name>>>
    >;
  } & {
    readonly [outcome: `${string}.${TaskOutcome}`]: OneOrMany<
      TransitionSpec<Context, TaskOutcomeDetail>
    >;
  };
}

/** Options of {@link defineWorkflow}. */
export interface WorkflowOptions<Events extends readonly EventType[], Context> {
  /** Kebab-case, unique among workflows. */
  readonly name: string;
  /** Path to the correlation key in the event, e.g. `detail.userId`. */
  readonly key: string;
  /** The event types this workflow consumes. */
  readonly events: Events;
  readonly initial: string;
  /** Extended state, a JSON object. @default {} */
  readonly context?: Context;
  readonly states: Readonly<Record<string, StateSpec<Events, Context>>>;
  /**
   * How long an instance keeps its events in full. Older events are folded into a
   * snapshot; an event older than the snapshot is rejected as too late. @default '7d'
   */
  readonly retain?: string;
}

/** A compiled schedule action. */
export interface ScheduleAction {
  readonly task: TaskType;
  readonly afterMs: number | null;
  readonly atPath: string | null;
  readonly deadline:
    | { readonly afterMs: number; readonly atPath?: undefined }
    | { readonly atPath: string; readonly afterMs?: undefined }
    | null;
  readonly collapse:
    | { readonly kind: 'keep-first' | 'replace' | 'per-trigger' }
    | { readonly kind: 'debounce'; readonly periodMs: number; readonly maxWaitMs: number | null };
  readonly input: ((args: TransitionArgs<unknown, unknown>) => Json) | null;
}

/** A compiled transition. */
export interface Transition {
  readonly trigger: string;
  readonly source: string;
  readonly target: string;
  readonly guard: Guard<unknown, unknown> | null;
  readonly assign: ((args: TransitionArgs<unknown, unknown>) => unknown) | null;
  readonly schedules: readonly ScheduleAction[];
  readonly cancels: readonly TaskType[];
  readonly updates: readonly {
    readonly task: TaskType;
    readonly input: (args: TransitionArgs<unknown, unknown>) => Json;
  }[];
}

/** A compiled state. */
export interface State {
  readonly name: string;
  readonly final: boolean;
  /** Transitions by trigger, in the order their guards are tried. */
  readonly on: Readonly<Record<string, readonly Transition[]>>;
}

/** A validated workflow. Build it with {@link defineWorkflow} or {@link defineRule}. */
export interface Workflow {
  readonly kind: 'workflow';
  readonly name: string;
  readonly keyPath: string;
  readonly events: readonly EventType[];
  readonly initial: string;
  readonly initialContext: unknown;
  readonly states: Readonly<Record<string, State>>;
  readonly retainMs: number;
  /** Every task type the workflow schedules, cancels or updates. */
  readonly taskTypes: readonly TaskType[];
  /** Every transition, in definition order. */
  readonly transitions: readonly Transition[];
}

const STATE_NAME = /^[A-Za-z][\w-]{0,63}$/;

function many<T>(value: OneOrMany<T> | undefined): readonly T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

function assertTaskType(value: unknown, where: string, field: string): asserts value is TaskType {
  if ((value as TaskType)?.kind !== 'task-type') {
    throw new DefinitionError(
      where,
      `${field} must be a task type made with defineTaskType(), got ${describeValue(value)}`,
    );
  }
}

function compileSchedule(spec: ScheduleSpec<unknown, unknown>, where: string): ScheduleAction {
  assertTaskType(spec?.task, where, 'schedule.task');
  const here = `${where} schedule '${spec.task.name}'`;
  if (spec.after !== undefined && spec.at !== undefined) {
    throw new DefinitionError(here, 'give either after (a delay) or at (an event field), not both');
  }
  const afterMs =
    spec.after === undefined ? null : within(here, () => parseDuration(spec.after, 'after'));
  const atPath = spec.at ?? null;
  if (atPath !== null) within(here, () => assertPath(atPath, 'at'));

  let deadline: ScheduleAction['deadline'] = null;
  if (spec.deadline !== undefined) {
    const d = spec.deadline as { after?: string; at?: string };
    if ((d.after === undefined) === (d.at === undefined)) {
      throw new DefinitionError(
        here,
        'deadline must be { after: "<duration from the event time>" } or { at: "<event field>" }',
      );
    }
    if (d.at !== undefined) {
      within(here, () => assertPath(d.at, 'deadline.at'));
      deadline = { atPath: d.at };
    } else {
      const deadlineAfterMs = within(here, () => parseDuration(d.after, 'deadline.after'));
      if (atPath === null && deadlineAfterMs < (afterMs ?? 0)) {
        throw new DefinitionError(
          here,
          `deadline.after (${d.after}) is shorter than after (${spec.after}), so the task would always expire; make deadline.after longer than after, or use the task type's deadline, which counts from the due time`,
        );
      }
      deadline = { afterMs: deadlineAfterMs };
    }
  }

  const policy = spec.collapse ?? 'keep-first';
  let collapse: ScheduleAction['collapse'];
  if (policy === 'keep-first' || policy === 'replace' || policy === 'per-trigger') {
    collapse = { kind: policy };
  } else if (typeof policy === 'object' && policy !== null && 'debounce' in policy) {
    if (spec.after !== undefined || spec.at !== undefined) {
      throw new DefinitionError(
        here,
        'a debounce sets the due time itself (period after the latest trigger); remove after/at',
      );
    }
    const periodMs = within(here, () =>
      parseDuration(policy.debounce?.period, 'collapse.debounce.period'),
    );
    const maxWaitMs =
      policy.debounce.maxWait === undefined
        ? null
        : within(here, () => parseDuration(policy.debounce.maxWait, 'collapse.debounce.maxWait'));
    if (maxWaitMs !== null && maxWaitMs < periodMs) {
      throw new DefinitionError(
        here,
        `collapse.debounce.maxWait (${policy.debounce.maxWait}) must not be shorter than its period (${policy.debounce.period})`,
      );
    }
    collapse = { kind: 'debounce', periodMs, maxWaitMs };
  } else {
    throw new DefinitionError(
      here,
      `collapse must be "keep-first", "replace", "per-trigger" or { debounce: { period, maxWait } }, got ${describeValue(policy)}`,
    );
  }
  if (spec.input !== undefined && typeof spec.input !== 'function') {
    throw new DefinitionError(here, 'input must be a function ({ context, event }) => JSON');
  }
  return {
    task: spec.task,
    afterMs: afterMs ?? (atPath === null && collapse.kind !== 'debounce' ? 0 : null),
    atPath,
    deadline,
    collapse,
    input: spec.input ?? null,
  };
}

/**
 * Declares a workflow: a finite state machine over one correlation key. Events and task
 * outcomes move it between states; each move may update the context and schedule, cancel
 * or update tasks. Validated at once: unknown states, events or task types, bad durations,
 * unreachable guards and more fail with a message that says how to fix them.
 *
 * @example
 * const welcome = defineWorkflow({
 *   name: 'welcome-discount',
 *   key: 'detail.userId',
 *   events: [UserRegistered, OrderPlaced],
 *   initial: 'new',
 *   states: {
 *     new: { on: { UserRegistered: { target: 'waiting', schedule: { task: sendDiscountCode, after: '30m' } } } },
 *     waiting: { on: { OrderPlaced: { target: 'converted', cancel: sendDiscountCode } } },
 *     converted: { final: true },
 *   },
 * });
 */
export function defineWorkflow<
  const Events extends readonly EventType[],
  Context = Record<string, never>,
>(options: WorkflowOptions<Events, Context>): Workflow {
  const where = `workflow '${String(options?.name)}'`;
  assertName(options?.name, where);
  within(where, () => assertPath(options.key, 'key'));
  if (!Array.isArray(options.events) || options.events.length === 0) {
    throw new DefinitionError(where, 'events must list the event types it consumes (defineEvent)');
  }
  const eventNames = new Set<string>();
  for (const event of options.events) {
    if ((event as EventType)?.kind !== 'event-type') {
      throw new DefinitionError(
        where,
        `events must be made with defineEvent(), got ${describeValue(event)}`,
      );
    }
    if (eventNames.has(event.detailType)) {
      throw new DefinitionError(where, `event '${event.detailType}' is listed twice in events`);
    }
    eventNames.add(event.detailType);
  }
  const stateNames = Object.keys(options.states ?? {});
  if (stateNames.length === 0)
    throw new DefinitionError(where, 'states must define at least one state');
  if (!stateNames.includes(options.initial)) {
    throw new DefinitionError(
      where,
      `initial state '${options.initial}' is not defined; states are: ${stateNames.join(', ')}`,
    );
  }
  const retainMs = within(where, () => parseDuration(options.retain ?? '7d', 'retain'));
  const initialContext = options.context ?? {};
  if (
    typeof initialContext !== 'object' ||
    initialContext === null ||
    Array.isArray(initialContext)
  ) {
    throw new DefinitionError(where, 'context must be a JSON object');
  }

  // First pass: every schedule action, so outcome triggers can be checked against them.
  const scheduled = new Set<string>();
  for (const state of Object.values(options.states)) {
    for (const specs of Object.values(state.on ?? {})) {
      for (const spec of many(specs as OneOrMany<TransitionSpec<unknown, unknown>>)) {
        for (const s of many(spec?.schedule)) if (s?.task?.name) scheduled.add(s.task.name);
      }
    }
  }

  const taskTypes = new Map<string, TaskType>();
  const transitions: Transition[] = [];
  const states: Record<string, State> = {};
  for (const [name, spec] of Object.entries(options.states)) {
    const here = `${where} state '${name}'`;
    if (!STATE_NAME.test(name)) {
      throw new DefinitionError(
        here,
        'state names must be letters, digits, "_" or "-", starting with a letter',
      );
    }
    const final = spec?.final ?? false;
    const triggers = Object.entries(spec?.on ?? {});
    if (final && triggers.length > 0) {
      throw new DefinitionError(
        here,
        'a final state cannot have transitions; remove final or its on',
      );
    }
    const on: Record<string, Transition[]> = {};
    for (const [trigger, specs] of triggers) {
      const at = `${here} on '${trigger}'`;
      const dot = trigger.lastIndexOf('.');
      if (dot === -1) {
        if (!eventNames.has(trigger)) {
          throw new DefinitionError(
            at,
            `the workflow consumes no event '${trigger}'; add it to events or use one of: ${[...eventNames].join(', ')}`,
          );
        }
      } else {
        const task = trigger.slice(0, dot);
        const outcome = trigger.slice(dot + 1);
        if (!(outcome in TaskOutcome)) {
          throw new DefinitionError(
            at,
            `'${outcome}' is not a task outcome; use one of ${Object.keys(TaskOutcome).join(', ')}`,
          );
        }
        if (!scheduled.has(task)) {
          throw new DefinitionError(
            at,
            `the workflow never schedules a task of type '${task}', so this transition can never run`,
          );
        }
      }
      const alternatives = many(specs as OneOrMany<TransitionSpec<unknown, unknown>>);
      on[trigger] = alternatives.map((t, index) => {
        if (t === null || typeof t !== 'object') {
          throw new DefinitionError(at, `a transition must be an object, got ${describeValue(t)}`);
        }
        if (index < alternatives.length - 1 && t.guard === undefined) {
          throw new DefinitionError(
            at,
            `alternative ${index + 1} has no guard, so the alternatives after it can never run; give it a guard or move it last`,
          );
        }
        if (
          t.guard !== undefined &&
          (typeof t.guard.name !== 'string' || typeof t.guard.test !== 'function')
        ) {
          throw new DefinitionError(
            at,
            'guard must be { name: "<label>", test: ({ context, event }) => boolean }',
          );
        }
        const target = t.target ?? name;
        if (!stateNames.includes(target)) {
          throw new DefinitionError(
            at,
            `target state '${target}' is not defined; states are: ${stateNames.join(', ')}`,
          );
        }
        if (t.assign !== undefined && typeof t.assign !== 'function') {
          throw new DefinitionError(
            at,
            'assign must be a function ({ context, event }) => newContext',
          );
        }
        const schedules = many(t.schedule).map((s) => compileSchedule(s, at));
        const cancels = many(t.cancel).map((task, i) => {
          assertTaskType(task, at, `cancel[${i}]`);
          return task;
        });
        const updates = many(t.update).map((u, i) => {
          assertTaskType(u?.task, at, `update[${i}].task`);
          if (typeof u.input !== 'function') {
            throw new DefinitionError(
              at,
              `update[${i}].input must be a function ({ context, event }) => JSON`,
            );
          }
          return {
            task: u.task,
            input: u.input as (args: TransitionArgs<unknown, unknown>) => Json,
          };
        });
        for (const task of [
          ...schedules.map((s) => s.task),
          ...cancels,
          ...updates.map((u) => u.task),
        ]) {
          const known = taskTypes.get(task.name);
          if (known !== undefined && known !== task) {
            throw new DefinitionError(
              at,
              `two different task types are named '${task.name}'; give each a unique name`,
            );
          }
          taskTypes.set(task.name, task);
        }
        const transition: Transition = {
          trigger,
          source: name,
          target,
          guard: (t.guard as Guard<unknown, unknown> | undefined) ?? null,
          assign: (t.assign as Transition['assign'] | undefined) ?? null,
          schedules,
          cancels,
          updates,
        };
        transitions.push(transition);
        return transition;
      });
    }
    states[name] = { name, final, on };
  }

  return {
    kind: 'workflow',
    name: options.name,
    keyPath: options.key,
    events: options.events,
    initial: options.initial,
    initialContext,
    states,
    retainMs,
    taskTypes: [...taskTypes.values()],
    transitions,
  };
}

/** Options of {@link defineRule}. */
export interface RuleOptions<Trigger extends EventType> {
  readonly name: string;
  /** Path to the correlation key, e.g. `detail.imageId`. */
  readonly key: string;
  /** The event that schedules the task. */
  readonly on: Trigger;
  readonly schedule: ScheduleSpec<Record<string, never>, DetailOf<Trigger>>;
  /** Events that cancel the pending task. @default none */
  readonly cancelOn?: readonly EventType[];
  /** @default '7d' */
  readonly retain?: string;
}

/**
 * The shorthand for "on X schedule T; cancel on Y": compiles to a two-state workflow
 * (`idle` → `pending` on the trigger, back to `idle` on a cancel or the task's outcome).
 *
 * @example
 * const compress = defineRule({
 *   name: 'image-compression',
 *   key: 'detail.imageId',
 *   on: ImageUploaded,
 *   schedule: { task: compressImage },
 *   cancelOn: [ImageDeleted],
 * });
 */
export function defineRule<Trigger extends EventType>(options: RuleOptions<Trigger>): Workflow {
  const where = `rule '${String(options?.name)}'`;
  if ((options?.on as EventType | undefined)?.kind !== 'event-type') {
    throw new DefinitionError(where, 'on must be an event type made with defineEvent()');
  }
  assertTaskType(options.schedule?.task, where, 'schedule.task');
  const cancelOn = options.cancelOn ?? [];
  const task = options.schedule.task;
  const trigger = options.on.detailType;
  const cancels = Object.fromEntries(
    cancelOn.map((event) => [event.detailType, { target: 'idle', cancel: task }]),
  );
  const back = { target: 'idle' };
  return defineWorkflow({
    name: options.name,
    key: options.key,
    events: [options.on, ...cancelOn],
    initial: 'idle',
    retain: options.retain,
    states: {
      idle: { on: { [trigger]: { target: 'pending', schedule: options.schedule }, ...cancels } },
      pending: {
        on: {
          [trigger]: { target: 'pending', schedule: options.schedule },
          ...cancels,
          [`${task.name}.completed`]: back,
          [`${task.name}.failed`]: back,
          [`${task.name}.expired`]: back,
        },
      },
    },
  } as WorkflowOptions<readonly EventType[], Record<string, never>>);
}

// ─── The catalogue ─────────────────────────────────────────────────────────────────────

/** All definitions of one deployment. Build it with {@link defineHourglass}. */
export interface HourglassDefinitions {
  readonly kind: 'hourglass';
  readonly taskTypes: readonly TaskType[];
  readonly events: readonly EventType[];
  readonly workflows: readonly Workflow[];
}

/**
 * Gathers the task types, events and workflows of one deployment and checks that they fit
 * together: unique names, every task type a workflow uses is declared, one definition per
 * event type. This is what the CDK construct, the runtime, the CLI and the simulator read.
 *
 * @example
 * export default defineHourglass({
 *   taskTypes: [sendDiscountCode, discountReminder],
 *   workflows: [welcomeDiscount],
 * });
 */
export function defineHourglass(options: {
  readonly taskTypes: readonly TaskType[];
  readonly workflows: readonly Workflow[];
  /** Event types, including any no workflow consumes yet. @default the workflows' events */
  readonly events?: readonly EventType[];
}): HourglassDefinitions {
  const where = 'definitions';
  const taskTypes = new Map<string, TaskType>();
  for (const [i, task] of (options?.taskTypes ?? []).entries()) {
    assertTaskType(task, where, `taskTypes[${i}]`);
    if (taskTypes.has(task.name)) {
      throw new DefinitionError(where, `task type '${task.name}' is listed twice in taskTypes`);
    }
    taskTypes.set(task.name, task);
  }
  const workflows = new Map<string, Workflow>();
  const events = new Map<string, EventType>();
  const addEvent = (event: EventType, from: string) => {
    const id = `${event.source}/${event.detailType}`;
    const known = events.get(id);
    if (known !== undefined && known !== event) {
      throw new DefinitionError(
        where,
        `${from} defines event '${event.detailType}' from '${event.source}' again; define each event once and share it`,
      );
    }
    events.set(id, event);
  };
  for (const event of options?.events ?? []) addEvent(event, 'events');
  for (const [i, workflow] of (options?.workflows ?? []).entries()) {
    if ((workflow as Workflow)?.kind !== 'workflow') {
      throw new DefinitionError(
        where,
        `workflows[${i}] must be made with defineWorkflow() or defineRule()`,
      );
    }
    if (workflows.has(workflow.name)) {
      throw new DefinitionError(where, `workflow '${workflow.name}' is listed twice in workflows`);
    }
    workflows.set(workflow.name, workflow);
    for (const task of workflow.taskTypes) {
      const known = taskTypes.get(task.name);
      if (known === undefined) {
        throw new DefinitionError(
          where,
          `workflow '${workflow.name}' uses task type '${task.name}', which is not in taskTypes; add it there`,
        );
      }
      if (known !== task) {
        throw new DefinitionError(
          where,
          `two different task types are named '${task.name}'; give each a unique name`,
        );
      }
    }
    for (const event of workflow.events) addEvent(event, `workflow '${workflow.name}'`);
  }
  if (workflows.size === 0)
    throw new DefinitionError(where, 'workflows must list at least one workflow');
  return {
    kind: 'hourglass',
    taskTypes: [...taskTypes.values()],
    events: [...events.values()],
    workflows: [...workflows.values()],
  };
}

/** Finds a workflow by name, or fails with the names there are. */
export function findWorkflow(definitions: HourglassDefinitions, name: string): Workflow {
  const workflow = definitions.workflows.find((w) => w.name === name);
  if (workflow === undefined) {
    throw new HourglassError(
      `unknown workflow '${name}'; the workflows are: ${definitions.workflows.map((w) => w.name).join(', ')}`,
    );
  }
  return workflow;
}
