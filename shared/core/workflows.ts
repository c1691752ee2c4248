import type { StandardSchemaV1 } from '@standard-schema/spec';
import { DefinitionError, describeValue } from './errors';
import type { EventType, TaskOutcomeDetail, WorkflowEvent } from './event-types';
import { assertPath } from './path';
import type { DstPolicy, Recurrence, TimeZoneSource, TimeZoneSpec } from './recurrence';
import type { TaskOutcome, TaskType } from './task-types';
import { parseDuration } from './time';
import { compileTimers, type StateTimer, type TimerDetail } from './timers';
import { checkTrigger, compileTransition, many, registerTaskTypes } from './transitions';
import { assertName, type Json, within } from './validation';
import { compileKeyPaths, compileStartOver, compileVersion } from './workflow-checks';

/** Workflows: finite state machines over a correlation key, and one-event rules. */

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
  /**
   * Due this long after the event time; with `at`, this long after the time in that field
   * (`{ at: 'detail.deliveredAt', after: '1h' }`). Leave out `after`, `before` and `at` for
   * "at once".
   */
  readonly after?: string;
  /** With `at`: due this long before the time in that field (`{ at: 'detail.trialEndsAt', before: '3d' }`). */
  readonly before?: string;
  /** Due at the absolute time in this event field, e.g. `detail.publishAt` (ISO-8601 or epoch ms). */
  readonly at?: string;
  /**
   * Overrides the task type's deadline: `{ after }` measured from the event time, or
   * `{ at }` read from an event field. @default the task type's deadline after the due time
   */
  readonly deadline?: { readonly after: string } | { readonly at: string };
  /**
   * Makes the task recurring, from this event until a transition cancels its task type:
   * `'6h'` (every 6 hours of elapsed time, the first 6 hours after the event), or
   * `{ cron: '0 9 * * MON', timeZone: { path: 'detail.timeZone', default: 'UTC' } }`
   * (local wall-clock time). Each occurrence is a task of its own; one not started by the
   * next occurrence's due time expires, so an outage never piles occurrences up. With
   * `collapse: 'replace'` a second start restarts it; by default it keeps running.
   */
  readonly every?: string | EverySpec;
  /** @default 'keep-first' */
  readonly collapse?: CollapsePolicy;
  /** The task's input. @default the event's detail */
  readonly input?: (args: TransitionArgs<Context, Detail>) => Json;
}

