import { type PlannedTask, taskIdFor } from './decider';
import { DefinitionError, describeValue } from './errors';
import { parseDuration } from './time';
import { compileTransition, many } from './transitions';
import { within } from './validation';
import type { OneOrMany, Transition, TransitionSpec, Workflow } from './workflows';

/**
 * Timers that need no worker: a state's `after` transitions, which move the instance on its
 * own a while after it entered the state, unless an event moved it first. The runtime keeps
 * each armed timer as a task row of the reserved type {@link TIMER_TASK_TYPE}, whose timer
 * message goes to the ingest queue, not to a task queue: no worker Lambda runs for it.
 */

/**
 * The task type of timer rows. Not a valid user task type name (those are kebab-case), so
 * it can never clash with one, and no task queue is made for it.
 */
export const TIMER_TASK_TYPE = '@timer';

/** The `source` of the event a timer transition receives. */
export const TIMER_SOURCE = 'hourglass.timer';

/** The detail of the event a timer transition receives (guards, `assign`, `input`). */
export interface TimerDetail {
  /** The state the timer was armed in. */
  readonly state: string;
  /** The delay as written, e.g. `2h`. */
  readonly after: string;
  /** The id of the event (or outcome) that entered the state and armed the timer. */
  readonly armedBy: string;
}

/** A compiled timer of a state: `after <delay>`. */
export interface StateTimer {
  /** The trigger its transitions are listed under in `State.on`: `after 2h`. */
  readonly trigger: string;
  /** The delay as written. */
  readonly after: string;
  readonly delayMs: number;
}

/** The trigger name of a timer: `after 2h`. */
export function timerTrigger(after: string): string {
  return `after ${after}`;
}

/** True when a task type name is the reserved timer type. */
export function isTimerType(taskType: string): boolean {
  return taskType === TIMER_TASK_TYPE;
}

/**
 * Compiles a state's `after` map: each delay a duration, each value one transition or
 * guarded alternatives. Refused in the initial state (an instance has no entry time before
 * its first event) and in a final state (it never moves again).
 */
export function compileTimers(
  here: string,
  after: Readonly<Record<string, OneOrMany<TransitionSpec<unknown, unknown>>>> | undefined,
  place: {
    readonly source: string;
    readonly initial: boolean;
    readonly final: boolean;
    readonly stateNames: readonly string[];
  },
): { timers: StateTimer[]; on: Record<string, Transition[]> } {
  const timers: StateTimer[] = [];
  const on: Record<string, Transition[]> = {};
  if (after === undefined) return { timers, on };
  if (typeof after !== 'object' || after === null || Array.isArray(after)) {
    throw new DefinitionError(
      here,
      `after must map delays to transitions, e.g. { '2h': { target: 'abandoned' } }; got ${describeValue(after)}`,
    );
  }
  const entries = Object.entries(after);
  if (entries.length === 0) return { timers, on };
  if (place.final) {
    throw new DefinitionError(here, 'a final state cannot have timers; remove final or its after');
  }
  if (place.initial) {
    throw new DefinitionError(
      here,
      'the initial state cannot have timers: an instance has no time in it before its first event. Move the timer to the state that event leads to',
    );
  }
  for (const [delay, specs] of entries) {
    if (delay.includes('.')) {
      throw new DefinitionError(
        here,
        `after '${delay}': write the delay in whole units (e.g. '90m', not '1.5h'); a '.' in a trigger names a task outcome`,
      );
    }
    const delayMs = within(here, () => parseDuration(delay, `after '${delay}'`));
    if (delayMs <= 0) {
      throw new DefinitionError(here, `after '${delay}' must be longer than zero`);
    }
    const trigger = timerTrigger(delay);
    const at = `${here} ${trigger}`;
    const alternatives = many(specs);
    if (alternatives.length === 0) {
      throw new DefinitionError(at, 'give a transition, e.g. { target: "<state>" }');
    }
    on[trigger] = alternatives.map((t, index) =>
      compileTransition(at, t, {
        trigger,
        source: place.source,
        last: index === alternatives.length - 1,
        index,
        stateNames: place.stateNames,
      }),
    );
    timers.push({ trigger, after: delay, delayMs });
  }
  timers.sort((a, b) => a.delayMs - b.delayMs);
  return { timers, on };
}

/** The armed timer that is due first among those `test` accepts (ties by id). */
export function nextTimer(
  tasks: readonly PlannedTask[],
  test: (timer: PlannedTask) => boolean,
): PlannedTask | undefined {
  let next: PlannedTask | undefined;
  for (const task of tasks) {
    if (task.timer === undefined || task.phase !== 'pending' || !test(task)) continue;
    if (
      next === undefined ||
      task.dueAt < next.dueAt ||
      (task.dueAt === next.dueAt && task.taskId < next.taskId)
    )
      next = task;
  }
  return next;
}

/** Cancels the armed timers of the state being left (or entered again). */
export function disarmTimers(tasks: readonly PlannedTask[], cancelledBy: string): void {
  for (const task of tasks) {
    // A recurring task's timer outlives states: only a cancel of its task type stops it.
    if (task.timer === undefined || task.timer.state === null || task.phase !== 'pending') continue;
    task.phase = 'cancelled';
    task.cancelledBy = cancelledBy;
  }
}

/**
 * Arms the timers of the state a replay just entered, counted from `time`: one planned
 * timer each, with a deterministic id (the state, the delay, and how often it was armed).
 */
export function armTimers(
  workflow: Workflow,
  key: string,
  s: { readonly state: string; readonly tasks: PlannedTask[]; counters: Record<string, number> },
  time: number,
  armedBy: string,
): void {
  const state = workflow.states[s.state];
  if (state === undefined) return;
  for (const timer of state.timers) {
    const counter = `${TIMER_TASK_TYPE}:${state.name}:${timer.after}`;
    const count = (s.counters[counter] ?? 0) + 1;
    s.counters[counter] = count;
    const occurrence = `${state.name}~${timer.after.replace(/[^\w-]/g, '_')}~${count}`;
    s.tasks.push({
      taskId: taskIdFor(workflow.name, key, TIMER_TASK_TYPE, occurrence),
      taskType: TIMER_TASK_TYPE,
      dueAt: time + timer.delayMs,
      deadlineAt: null,
      input: { state: state.name, after: timer.after },
      createdBy: armedBy,
      burstStartedAt: null,
      phase: 'pending',
      cancelledBy: null,
      lateCancels: [],
      timer: { state: state.name, trigger: timer.trigger, after: timer.after },
    });
  }
}
