import { type PlannedTask, type RecurrenceLink, taskIdFor } from './decider';
import { HourglassError } from './errors';
import type { WorkflowEvent } from './event-types';
import { controlZone, journeyKeyOf, quietHoursFor } from './journey-controls';
import { nextOccurrence, timeZoneFor } from './recurrence';
import { TIMER_TASK_TYPE } from './timers';
import type { Json } from './validation';
import type { ScheduleAction, Workflow } from './workflows';

/**
 * Planning a recurring task in a replay. A recurrence is a chain: its next occurrence (a
 * task of its type) and, due at the same time, a timer that needs no worker; when that
 * timer fires, the following occurrence and timer are planned. So exactly one occurrence
 * is planned ahead at a time, and a cancel of the task type stops the chain.
 */

/** What a replay's state holds that planning touches. */
interface PlanState {
  readonly tasks: PlannedTask[];
  counters: Record<string, number>;
}

/** The recurring schedule of `taskType` in `workflow` (defineWorkflow allows one). */
export function recurringAction(workflow: Workflow, taskType: string): ScheduleAction {
  for (const transition of workflow.transitions) {
    for (const action of transition.schedules)
      if (action.every !== null && action.task.name === taskType) return action;
  }
  throw new HourglassError(
    `workflow '${workflow.name}' no longer schedules '${taskType}' as a recurring task, but a recurrence of it is running; a definition change broke existing instances`,
  );
}

/** The time zone a recurrence counts in, for the event that starts it. */
function zoneOf(action: ScheduleAction, event: WorkflowEvent): string {
  return timeZoneFor(action.every!.zone, event);
}

/** The pending chain timer of a recurring task type, if it runs. */
function runningChain(tasks: readonly PlannedTask[], taskType: string): PlannedTask | undefined {
  return tasks.find((t) => t.phase === 'pending' && t.timer?.recurrence?.taskType === taskType);
}

/**
 * Stops a recurring task type's chain: its pending timer is cancelled (its pending
 * occurrence is cancelled by the cancel that calls this, as any task of the type).
 */
export function stopRecurrence(tasks: readonly PlannedTask[], taskType: string, by: string): void {
  for (const task of tasks) {
    if (task.phase !== 'pending' || task.timer?.recurrence?.taskType !== taskType) continue;
    task.phase = 'cancelled';
    task.cancelledBy = by;
  }
}

/**
 * Starts a recurrence from `event` at `time`: plans its first occurrence. A recurrence of
 * the type already running is kept (`keep-first`) or restarted (`replace`).
 * Returns the tasks it cancelled (a replaced chain's pending occurrence), whose outcome the
 * replay then fires.
 */
export function startRecurrence(
  workflow: Workflow,
  key: string,
  s: PlanState,
  action: ScheduleAction,
  event: WorkflowEvent,
  time: number,
  occurrence: { readonly input: Json; readonly tenant: string | null },
): PlannedTask[] {
  const type = action.task.name;
  const cancelled: PlannedTask[] = [];
  if (runningChain(s.tasks, type) !== undefined) {
    if (action.collapse.kind === 'keep-first') return cancelled;
    stopRecurrence(s.tasks, type, event.id);
    for (const task of s.tasks) {
      if (task.taskType === type && task.phase === 'pending') {
        task.phase = 'cancelled';
        task.cancelledBy = event.id;
        cancelled.push(task);
      }
    }
  }
  const chain = (s.counters[type] ?? 0) + 1;
  s.counters[type] = chain;
  const link: RecurrenceLink = {
    taskType: type,
    zone: zoneOf(action, event),
    input: occurrence.input,
    chain,
    ...(occurrence.tenant === null ? {} : { tenant: occurrence.tenant }),
    ...(action.task.journey === null
      ? {}
      : { controlZone: controlZone(action.task.journey.control, event) }),
    ...optional('journeyKey', journeyKeyOf(action.task.journey, event, key)),
  };
  planOccurrence(workflow, key, s, action, link, time, event.id);
  return cancelled;
}