/** A recurrence by cron expression. */
export interface EverySpec {
  /** A cron expression (croner syntax: minute hour day-of-month month day-of-week). */
  readonly cron: string;
  /**
   * The time zone the expression counts in: an IANA name, or read from the event with a
   * default for events without one. @default 'UTC'
   */
  readonly timeZone?: TimeZoneSpec;
  /** What to do when daylight saving repeats or skips a local time. @default { repeated: 'first', skipped: 'shift' } */
  readonly dst?: Partial<DstPolicy>;
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

/** A value or a list of values. */
export type OneOrMany<T> = T | readonly T[];
/** The detail type of an event type, from its schema. */
export type DetailOf<E> =
  E extends EventType<string, infer S> ? StandardSchemaV1.InferOutput<S> : never;
type EventNamed<Events extends readonly EventType[], Name> = Extract<
  Events[number],
  { detailType: Name }
>;

/** A state: its transitions keyed by event detail-type or `"<task-type>.<outcome>"`. */
export interface StateSpec<Events extends readonly EventType[], Context> {
  /** A final state ends the instance; it has no transitions. @default false */
  readonly final?: boolean;
  /**
   * Timers that need no worker, by delay: `{ '2h': { target: 'abandoned' } }` moves the
   * instance 2 hours (in event time) after it entered this state, unless an event moved it
   * first. A transition may schedule, cancel and update tasks as any other. A transition
   * into the state arms its timers; one that names this state as its target restarts them;
   * one without a target leaves them running. Not in the initial or a final state.
   */
  readonly after?: {
    readonly [delay: string]: OneOrMany<TransitionSpec<Context, TimerDetail>>;
  };
  // One mapped type over event names and outcome patterns, so that a transition on a task's
  // outcome is typed from its context too (an intersection with an index signature is not).
  readonly on?: {
    readonly [Name in Events[number]['detailType'] | `${string}.${TaskOutcome}`]?: OneOrMany<
      TransitionSpec<
        Context,
        Name extends Events[number]['detailType']
          ? DetailOf<EventNamed<Events, Name>>
          : TaskOutcomeDetail
      >
    >;
  };
}

/** Options of {@link defineWorkflow}. */
export interface WorkflowOptions<Events extends readonly EventType[], Context> {
  /** Kebab-case, unique among workflows. */
  readonly name: string;
  /** Path to the correlation key in the event, e.g. `detail.userId`. */
  readonly key: string;
  /**
   * The key's path in an event type that carries it elsewhere, by detail-type, e.g.
   * `{ OrderReturned: 'detail.buyerId' }`. Every event must carry the key somewhere.
   */
  readonly keys?: { readonly [Name in Events[number]['detailType']]?: string };
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
  /**
   * Events that start an instance over once it is in a final state: the instance goes back
   * to `initial` with the initial context, then takes the event's transition from there (a
   * customer who subscribes again). Each must have a transition from the initial state.
   * `[]` says that a final state is for good, on purpose. @default not said: a final state
   * is for good, and `hourglass check` warns
   */
  readonly startOverOn?: readonly Events[number][];
  /**
   * The definition's version. Each instance finishes under the version it started with:
   * bump it for a change that must not touch instances in flight, and keep the earlier
   * definition as `previous`. @default 1
   */
  readonly version?: number;
  /** The definition of the version before this one, for the instances that started under it. */
  readonly previous?: Workflow;
}

/** A compiled schedule action. */
export interface ScheduleAction {
  readonly task: TaskType;
  readonly afterMs: number | null;
  readonly atPath: string | null;
  /** With `atPath`: ms added to the field's time (negative for `before`); 0 otherwise. */
  readonly offsetMs: number;
  readonly deadline:
    | { readonly afterMs: number; readonly atPath?: undefined }
    | { readonly atPath: string; readonly afterMs?: undefined }
    | null;
  readonly collapse:
    | { readonly kind: 'keep-first' | 'replace' | 'per-trigger' }
    | { readonly kind: 'debounce'; readonly periodMs: number; readonly maxWaitMs: number | null };
  readonly input: ((args: TransitionArgs<unknown, unknown>) => Json) | null;
  /** Set for a recurring task: when its occurrences fall, and in which time zone. */
  readonly every: {
    readonly recurrence: Recurrence;
    readonly zone: TimeZoneSource;
  } | null;
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
  /** True when the spec named a target: entering it (again) arms its timers. */
  readonly reenters: boolean;
}

/** A compiled state. */
export interface State {
  readonly name: string;
  readonly final: boolean;
  /** Transitions by trigger, in the order their guards are tried (timers as `after 2h`). */
  readonly on: Readonly<Record<string, readonly Transition[]>>;
  /** The state's timers, shortest first. */
  readonly timers: readonly StateTimer[];
}

/** A validated workflow. Build it with {@link defineWorkflow} or {@link defineRule}. */
export interface Workflow {
  readonly kind: 'workflow';
  readonly name: string;
  /** The key's path in the workflow's events. */
  readonly keyPath: string;
  /** Where the key is in an event type that carries it elsewhere, by detail-type. */
  readonly keyPaths: Readonly<Record<string, string>>;
  readonly events: readonly EventType[];
  readonly initial: string;
  readonly initialContext: unknown;
  readonly states: Readonly<Record<string, State>>;
  readonly retainMs: number;
  /** Detail-types that start a finished instance over; `null` when the workflow did not say. */
  readonly startOverOn: ReadonlySet<string> | null;
  /** Every task type the workflow schedules, cancels or updates. */
  readonly taskTypes: readonly TaskType[];
  /** Every transition, in definition order. */
  readonly transitions: readonly Transition[];
  /** This definition's version (instances finish under the one they started with). */
  readonly version: number;
  /** The definition of an earlier version, still running in-flight instances; or null. */
  readonly previous: Workflow | null;
}

const STATE_NAME = /^[A-Za-z][\w-]{0,63}$/;

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
  const eventNames = checkEvents(where, options.events);
  const stateNames = checkStates(where, options);
  const retainMs = within(where, () => parseDuration(options.retain ?? '7d', 'retain'));
  const initialContext = options.context ?? {};
  if (
    typeof initialContext !== 'object' ||
    initialContext === null ||
    Array.isArray(initialContext)
  ) {
    throw new DefinitionError(where, 'context must be a JSON object');
  }

