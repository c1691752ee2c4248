import type { Workflow } from './definitions';

/**
 * What could happen to a pending task, read from the definition: which events (or task
 * outcomes), arriving while the instance is in a given state, would cancel it, move it or
 * change its input. This answers the operator's "what cancels this?" without running
 * anything.
 */

/** What an event does to a pending task. */
export const Effect = {
  cancels: 'cancels',
  /** A schedule with `collapse: 'replace'` or a debounce: the task gets a new due time. */
  moves: 'moves',
  updatesInput: 'updates its input',
} as const;
/** One of {@link Effect}. */
export type Effect = (typeof Effect)[keyof typeof Effect];

/** One way a pending task can be changed from a state. */
export interface Influence {
  /** The detail-type of the event, or `<task type>.<outcome>` for a task's outcome. */
  readonly trigger: string;
  readonly effect: Effect;
  /** True when the transition has a guard: it applies only when the guard holds. */
  readonly guarded: boolean;
  /** The state the instance moves to. */
  readonly target: string;
}

/**
 * The events and outcomes that would cancel, move or update a pending task of `taskType`
 * of an instance in `state`, in definition order.
 *
 * @example
 * influencesOn(welcomeDiscount, 'waiting', 'send-discount-code')
 * // [{ trigger: 'OrderPlaced', effect: 'cancels', guarded: false, target: 'converted' }]
 */
export function influencesOn(workflow: Workflow, state: string, taskType: string): Influence[] {
  const influences: Influence[] = [];
  for (const transitions of Object.values(workflow.states[state]?.on ?? {})) {
    for (const t of transitions) {
      const base = { trigger: t.trigger, guarded: t.guard !== null, target: t.target };
      if (t.cancels.some((c) => c.name === taskType)) {
        influences.push({ ...base, effect: Effect.cancels });
        continue;
      }
      const moves = t.schedules.some(
        (s) =>
          s.task.name === taskType &&
          (s.collapse.kind === 'replace' || s.collapse.kind === 'debounce'),
      );
      if (moves) influences.push({ ...base, effect: Effect.moves });
      if (t.updates.some((u) => u.task.name === taskType)) {
        influences.push({ ...base, effect: Effect.updatesInput });
      }
    }
  }
  return influences;
}
