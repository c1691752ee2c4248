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
