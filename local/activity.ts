import type { TaskItem } from '../shared/aws/table';
import { formatDuration, formatInstant } from '../shared/core';

/** What `npm run dev` prints about the local cloud's activity, as pure functions. */

/**
 * The line `npm run dev` prints when a task is scheduled (or moved): which task, for which
 * instance, and when it is due, also as a wait from `now`.
 */
export function scheduledLine(
  task: Pick<TaskItem, 'taskType' | 'taskId' | 'workflow' | 'key' | 'runAt' | 'generation'>,
  now: number,
): string {
  const wait = task.runAt - now;
  const when = wait > 0 ? `in ${formatDuration(Math.round(wait / 1_000) * 1_000)}` : 'now';
  const moved = task.generation > 1 ? ' (moved)' : '';
  return `SCHEDULED ${task.taskType} ${task.taskId} for ${task.workflow}/${task.key}, due ${formatInstant(task.runAt)} (${when})${moved}`;
}
