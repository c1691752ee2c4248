import type { Command, NewTask } from './decider';
import { type Json, TaskStatus } from './definitions';
import type { Rejection } from './events';
import { formatInstant } from './time';

/**
 * What each decider command does to task rows: the one interpreter of commands. The
 * simulator applies its effects to rows in memory; the store turns them into one
 * conditional DynamoDB transaction. Neither decides anything of its own, so the two cannot
 * drift apart.
 */

/** A state change in a task's life, as the CLI and dashboard show it. */
export interface TimelineEntry {
  /** ISO-8601 UTC. */
  readonly at: string;
  readonly status: TaskStatus;
  /** What caused it: an event id, `attempt N`, `deadline …`, … */
  readonly cause: string;
}

/** A task row as a command creates it. Times are epoch ms. */
export interface NewTaskRow {
  readonly taskId: string;
  readonly workflow: string;
  readonly key: string;
  readonly taskType: string;
  /** SCHEDULED, or CANCELLED for a task history both plans and cancels. */
  readonly status: TaskStatus;
  readonly dueAt: number;
  /** When the first attempt may start: the due time. */
  readonly runAt: number;
  readonly deadlineAt: number | null;
  readonly input: Json;
  /** The event that planned it. */
  readonly createdBy: string;
  readonly cancelledBy?: string;
  /** Set for a timer written already fired. */
  readonly startedAt?: number;
  /** The tenant its messages are grouped by, if its task type names one. */
  readonly tenant?: string;
  /** Whose frequency caps it counts against, if any. */
  readonly journeyKey?: string;
  /** The person's time zone for quiet hours, if any. */
  readonly journeyZone?: string;
  readonly finishedAt?: number;
  readonly timeline: readonly TimelineEntry[];
}

/** The fields a command may change in a task row. */
export interface TaskRowFields {
  readonly status?: TaskStatus;
  readonly cancelledBy?: string;
  readonly startedAt?: number;
  readonly finishedAt?: number;
  readonly dueAt?: number;
  readonly runAt?: number;
  readonly deadlineAt?: number | null;
  readonly input?: Json;
}

/** What a command changes in an existing task row. */
export interface TaskRowChange {
  readonly taskId: string;
  /**
   * True: the change applies only while the row is still SCHEDULED as it was read (a
   * cancel or a move must not race a claim). False: it applies to the row as it is (a late
   * cancel only adds a note).
   */
  readonly whileScheduled: boolean;
  /** True: a new generation, so the timers of the old one turn stale. */
  readonly newGeneration: boolean;
  readonly set: TaskRowFields;
  readonly timeline: readonly TimelineEntry[];
  /** An event that came too late to cancel the task, to add to its `lateCancels`. */
  readonly lateCancel?: string;
}

/** What one command does. */
export type TaskRowEffect =
  | { readonly type: 'create'; readonly row: NewTaskRow }
  | { readonly type: 'change'; readonly change: TaskRowChange }
  | { readonly type: 'reject'; readonly rejection: Rejection };

/**
 * What a command does to the task rows of an instance of `workflow`, decided at `now`.
 * `statusOf` gives a row's current status (for the timeline of a late cancel).
 *
 * @example
 * for (const command of decision.commands) apply(taskRowEffect(command, 'welcome-discount', now, statusOf));
 */
