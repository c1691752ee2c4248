import type { InstanceSnapshot, PlannedTask, TaskFact } from './decider';
import { TaskStatus, TERMINAL_STATUSES, type Workflow } from './definitions';
import type { Item, ReplayState } from './replay';
import { isTimerType } from './timers';

/** Where a replay starts, and the task outcomes it applies. */

/** Where a replay starts: the snapshot, or the workflow's initial state. */
export function startState(workflow: Workflow, snapshot: InstanceSnapshot | null): ReplayState {
  // A deep copy: user functions must never be able to change a stored snapshot.
  if (snapshot === null) {
    return {
      state: workflow.initial,
      context: structuredClone(workflow.initialContext),
      tasks: [],
      counters: {},
    };
  }
  return {
    state: snapshot.state,
    context: structuredClone(snapshot.context),
    tasks: structuredClone(snapshot.tasks) as PlannedTask[],
    counters: { ...snapshot.counters },
  };
}

/** The outcomes of finished tasks at or after the horizon, as replay items. */
export function outcomeItems(facts: readonly TaskFact[], horizon: number): Item[] {
  const items: Item[] = [];
  for (const fact of facts) {
    // CANCELLED outcomes come from the replay itself, at the cancelling event's time; a
    // timer fires in the replay at its due time.
    if (fact.finishedAt === null || fact.status === TaskStatus.CANCELLED) continue;
    if (isTimerType(fact.taskType)) continue;
    if (!TERMINAL_STATUSES.has(fact.status) || fact.finishedAt < horizon) continue;
    items.push({ kind: 'outcome', time: fact.finishedAt, id: fact.taskId, fact });
  }
  return items;
}
