import { DefinitionError, describeValue } from './errors';
import { parseDuration } from './time';
import { compileTransition, many } from './transitions';
import { within } from './validation';
import type { OneOrMany, Transition, TransitionSpec } from './workflows';

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
