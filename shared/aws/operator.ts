import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import {
  findWorkflow,
  formatInstant,
  type HourglassDefinitions,
  HourglassError,
  type Influence,
  influencesOn,
  keyPathOf,
  MS,
  OPERATOR_SOURCE,
  type OperatorReschedule,
  parseInstant,
  readPath,
  TaskStatus,
} from '../core';
import { tasksDueBefore } from './status-index';
import { loadInstance, readInstancePartition, type StoreDeps } from './store';
import { Indexes, Keys, type RejectedItem, type TaskItem } from './table';

/**
 * The operator API: what the `hourglass` command line and the dashboard read, against a
 * deployed table or the local cloud's alike. Reads go through the instance's partition or
 * the table's indexes, never a scan.
 */

/** A task that has not finished, and what could still cancel or change it. */
export interface PendingTask {
  readonly taskId: string;
  readonly taskType: string;
  readonly status: TaskStatus;
  /** When history planned it, and when its next attempt may start (later after a retry). */
  readonly dueAt: string;
  readonly runAt: string;
  readonly deadlineAt: string | null;
  readonly attempt: number;
  /** The events (or outcomes) that would cancel, move or update it from the current state. */
  readonly influences: readonly Influence[];
}

/** One line of an instance's history, in time order. */
export interface HistoryLine {
  readonly at: string;
  readonly kind: 'event' | 'task' | 'rejected';
  readonly text: string;
  /** A late cancel (an event that came after its task had started) or a rejection. */
  readonly marked: boolean;
}

/** What `hourglass inspect WORKFLOW KEY` shows. */
export interface InstanceReport {
  readonly workflow: string;
  readonly key: string;
  /** False when no event for the key was ever accepted (or its row has expired). */
  readonly found: boolean;
  readonly state: string;
  readonly final: boolean;
  readonly context: unknown;
  readonly pending: readonly PendingTask[];
  readonly history: readonly HistoryLine[];
  /** Events folded into the snapshot: no longer listed one by one. */
  readonly foldedEvents: boolean;
}

const OPEN: readonly TaskStatus[] = [TaskStatus.SCHEDULED, TaskStatus.RUNNING];

/** How far back `inspect` looks for rejected events of the key. */
export const REJECTED_LOOKBACK_DAYS = 7;

/**
 * An instance as it stands: state and context, its pending tasks with what could cancel or
 * change each one, and its history (events, every task's status changes, late cancels and
 * rejected events), in time order.
 */
export async function inspectInstance(
  deps: StoreDeps,
  definitions: HourglassDefinitions,
  workflowName: string,
  key: string,
): Promise<InstanceReport> {
  const workflow = findWorkflow(definitions, workflowName);
  const loaded = await loadInstance(deps, workflow, key);
  const { instance } = loaded;
  const pending = loaded.tasks
    .filter((t) => OPEN.includes(t.status))
    .sort((a, b) => a.runAt - b.runAt)
    .map(
      (t): PendingTask => ({
        taskId: t.taskId,
        taskType: t.taskType,
        status: t.status,
        dueAt: formatInstant(t.dueAt),
        runAt: formatInstant(t.runAt),
        deadlineAt: t.deadlineAt === null ? null : formatInstant(t.deadlineAt),
        attempt: t.attempt,
        influences: influencesOn(workflow, instance.state, t.taskType),
      }),
    );
  const rejected = await rejectedFor(deps, definitions, workflowName, key);
  return {
    workflow: workflowName,
    key,
    found: loaded.version !== null,
    state: instance.state,
    final: workflow.states[instance.state]?.final ?? false,
    context: instance.context,
    pending,
    history: historyOf(instance.events, loaded.tasks, rejected),
    foldedEvents: instance.snapshot !== null,
  };
}