export function taskRowEffect(
  command: Command,
  workflow: string,
  now: number,
  statusOf: (taskId: string) => TaskStatus | undefined = () => undefined,
): TaskRowEffect {
  const at = formatInstant(now);
  switch (command.type) {
    case 'schedule-task':
      return { type: 'create', row: newTaskRow(command.task, now) };
    case 'cancel-task':
      return {
        type: 'change',
        change: {
          taskId: command.taskId,
          whileScheduled: true,
          newGeneration: true,
          set: {
            status: TaskStatus.CANCELLED,
            cancelledBy: command.cancelledBy,
            finishedAt: now,
            ...(command.planned ? plannedFields(command.planned) : {}),
          },
          timeline: [
            {
              at,
              status: TaskStatus.CANCELLED,
              cause:
                command.reason === 'superseded'
                  ? 'superseded by re-ordered history'
                  : command.cancelledBy,
            },
          ],
        },
      };
    case 'update-task':
      return {
        type: 'change',
        change: {
          taskId: command.taskId,
          whileScheduled: true,
          newGeneration: true,
          set: plannedFields(command),
          timeline: [],
        },
      };
    case 'record-late-cancel':
      return {
        type: 'change',
        change: {
          taskId: command.taskId,
          whileScheduled: false,
          newGeneration: false,
          set: {},
          timeline: [
            {
              at,
              status: statusOf(command.taskId) ?? TaskStatus.RUNNING,
              cause: `cancel too late (${command.cancelledBy})`,
            },
          ],
          lateCancel: command.cancelledBy,
        },
      };
    case 'fire-timer':
      return { type: 'change', change: timerFired(command.taskId, now) };
    case 'reject-event':
      return {
        type: 'reject',
        rejection: { eventId: command.eventId, workflow, reason: command.reason },
      };
  }
}

/** The cause in a timer's timeline when it fired. */
export const TIMER_FIRED = 'timer fired';

/**
 * A timer fired: COMPLETED while still SCHEDULED as read (a new generation, so a timer
 * message still on its way is stale), started and finished now.
 */
function timerFired(taskId: string, now: number): TaskRowChange {
  return {
    taskId,
    whileScheduled: true,
    newGeneration: true,
    set: { status: TaskStatus.COMPLETED, startedAt: now, finishedAt: now },
    timeline: [{ at: formatInstant(now), status: TaskStatus.COMPLETED, cause: TIMER_FIRED }],
  };
}

/**
 * The row a scheduled task starts as: SCHEDULED, or CANCELLED at once when history already
 * cancels it (or COMPLETED, for a timer that already fired).
 */
function newTaskRow(t: NewTask, now: number): NewTaskRow {
  const at = formatInstant(now);
  if (t.fired) {
    return {
      ...newTaskRow({ ...t, fired: undefined }, now),
      status: TaskStatus.COMPLETED,
      startedAt: now,
      finishedAt: now,
      timeline: [
        { at, status: TaskStatus.SCHEDULED, cause: t.createdBy },
        { at, status: TaskStatus.COMPLETED, cause: TIMER_FIRED },
      ],
    };
  }
  const cancelled = t.cancelledBy !== null;
  return {
    taskId: t.taskId,
    workflow: t.workflow,
    key: t.key,
    taskType: t.taskType,
    status: cancelled ? TaskStatus.CANCELLED : TaskStatus.SCHEDULED,
    dueAt: t.dueAt,
    runAt: t.dueAt,
    deadlineAt: t.deadlineAt,
    input: t.input,
    createdBy: t.createdBy,
    ...(t.tenant === undefined ? {} : { tenant: t.tenant }),
    ...(t.journeyKey === undefined ? {} : { journeyKey: t.journeyKey }),
    ...(t.journeyZone === undefined ? {} : { journeyZone: t.journeyZone }),
    ...(cancelled ? { cancelledBy: t.cancelledBy!, finishedAt: now } : {}),
    timeline: [
      { at, status: TaskStatus.SCHEDULED, cause: t.createdBy },
      ...(t.note === undefined ? [] : [{ at, status: TaskStatus.SCHEDULED, cause: t.note }]),
      ...(cancelled ? [{ at, status: TaskStatus.CANCELLED, cause: t.cancelledBy! }] : []),
    ],
  };
}

/** The fields history plans for a task: its due time (when its first attempt may start), deadline and input. */
function plannedFields(plan: {
  readonly dueAt: number;
  readonly deadlineAt: number | null;
  readonly input: Json;
}): TaskRowFields {
  return { dueAt: plan.dueAt, runAt: plan.dueAt, deadlineAt: plan.deadlineAt, input: plan.input };
}