  const scheduled = scheduledTaskNames(options.states);
  const taskTypes = new Map<string, TaskType>();
  const transitions: Transition[] = [];
  const states: Record<string, State> = {};
  const context = { eventNames, scheduled, stateNames, initial: options.initial };
  for (const [name, spec] of Object.entries(options.states)) {
    const state = compileState(`${where} state '${name}'`, name, spec as never, context);
    for (const alternatives of Object.values(state.on)) {
      for (const transition of alternatives) {
        registerTaskTypes(
          `${where} state '${name}' on '${transition.trigger}'`,
          taskTypes,
          transition,
        );
        transitions.push(transition);
      }
    }
    states[name] = state;
  }
  checkRecurring(where, transitions);

  return {
    kind: 'workflow',
    name: options.name,
    keyPath: options.key,
    keyPaths: compileKeyPaths(where, options.keys, eventNames),
    events: options.events,
    initial: options.initial,
    initialContext,
    states,
    retainMs,
    startOverOn: compileStartOver(where, options.startOverOn, states, options.initial),
    taskTypes: [...taskTypes.values()],
    transitions,
    ...compileVersion(where, options),
  };
}

/**
 * A recurring task type is scheduled by one schedule of the workflow, and only as
 * recurring: its chain finds its recurrence by the task type.
 */
function checkRecurring(where: string, transitions: readonly Transition[]): void {
  const schedules = transitions.flatMap((t) => t.schedules);
  for (const action of schedules) {
    if (action.every === null) continue;
    const others = schedules.filter((s) => s.task === action.task && s !== action);
    if (others.length > 0) {
      throw new DefinitionError(
        where,
        `task type '${action.task.name}' is recurring (every), so it must be scheduled by one schedule only, and only as recurring; use another task type for the other schedule`,
      );
    }
  }
}

/** Compiles one state: its event and outcome transitions, then its timers. */
function compileState(
  here: string,
  name: string,
  spec: StateSpec<readonly EventType[], unknown> | undefined,
  context: {
    readonly eventNames: ReadonlySet<string>;
    readonly scheduled: ReadonlySet<string>;
    readonly stateNames: readonly string[];
    readonly initial: string;
  },
): State {
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
    checkTrigger(at, trigger, context.eventNames, context.scheduled);
    const alternatives = many(specs as OneOrMany<TransitionSpec<unknown, unknown>>);
    on[trigger] = alternatives.map((t, index) =>
      compileTransition(at, t, {
        trigger,
        source: name,
        last: index === alternatives.length - 1,
        index,
        stateNames: context.stateNames,
      }),
    );
  }
  const timed = compileTimers(here, spec?.after as never, {
    source: name,
    initial: name === context.initial,
    final,
    stateNames: context.stateNames,
  });
  return { name, final, on: { ...on, ...timed.on }, timers: timed.timers };
}

/** The detail-types of a workflow's events, each listed once and made with defineEvent. */
function checkEvents(where: string, events: readonly EventType[]): Set<string> {
  if (!Array.isArray(events) || events.length === 0) {
    throw new DefinitionError(where, 'events must list the event types it consumes (defineEvent)');
  }
  const eventNames = new Set<string>();
  for (const event of events) {
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
  return eventNames;
}

/** The state names, with at least one state and a defined initial state. */
function checkStates(
  where: string,
  options: { readonly states: Readonly<Record<string, unknown>>; readonly initial: string },
): string[] {
  const stateNames = Object.keys(options.states ?? {});
  if (stateNames.length === 0)
    throw new DefinitionError(where, 'states must define at least one state');
  if (!stateNames.includes(options.initial)) {
    throw new DefinitionError(
      where,
      `initial state '${options.initial}' is not defined; states are: ${stateNames.join(', ')}`,
    );
  }
  return stateNames;
}

/** Every task type some transition schedules, so outcome triggers can be checked against them. */
function scheduledTaskNames(
  states: Readonly<
    Record<
      string,
      {
        readonly on?: Readonly<Record<string, unknown>>;
        readonly after?: Readonly<Record<string, unknown>>;
      }
    >
  >,
): Set<string> {
  const scheduled = new Set<string>();
  for (const state of Object.values(states)) {
    for (const specs of [...Object.values(state?.on ?? {}), ...Object.values(state?.after ?? {})]) {
      for (const spec of many(specs as OneOrMany<TransitionSpec<unknown, unknown>>)) {
        for (const s of many(spec?.schedule)) if (s?.task?.name) scheduled.add(s.task.name);
      }
    }
  }
  return scheduled;
}

/** The key's path in an event of `detailType` for `workflow`. */
export function keyPathOf(workflow: Workflow, detailType: string): string {
  return workflow.keyPaths[detailType] ?? workflow.keyPath;
}