/** Events, task status changes and rejections, merged in time order. */
function historyOf(
  events: readonly {
    id: string;
    source: string;
    detailType: string;
    time: number;
    detail: unknown;
    appliedAt?: number;
  }[],
  tasks: readonly TaskItem[],
  rejected: readonly RejectedItem[],
): HistoryLine[] {
  const lateCancels = new Map<string, string[]>();
  for (const task of tasks) {
    for (const eventId of task.lateCancels) {
      lateCancels.set(eventId, [...(lateCancels.get(eventId) ?? []), task.taskId]);
    }
  }
  const lines: (HistoryLine & { readonly ms: number })[] = [];
  for (const e of events) {
    const late = lateCancels.get(e.id);
    const arrived = e.appliedAt === undefined ? '' : `, applied ${formatInstant(e.appliedAt)}`;
    const op = e.detail as Partial<OperatorReschedule>;
    const operator =
      e.source === OPERATOR_SOURCE
        ? ` of ${op.taskId}${op.dueAt ? ` to ${op.dueAt}` : ''} by ${op.by}: ${op.reason}`
        : '';
    lines.push({
      ms: e.time,
      at: formatInstant(e.time),
      kind: 'event',
      text: `${e.detailType} ${e.id}${operator}${arrived}${late ? `; too late to cancel ${late.join(', ')}` : ''}`,
      marked: late !== undefined,
    });
  }
  for (const task of tasks) {
    for (const entry of task.timeline) {
      const ms = parseInstant(entry.at, 'timeline.at');
      lines.push({
        ms,
        at: entry.at,
        kind: 'task',
        text: `${task.taskType} ${task.taskId} → ${entry.status} (${entry.cause})`,
        marked: false,
      });
    }
  }
  for (const r of rejected) {
    lines.push({
      ms: r.receivedAt,
      at: formatInstant(r.receivedAt),
      kind: 'rejected',
      text: `${r.eventId}: ${r.reason}`,
      marked: true,
    });
  }
  return lines.sort((a, b) => a.ms - b.ms).map(({ ms: _ms, ...line }) => line);
}

/**
 * The rejected events of one instance in the last {@link REJECTED_LOOKBACK_DAYS} days: read
 * by day from the marks index (keys only), then each row, kept when its event carries the
 * key. Rejections are few, so this reads little.
 */
async function rejectedFor(
  deps: StoreDeps,
  definitions: HourglassDefinitions,
  workflowName: string,
  key: string,
): Promise<RejectedItem[]> {
  const workflow = findWorkflow(definitions, workflowName);
  const now = deps.clock();
  const found: RejectedItem[] = [];
  for (let day = 0; day < REJECTED_LOOKBACK_DAYS; day++) {
    const isoDay = new Date(now - day * MS.day).toISOString().slice(0, 10);
    for (const row of await rejectedOfDay(deps, isoDay)) {
      // Refused by this workflow, or before any workflow took it (a detail its schema
      // refused): either way, it concerns this instance if it carries the key.
      if (row.workflow !== null && row.workflow !== workflowName) continue;
      const event = parseStoredEvent(row.event);
      const detailType = (event as { 'detail-type'?: unknown })?.['detail-type'];
      if (typeof detailType !== 'string') continue;
      if (!workflow.events.some((e) => e.detailType === detailType)) continue;
      if (String(readPath(event, keyPathOf(workflow, detailType))) === key) found.push(row);
    }
  }
  return found;
}

/** The rejected events of one UTC day (`2026-11-24`): listed by the marks index, each row read. */
async function rejectedOfDay(deps: StoreDeps, isoDay: string): Promise<RejectedItem[]> {
  const rows: RejectedItem[] = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await deps.dynamo.send(
      new QueryCommand({
        TableName: deps.tableName,
        IndexName: Indexes.marks,
        KeyConditionExpression: 'GSI2PK = :pk',
        ExpressionAttributeValues: { ':pk': Keys.rejectedDayPk(isoDay) },
        ExclusiveStartKey,
      }),
    );
    for (const listed of page.Items ?? []) {
      const row = await readRejected(deps, listed.PK as string, listed.SK as string);
      if (row !== undefined) rows.push(row);
    }
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return rows;
}

async function readRejected(
  deps: StoreDeps,
  PK: string,
  SK: string,
): Promise<RejectedItem | undefined> {
  const { Item } = await deps.dynamo.send(
    new GetCommand({ TableName: deps.tableName, Key: { PK, SK } }),
  );
  return Item as RejectedItem | undefined;
}

function parseStoredEvent(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null; // cut to the stored length: its key cannot be read
  }
}

/** Which tasks `hourglass tasks` lists. */
export interface TaskFilter {
  readonly workflow?: string;
  readonly key?: string;
  readonly taskType?: string;
  /** @default the open tasks (SCHEDULED and RUNNING) */
  readonly status?: TaskStatus;
  /** Only tasks due (to run) before / after these instants, epoch ms. */
  readonly dueBefore?: number;
  readonly dueAfter?: number;
  /** At most this many, earliest first. @default 50 */
  readonly limit?: number;
}

/** A task as `hourglass tasks` lists it. */
export type ListedTask = Pick<
  TaskItem,
  'taskId' | 'workflow' | 'key' | 'taskType' | 'status' | 'attempt' | 'runAt' | 'dueAt'
>;

/** One page of {@link listTasks}: `more` when the limit cut the list. */
export interface TaskPage {
  readonly tasks: readonly ListedTask[];
  readonly more: boolean;
}

/**
 * Refuses a filter the table cannot answer without a scan, saying what to add: a key
 * without its workflow, or finished tasks without their instance.
 */
