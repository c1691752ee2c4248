import type { TaskOutcome } from './definitions';

/**
 * The task lifecycle events Hourglass publishes on the bus when a task finishes: their
 * source, and their detail-type for each outcome. Workflows react to them as
 * `<task-type>.<outcome>` transitions; the bus rule routes them back to ingest.
 */

/** The source of every lifecycle event. Event types of your own may not use it. */
export const LIFECYCLE_SOURCE = 'hourglass';

/** The lifecycle event detail-type of each task outcome. */
export const OUTCOME_DETAIL_TYPES: Readonly<Record<TaskOutcome, string>> = {
  completed: 'TaskCompleted',
  failed: 'TaskFailed',
  cancelled: 'TaskCancelled',
  expired: 'TaskExpired',
};

/**
 * What an operator did to an instance (`hourglass cancel`), recorded in its history as an
 * event of this source, so every later decision replays it like any other event: a task an
 * operator cancelled stays cancelled, however late an earlier event arrives.
 */
export const OPERATOR_SOURCE = 'hourglass.operator';

/** The detail-types of operator events. */
export const OperatorAction = {
  /** Detail: `{ taskId, reason, by }`. Cancels the task if no worker has claimed it. */
  cancel: 'TaskCancelledByOperator',
  /** Detail: `{ taskId, dueAt, reason, by }`. Moves the task if no worker has claimed it. */
  reschedule: 'TaskRescheduledByOperator',
  /**
   * Detail: `{ taskId, reason, by }`. Runs a FAILED or EXPIRED task again: a new incarnation
   * of it, due at the operator's time, with its attempts counted afresh.
   */
  retry: 'TaskRetriedByOperator',
} as const;

/** The detail of an operator's cancel. */
export interface OperatorCancel {
  readonly taskId: string;
  readonly reason: string;
  readonly by: string;
}

/** The detail of an operator's reschedule: the new due time, ISO-8601. */
export interface OperatorReschedule extends OperatorCancel {
  readonly dueAt: string;
}
