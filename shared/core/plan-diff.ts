import {
  type Command,
  incarnationId,
  type PlannedTask,
  type TaskFact,
  type TaskIncarnations,
} from './decider';
import { type Json, TaskStatus, TERMINAL_STATUSES, type Workflow } from './definitions';
import { isStarted } from './replay';

/**
 * Comparing the tasks an instance's history plans with the rows that exist: the commands
 * that make the rows match (create, cancel, move, fire a timer, note a late cancel).
 */

/** Compares the tasks history plans with the tasks that exist, and says what to change. */
export function diff(
  workflow: Workflow,
  key: string,
  planned: readonly PlannedTask[],
  incarnations: ReadonlyMap<string, { fact: TaskFact; incarnation: number }>,
  all: TaskIncarnations,
): Command[] {
  const commands: Command[] = [];
  // A late cancel is recorded once, on the incarnation that was running then.
  const recorded = (task: PlannedTask, eventId: string) =>
    (all.get(task.taskId) ?? []).some((f) => f.lateCancels.includes(eventId));
  const lateCancels = (taskId: string, task: PlannedTask, fact: TaskFact) => {
    for (const eventId of task.lateCancels) {
      if (!fact.lateCancels.includes(eventId) && !recorded(task, eventId)) {
        commands.push({ type: 'record-late-cancel', taskId, cancelledBy: eventId });
      }
    }
  };
  const create = (task: PlannedTask, taskId: string) =>
    commands.push(scheduleCommand(workflow.name, key, task, taskId));

  for (const task of planned) {
    const current = incarnations.get(task.taskId);
    if (task.timer !== undefined) {
      commands.push(...timerCommands(workflow.name, key, task, current));
      continue;
    }
    if (current === undefined) {
      create(task, task.taskId);
      continue;
    }
    const { fact, incarnation } = current;
    if (fact.status === TaskStatus.CANCELLED) {
      // History no longer cancels it (an earlier event arrived late): bring it back.
      if (task.phase !== 'cancelled') create(task, incarnationId(task.taskId, incarnation + 1));
      continue;
    }
    if (
      (fact.status === TaskStatus.FAILED || fact.status === TaskStatus.EXPIRED) &&
      (task.phase === 'pending' || task.phase === 'fired')
    ) {
      // An operator retried it (only a retry opens a task whose outcome was replayed).
      create(task, incarnationId(task.taskId, incarnation + 1));
      continue;
    }
    if (isStarted(fact) || TERMINAL_STATUSES.has(fact.status)) {
      lateCancels(fact.taskId, task, fact);
      continue;
    }
    if (task.phase === 'cancelled') {
      commands.push({
        type: 'cancel-task',
        taskId: fact.taskId,
        cancelledBy: task.cancelledBy!,
        reason: 'cancelled',
        planned: plannedOf(task),
      });
      continue;
    }
    if (
      fact.dueAt !== task.dueAt ||
      fact.deadlineAt !== task.deadlineAt ||
      !jsonEqual(fact.input, task.input)
    ) {
      commands.push({ type: 'update-task', taskId: fact.taskId, ...plannedOf(task) });
    }
    lateCancels(fact.taskId, task, fact);
  }
  const plannedIds = new Set(planned.map((t) => t.taskId));
  for (const [id, { fact }] of incarnations) {
    if (plannedIds.has(id) || fact.status !== TaskStatus.SCHEDULED || isStarted(fact)) continue;
    commands.push({
      type: 'cancel-task',
      taskId: fact.taskId,
      cancelledBy: 'history',
      reason: 'superseded',
    });
  }
  return commands;
}

/**
 * What a timer that needs no worker asks of its row: created while armed (or already fired),
 * moved when re-ordered history arms it at another time, COMPLETED once it fired, cancelled
 * when the instance left its state first. A timer history cancels before it was written
 * needs no row; a fired one is left alone.
 */
function timerCommands(
  workflow: string,
  key: string,
  task: PlannedTask,
  current: { fact: TaskFact; incarnation: number } | undefined,
): Command[] {
  const create = (taskId: string): Command[] => {
    if (task.phase === 'cancelled') return [];
    const command = scheduleCommand(workflow, key, task, taskId);
    if (task.phase !== 'finished' || command.type !== 'schedule-task') return [command];
    return [{ ...command, task: { ...command.task, fired: true } }];
  };
  if (current === undefined) return create(task.taskId);
  const { fact, incarnation } = current;
  if (fact.status === TaskStatus.CANCELLED) {
    return create(incarnationId(task.taskId, incarnation + 1));
  }
  if (fact.status !== TaskStatus.SCHEDULED) return [];
  if (task.phase === 'finished') return [{ type: 'fire-timer', taskId: fact.taskId }];
  if (task.phase === 'cancelled') {
    return [
      {
        type: 'cancel-task',
        taskId: fact.taskId,
        cancelledBy: task.cancelledBy!,
        reason: 'cancelled',
        planned: plannedOf(task),
      },
    ];
  }
  if (fact.dueAt !== task.dueAt) {
    return [{ type: 'update-task', taskId: fact.taskId, ...plannedOf(task) }];
  }
  return [];
}

/** The command that creates a planned task under `taskId` (cancelled at once if history already cancels it). */
function scheduleCommand(
  workflow: string,
  key: string,
  task: PlannedTask,
  taskId: string,
): Command {
  return {
    type: 'schedule-task',
    task: {
      taskId,
      workflow,
      key,
      taskType: task.taskType,
      ...plannedOf(task),
      createdBy: task.createdBy,
      cancelledBy: task.phase === 'cancelled' ? task.cancelledBy : null,
      ...(task.tenant === undefined ? {} : { tenant: task.tenant }),
      ...(task.note === undefined ? {} : { note: task.note }),
      ...(task.journeyKey === undefined ? {} : { journeyKey: task.journeyKey }),
      ...(task.journeyZone === undefined ? {} : { journeyZone: task.journeyZone }),
    },
  };
}

/** What history plans for a task: its due time, deadline and input. */
function plannedOf(task: PlannedTask): { dueAt: number; deadlineAt: number | null; input: Json } {
  return { dueAt: task.dueAt, deadlineAt: task.deadlineAt, input: task.input };
}

function jsonEqual(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
