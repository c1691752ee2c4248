import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { formatInstant, type HourglassDefinitions, MS, TaskStatus } from '../core';
import { OperatorRefusal, parseTaskId } from './operator-actions';
import { getTask, queryShards, type StoreDeps } from './store';
import { type IndexedTask, Indexes, Keys, type TimelineEntry } from './table';

/**
 * What the dashboard's overview and task pages read, beside the operator API: counts and a
 * timeline of what is scheduled, recent failures, dead-letter queue depths, and one task's
 * whole story. Reads go through the status index and single rows, never a scan.
 */

/** The most index entries one overview reads per status; past it, counts say "at least". */
export const OVERVIEW_READ_LIMIT = 10_000;

/** Tasks of one task type in each place the status index shows. */
export interface TypeCounts {
  readonly taskType: string;
  /** Open and due later: waiting for their timers. */
  readonly waiting: number;
  /** Open and already due: running now, about to start, or late. */
  readonly due: number;
  readonly failed: number;
  readonly expired: number;
}

/** A failed or expired task, as the overview lists it. */
export interface FinishedBadly {
  readonly taskId: string;
  readonly taskType: string;
  readonly status: TaskStatus;
  readonly workflow: string;
  readonly key: string;
  readonly runAt: string;
}

/** How many timers fall due in each hour ahead. */
export interface TimerBucket {
  /** The hour's start, ISO-8601. */
  readonly from: string;
  readonly count: number;
}

/** A dead-letter queue and how many messages wait in it. */
export interface QueueDepth {
  readonly name: string;
  /** Null when the queue could not be read; `error` says why. */
  readonly messages: number | null;
  readonly error?: string;
}

/** The dashboard's overview. */
export interface Overview {
  readonly now: string;
  readonly counts: readonly TypeCounts[];
  /** True when a status had more than {@link OVERVIEW_READ_LIMIT} entries: counts are floors. */
  readonly capped: boolean;
  /** Timers due in each of the next `hours` hours (the last bucket holds everything later). */
  readonly timers: readonly TimerBucket[];
  /** Failed and expired tasks due within the last `recentHours` hours, newest first. */
  readonly recentFailures: readonly FinishedBadly[];
  readonly deadLetterQueues: readonly QueueDepth[];
}

/** A queue by the name people know it by, and its URL. */
export interface NamedQueue {
  readonly name: string;
  readonly url: string;
}

/** Where the overview reads dead-letter queues from. */
export interface DeadLetterQueues {
  readonly sqs: SQSClient;
  readonly queues: readonly NamedQueue[];
}

/** Every entry of one status family of the status index (open, failed or expired), up to the limit. */
async function indexEntries(deps: StoreDeps, partition: (shard: number) => string) {
  const shards = await queryShards<IndexedTask>(deps, {
    index: Indexes.byStatus,
    keyCondition: 'GSI1PK = :pk',
    partition,
    values: {},
    firstPerShard: Math.ceil(OVERVIEW_READ_LIMIT / 16),
  });
  const capped = shards.some((s) => s.length >= Math.ceil(OVERVIEW_READ_LIMIT / 16));
  return { entries: shards.flat(), capped };
}

/**
 * The overview at `deps.clock()`: per task type, the open tasks waiting and due, and the
 * failed and expired ones; the timers of the next `hours` hours, by hour; failures of the
 * last `recentHours`; and each dead-letter queue's depth. It reads the status index only
 * (which holds no completed or cancelled task: those are in each instance's history).
 */