export function checkTaskFilter(filter: TaskFilter): void {
  if (filter.workflow !== undefined && filter.key !== undefined) return;
  if (filter.key !== undefined) {
    throw new HourglassError('a key needs its workflow: add --workflow NAME');
  }
  if (filter.status === TaskStatus.COMPLETED || filter.status === TaskStatus.CANCELLED) {
    throw new HourglassError(
      `${filter.status} tasks are not in the status index (it holds open, failed and expired tasks); list them by instance with --workflow NAME --key KEY`,
    );
  }
}

/**
 * Tasks by workflow, key, task type, status and due window, earliest first: from the
 * instance's partition when a workflow and key are given (any status), else from the status
 * index (open, FAILED or EXPIRED tasks: finished and cancelled ones are not indexed).
 */
export async function listTasks(deps: StoreDeps, filter: TaskFilter = {}): Promise<TaskPage> {
  const limit = filter.limit ?? 50;
  const byInstance = filter.workflow !== undefined && filter.key !== undefined;
  // An instance's tasks: every status unless asked; the index: the open ones by default.
  const statuses =
    filter.status !== undefined ? [filter.status] : byInstance ? Object.values(TaskStatus) : OPEN;
  const keep = (t: ListedTask) =>
    statuses.includes(t.status) &&
    (filter.workflow === undefined || t.workflow === filter.workflow) &&
    (filter.key === undefined || t.key === filter.key) &&
    (filter.taskType === undefined || t.taskType === filter.taskType) &&
    (filter.dueBefore === undefined || t.runAt < filter.dueBefore) &&
    (filter.dueAfter === undefined || t.runAt > filter.dueAfter);
  let found: ListedTask[];
  if (byInstance) {
    // Rows past their TTL read as gone, as everywhere else.
    found = (await readInstancePartition(deps, filter.workflow!, filter.key!)).tasks;
  } else {
    checkTaskFilter(filter);
    // Filters the index cannot apply are applied here, so then every page must be read.
    const filtered = filter.workflow !== undefined || filter.taskType !== undefined;
    const range = {
      ...(filter.dueBefore === undefined ? {} : { before: filter.dueBefore }),
      ...(filter.dueAfter === undefined ? {} : { after: filter.dueAfter }),
      ...(filtered ? {} : { firstPerShard: limit + 1 }),
    };
    // The open statuses share a partition: one read for both, not one each.
    const openAsked = statuses.filter((s) => OPEN.includes(s));
    const lists = await Promise.all([
      ...(openAsked.length === 0 ? [] : [tasksDueBefore(deps, openAsked, range)]),
      ...statuses.filter((s) => !OPEN.includes(s)).map((s) => tasksDueBefore(deps, s, range)),
    ]);
    found = lists.flat();
  }
  const kept = found.filter(keep).sort((a, b) => a.runAt - b.runAt);
  // The listed fields only: not the table's keys.
  const listed = kept.map(
    ({ taskId, workflow, key, taskType, status, attempt, runAt, dueAt }): ListedTask => ({
      taskId,
      workflow,
      key,
      taskType,
      status,
      attempt,
      runAt,
      dueAt,
    }),
  );
  return { tasks: listed.slice(0, limit), more: listed.length > limit };
}

/** A rejected event, as `hourglass rejected` lists it. */
export interface RejectedEvent {
  readonly eventId: string;
  /** The workflow that refused it, or null when no workflow could take it. */
  readonly workflow: string | null;
  readonly reason: string;
  readonly receivedAt: string;
  /** The event as received (cut to the stored length). */
  readonly event: string;
}

/**
 * Rejected events of the last `days` days (default {@link REJECTED_LOOKBACK_DAYS}), newest
 * first, at most `limit`: read by day from the marks index, then each row.
 */
export async function listRejected(
  deps: StoreDeps,
  options: { readonly days?: number; readonly limit?: number; readonly workflow?: string } = {},
): Promise<{ readonly events: readonly RejectedEvent[]; readonly more: boolean }> {
  const days = options.days ?? REJECTED_LOOKBACK_DAYS;
  const limit = options.limit ?? 50;
  const now = deps.clock();
  const found: RejectedEvent[] = [];
  for (let day = 0; day < days && found.length <= limit; day++) {
    const isoDay = new Date(now - day * MS.day).toISOString().slice(0, 10);
    for (const row of await rejectedOfDay(deps, isoDay)) {
      if (options.workflow !== undefined && row.workflow !== options.workflow) continue;
      found.push({
        eventId: row.eventId,
        workflow: row.workflow,
        reason: row.reason,
        receivedAt: formatInstant(row.receivedAt),
        event: row.event,
      });
    }
  }
  found.sort((a, b) => (a.receivedAt < b.receivedAt ? 1 : -1));
  return { events: found.slice(0, limit), more: found.length > limit };
}
