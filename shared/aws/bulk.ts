import { type HourglassDefinitions, HourglassError, TaskStatus } from '../core';
import { type ListedTask, listTasks, type TaskFilter } from './operator';
import { cancelTask, type OperatorReason, OperatorRefusal, retryTask } from './operator-actions';
import type { StoreDeps } from './store';

/**
 * Cancel or retry every task a filter matches (`hourglass cancel|retry --workflow … --type
 * …`), one task at a time through the same functions as the single-task commands. Each
 * task ends in a clear state whatever happens to the run: cancelled or retried, or left as
 * it was. A run that stops halfway can be run again: what was cancelled no longer matches,
 * and a task already retried is refused ("already run again"), never retried twice.
 */

/** The most tasks one bulk action lists; run it again for the rest. */
export const BULK_LIMIT = 10_000;

/** A bulk action. */
export type BulkAction = 'cancel' | 'retry';

/** What a bulk action did, or (dry) would do. */
export interface BulkReport {
  readonly action: BulkAction;
  /** The tasks the filter matched, earliest first. */
  readonly matched: readonly ListedTask[];
  /** True when more than {@link BULK_LIMIT} matched: run it again for the rest. */
  readonly more: boolean;
  /** Acted on (cancelled, or retried as a new incarnation). */
  readonly done: number;
  /** A worker claimed the task between the listing and the action (a cancel only). */
  readonly tooLate: number;
  /** Tasks refused, with the reason (already retried, finished meanwhile). */
  readonly refused: readonly { readonly taskId: string; readonly reason: string }[];
}

/** The statuses an action applies to: SCHEDULED for a cancel, FAILED or EXPIRED for a retry. */
function statusesFor(action: BulkAction, asked: TaskStatus | undefined): TaskStatus[] {
  const allowed: TaskStatus[] =
    action === 'cancel' ? [TaskStatus.SCHEDULED] : [TaskStatus.FAILED, TaskStatus.EXPIRED];
  if (asked === undefined) return allowed;
  if (!allowed.includes(asked)) {
    throw new HourglassError(
      `${action} applies to ${allowed.join(' or ')} tasks, not --status ${asked}`,
    );
  }
  return [asked];
}

/**
 * Lists what `filter` matches for `action`, then, unless `dryRun`, acts on each in turn,
 * calling `onProgress` after each. A filter must narrow the tasks (a workflow, task type,
 * key or due window): a bulk action on every task of a deployment is refused.
 */
export async function bulkAct(
  deps: StoreDeps,
  definitions: HourglassDefinitions,
  action: BulkAction,
  filter: TaskFilter,
  why: OperatorReason,
  options: {
    readonly dryRun?: boolean;
    readonly onProgress?: (acted: number, of: number) => void;
  } = {},
): Promise<BulkReport> {
  const { status, limit: _, ...narrowing } = filter;
  if (Object.values(narrowing).every((v) => v === undefined)) {
    throw new HourglassError(
      `a bulk ${action} needs a filter: --workflow, --type, --key, --due-before or --due-after`,
    );
  }
  const pages = await Promise.all(
    statusesFor(action, status).map((s) =>
      listTasks(deps, { ...narrowing, status: s, limit: BULK_LIMIT }),
    ),
  );
  const matched = pages.flatMap((p) => p.tasks).sort((a, b) => a.runAt - b.runAt);
  const report = { action, matched, more: pages.some((p) => p.more) };
  if (options.dryRun) return { ...report, done: 0, tooLate: 0, refused: [] };
  let done = 0;
  let tooLate = 0;
  const refused: { taskId: string; reason: string }[] = [];
  for (const [i, task] of matched.entries()) {
    try {
      if (action === 'cancel') {
        const result = await cancelTask(deps, definitions, task.taskId, why);
        if (result.outcome === 'cancelled') done += 1;
        else tooLate += 1;
      } else {
        await retryTask(deps, definitions, task.taskId, why);
        done += 1;
      }
    } catch (error) {
      if (!(error instanceof OperatorRefusal)) throw error;
      refused.push({ taskId: task.taskId, reason: error.message });
    }
    options.onProgress?.(i + 1, matched.length);
  }
  return { ...report, done, tooLate, refused };
}