export async function readOverview(
  deps: StoreDeps,
  definitions: HourglassDefinitions,
  dlqs: DeadLetterQueues | null,
  options: { readonly hours?: number; readonly recentHours?: number } = {},
): Promise<Overview> {
  const now = deps.clock();
  const hours = options.hours ?? 48;
  const recentHours = options.recentHours ?? 24;
  const [open, failed, expired, deadLetterQueues] = await Promise.all([
    indexEntries(deps, Keys.openPk),
    indexEntries(deps, (n) => Keys.statusPk(TaskStatus.FAILED, n)),
    indexEntries(deps, (n) => Keys.statusPk(TaskStatus.EXPIRED, n)),
    dlqs === null ? [] : queueDepths(dlqs),
  ]);
  const types = [
    ...new Set([
      ...definitions.taskTypes.map((t) => t.name),
      ...[open, failed, expired].flatMap((r) => r.entries.map((e) => e.taskType)),
    ]),
  ];
  const count = (entries: readonly IndexedTask[], type: string, keep = (_: IndexedTask) => true) =>
    entries.filter((e) => e.taskType === type && keep(e)).length;
  const counts = types.map(
    (taskType): TypeCounts => ({
      taskType,
      waiting: count(open.entries, taskType, (e) => e.runAt > now),
      due: count(open.entries, taskType, (e) => e.runAt <= now),
      failed: count(failed.entries, taskType),
      expired: count(expired.entries, taskType),
    }),
  );
  const recent = [
    ...failed.entries.map((e) => ({ ...e, status: TaskStatus.FAILED })),
    ...expired.entries.map((e) => ({ ...e, status: TaskStatus.EXPIRED })),
  ]
    .filter((e) => e.runAt > now - recentHours * MS.hour)
    .sort((a, b) => b.runAt - a.runAt)
    .map(
      (e): FinishedBadly => ({
        taskId: e.taskId,
        taskType: e.taskType,
        status: e.status,
        workflow: e.workflow,
        key: e.key,
        runAt: formatInstant(e.runAt),
      }),
    );
  return {
    now: formatInstant(now),
    counts,
    capped: open.capped || failed.capped || expired.capped,
    timers: timerBuckets(
      open.entries.map((e) => e.runAt),
      now,
      hours,
    ),
    recentFailures: recent,
    deadLetterQueues,
  };
}

/**
 * Counts run times into `hours` hourly buckets from the hour `now` is in; later ones fall
 * in the last bucket, past ones are left out. Pure.
 */
export function timerBuckets(runAts: readonly number[], now: number, hours: number): TimerBucket[] {
  const start = Math.floor(now / MS.hour) * MS.hour;
  const counts = new Array<number>(hours).fill(0);
  for (const at of runAts) {
    if (at <= now) continue;
    const bucket = Math.min(hours - 1, Math.floor((at - start) / MS.hour));
    counts[bucket]! += 1;
  }
  return counts.map((count, i) => ({ from: formatInstant(start + i * MS.hour), count }));
}

async function queueDepths(dlqs: DeadLetterQueues): Promise<QueueDepth[]> {
  return Promise.all(
    dlqs.queues.map(async ({ name, url }): Promise<QueueDepth> => {
      try {
        const { Attributes } = await dlqs.sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: url,
            AttributeNames: ['ApproximateNumberOfMessages'],
          }),
        );
        return { name, messages: Number(Attributes?.ApproximateNumberOfMessages ?? 0) };
      } catch (error) {
        return { name, messages: null, error: (error as Error).message };
      }
    }),
  );
}

/** One task's whole story, for the task page. */
export interface TaskDetail {
  readonly taskId: string;
  readonly workflow: string;
  readonly key: string;
  readonly taskType: string;
  readonly status: TaskStatus;
  readonly attempt: number;
  readonly dueAt: string;
  readonly runAt: string;
  readonly deadlineAt: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly lastError: string | null;
  readonly input: unknown;
  /** What the handler returned when it completed, or null. */
  readonly result: unknown;
  /** Every status change, oldest first, with its cause. */
  readonly timeline: readonly TimelineEntry[];
  /** Events that came after the task had started and so could not cancel it. */
  readonly lateCancels: readonly string[];
}

/** A task by its id, with its timeline; refused with the reason when there is no such task. */
export async function readTask(
  deps: StoreDeps,
  definitions: HourglassDefinitions,
  taskId: string,
): Promise<TaskDetail> {
  const owner = parseTaskId(taskId);
  if (owner === null || !definitions.workflows.some((w) => w.name === owner.workflow)) {
    throw new OperatorRefusal(
      `'${taskId}' is not a task id of these workflows (${definitions.workflows.map((w) => w.name).join(', ')}); copy one from hourglass tasks or inspect`,
    );
  }
  const row = await getTask(deps, { ...owner, taskId });
  if (row === undefined) {
    throw new OperatorRefusal(`no task '${taskId}' (it never existed, or its row expired)`);
  }
  const at = (ms: number | undefined | null) => (ms == null ? null : formatInstant(ms));
  return {
    taskId,
    workflow: row.workflow,
    key: row.key,
    taskType: row.taskType,
    status: row.status,
    attempt: row.attempt,
    dueAt: formatInstant(row.dueAt),
    runAt: formatInstant(row.runAt),
    deadlineAt: at(row.deadlineAt),
    startedAt: at(row.startedAt),
    finishedAt: at(row.finishedAt),
    lastError: row.lastError ?? null,
    input: row.input,
    result: row.result ?? null,
    timeline: row.timeline,
    lateCancels: row.lateCancels,
  };
}