/** A chain timer fired at its due time: plans the occurrence after it. */
export function continueRecurrence(
  workflow: Workflow,
  key: string,
  s: PlanState,
  timer: PlannedTask,
  firedAt: number,
): void {
  const link = timer.timer!.recurrence!;
  const action = recurringAction(workflow, link.taskType);
  // Fired late (Hourglass itself fell behind): the occurrences it missed are not planned,
  // only the next one after it caught up, so a catch-up never writes a row per missed
  // period. An interval keeps its phase.
  const { recurrence } = action.every!;
  const after =
    recurrence.kind === 'interval' && firedAt > timer.dueAt
      ? timer.dueAt +
        Math.floor((firedAt - timer.dueAt) / recurrence.periodMs) * recurrence.periodMs
      : firedAt;
  planOccurrence(workflow, key, s, action, link, after, timer.taskId);
}

/** `{ [field]: value }`, or nothing for null. */
function optional<K extends string, V>(field: K, value: V | null): { [P in K]?: V } {
  return (value === null ? {} : { [field]: value }) as { [P in K]?: V };
}

/** Compact UTC stamp for ids: `20260330T0700Z`. */
function stamp(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/**
 * Plans the first occurrence after `after` and its chain timer. The occurrence's deadline is
 * the next occurrence's due time (or its type's deadline, if sooner): one not started by
 * then expires, so occurrences missed in an outage never pile up. Nothing is planned when a
 * cron expression never matches again.
 */
function planOccurrence(
  workflow: Workflow,
  key: string,
  s: PlanState,
  action: ScheduleAction,
  link: RecurrenceLink,
  after: number,
  createdBy: string,
): void {
  const { recurrence } = action.every!;
  const dueAt = nextOccurrence(recurrence, after, link.zone);
  if (dueAt === null) return;
  const following = nextOccurrence(recurrence, dueAt, link.zone);
  const own = action.task.deadlineMs === null ? null : dueAt + action.task.deadlineMs;
  // An occurrence that quiet hours would carry past the next one is dropped, whatever the
  // task type says: moving it would bunch a night's occurrences at the end of the hours.
  const journey = action.task.journey;
  const quiet = quietHoursFor(
    journey === null ? null : { ...journey, pastDeadline: 'drop' },
    link.controlZone ?? 'UTC',
    dueAt,
    following === null ? own : own === null ? following : Math.min(own, following),
  );
  const occurrence = `${link.chain}@${stamp(dueAt)}`;
  const planned = {
    dueAt,
    createdBy,
    burstStartedAt: null,
    phase: 'pending' as const,
    cancelledBy: null,
    lateCancels: [],
  };
  s.tasks.push({
    ...planned,
    taskId: taskIdFor(workflow.name, key, link.taskType, occurrence),
    taskType: link.taskType,
    dueAt: quiet.dueAt,
    deadlineAt: quiet.deadlineAt,
    input: link.input,
    ...(link.tenant === undefined ? {} : { tenant: link.tenant }),
    ...(quiet.moved === null ? {} : { note: quiet.moved }),
    ...(quiet.dropped === null ? {} : { phase: 'cancelled' as const, cancelledBy: quiet.dropped }),
    ...(link.journeyKey === undefined ? {} : { journeyKey: link.journeyKey }),
    ...(link.controlZone === undefined || action.task.journey?.control.quietHours == null
      ? {}
      : { journeyZone: link.controlZone }),
  });
  s.tasks.push({
    ...planned,
    taskId: taskIdFor(workflow.name, key, TIMER_TASK_TYPE, `every~${link.taskType}~${occurrence}`),
    taskType: TIMER_TASK_TYPE,
    deadlineAt: null,
    input: { every: recurrence.label, taskType: link.taskType },
    timer: {
      state: null,
      trigger: `every ${recurrence.label}`,
      after: recurrence.label,
      recurrence: link,
    },
  });
}
