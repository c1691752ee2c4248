import type { TimelineEntry } from '../core/commands';
import type { Instance, InstanceSnapshot, TaskFact } from '../core/decider';
import type { Json, TaskStatus } from '../core/definitions';
import type { RecordedEvent } from '../core/events';

/**
 * The single-table design. Every access pattern and the key that serves it is in
 * docs/table.md; no hot path scans.
 *
 * | item | PK | SK | GSI1 (open tasks by run time; failed and expired) | GSI2 (marks: unpublished tasks, rejected events by day) |
 * |---|---|---|---|---|
 * | instance | `I#<workflow>#<key>` | `I` | – | – |
 * | task | `I#<workflow>#<key>` | `T#<taskId>` | SCHEDULED or RUNNING: `OPEN#<shard>` / `<runAt ISO>#<taskId>`; FAILED or EXPIRED: `TASK#<status>#<shard>` / the same; COMPLETED or CANCELLED: not indexed | finished, lifecycle event not yet published: `UNPUBLISHED#<shard>` / `<finishedAt ISO>#<taskId>` |
 * | rejected event | `R#<eventId>` | `W#<workflow or ->` | – | `REJECTED#<day>` / `<time>#<eventId>` |
 */
export const Keys = {
  instancePk: (workflow: string, key: string) => `I#${workflow}#${key}`,
  instanceSk: 'I',
  taskSk: (taskId: string) => `T#${taskId}`,
  openPk: (shard: number) => `OPEN#${shard}`,
  statusPk: (status: TaskStatus, shard: number) => `TASK#${status}#${shard}`,
  rejectedPk: (eventId: string) => `R#${eventId}`,
  rejectedSk: (workflow: string | null) => `W#${workflow ?? '-'}`,
  rejectedDayPk: (isoDay: string) => `REJECTED#${isoDay}`,
  unpublishedPk: (shard: number) => `UNPUBLISHED#${shard}`,
  capPk: (control: string, person: string) => `CAP#${control}#${person}`,
  capSk: 'CAP',
} as const;

/** Index names, as the CDK construct creates them. */
export const Indexes = { byStatus: 'GSI1', marks: 'GSI2' } as const;

/**
 * Shards of the status index: spreads "all SCHEDULED tasks" over this many partitions so
 * no partition is hot; readers query each shard (in parallel) and merge by due time.
 */
export const STATUS_SHARDS = 16;

/** A stable shard for a task id (FNV-1a). */
export function shardOf(taskId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < taskId.length; i++) {
    hash ^= taskId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % STATUS_SHARDS;
}

export type { TimelineEntry } from '../core/commands';

/** A task row. Times are epoch milliseconds. */
export interface TaskItem {
  readonly PK: string;
  readonly SK: string;
  readonly type: 'task';
  /** Absent once COMPLETED or CANCELLED: see {@link statusKeys}. */
  readonly GSI1PK?: string;
  readonly GSI1SK?: string;
  readonly taskId: string;
  readonly workflow: string;
  readonly key: string;
  readonly taskType: string;
  readonly status: TaskStatus;
  /** Bumped by every change that makes earlier timer messages stale. */
  readonly generation: number;
  /** Attempts started so far. */
  readonly attempt: number;
  /** The due time history planned. */
  readonly dueAt: number;
  /** When the next attempt may start: the due time, or after a retry's backoff. */
  readonly runAt: number;
  readonly deadlineAt: number | null;
  /** Set (to 'minute') for a task type of minute precision; absent means second precision. */
  readonly precision?: 'minute';
  /** Its lifecycle events are published (a workflow consumes them, or all are asked for). */
  readonly publish?: true;
  /** The tenant its messages carry as their SQS message group (its task type's `tenant`). */
  readonly tenant?: string;
  /** Whose frequency caps it counts against (its task type's journey control). */
  readonly journeyKey?: string;
  /** The person's time zone for its control's quiet hours, checked again at start. */
  readonly journeyZone?: string;
  /** While RUNNING: the claim holds until then; past it, a redelivered message re-claims. */
  readonly leaseUntil?: number;
  readonly input: Json;
  readonly createdBy: string;
  readonly cancelledBy?: string;
  readonly lateCancels: string[];
  readonly startedAt?: number;
  readonly finishedAt?: number;
  readonly updatedAt: number;
  readonly lastError?: string;
  /** What the handler of the attempt that completed it returned (small JSON). */
  readonly result?: Json;
  /** Set while finished and its lifecycle event is not yet published: see {@link unpublishedKeys}. */
  readonly GSI2PK?: string;
  readonly GSI2SK?: string;
  /** When the sweeper last sent this task's timer again. */
  readonly sweptAt?: number;
  /** Once finished: when TTL may delete the row (epoch seconds). */
  readonly expiresAt?: number;
  readonly timeline: TimelineEntry[];
}

/** An instance row. */
export interface InstanceItem {
  readonly PK: string;
  readonly SK: 'I';
  readonly type: 'instance';
  readonly workflow: string;
  readonly key: string;
  readonly state: string;
  readonly context: unknown;
  readonly snapshot: InstanceSnapshot | null;
  readonly events: RecordedEvent[];
  /** Optimistic concurrency: every write is conditional on the version read. */
  readonly version: number;
  /** The workflow version the instance started under (absent: 1). */
  readonly definitionVersion?: number;
  readonly updatedAt: number;
  /** Once in a final state with no open task: when TTL may delete the row (epoch seconds). */
  readonly expiresAt?: number;
}

/** A rejected-event row: the event, and why. */
export interface RejectedItem {
  readonly PK: string;
  readonly SK: string;
  readonly type: 'rejected';
  readonly GSI2PK: string;
  readonly GSI2SK: string;
  readonly eventId: string;
  readonly workflow: string | null;
  readonly reason: string;
  /** The raw event as received, cut to {@link MAX_STORED_EVENT_CHARS}. */
  readonly event: string;
  readonly receivedAt: number;
  /** When TTL may delete the row (epoch seconds). */
  readonly expiresAt: number;
}

/**
 * How long finished tasks, finished instances and rejected events stay in the table before
 * DynamoDB's TTL may delete them. @see expiresAt
 */
export const DEFAULT_RETENTION_DAYS = 30;

/**
 * The TTL value (`expiresAt`, epoch seconds) of an item finished at `finishedAt`. DynamoDB
 * deletes expired items "typically within two days of expiration" (UpdateTimeToLive API),
 * not at that time, so readers
 * must not treat presence as a sign of anything.
 */
export function expiresAt(finishedAt: number, retentionMs: number): number {
  return Math.ceil((finishedAt + retentionMs) / 1_000);
}

/** Rejected events keep at most this much of the raw event. */
export const MAX_STORED_EVENT_CHARS = 8_192;

/** The decider's view of a task row. */
export function toFact(item: TaskItem): TaskFact {
  return {
    taskId: item.taskId,
    taskType: item.taskType,
    status: item.status,
    attempts: item.attempt,
    dueAt: item.dueAt,
    deadlineAt: item.deadlineAt,
    input: item.input,
    startedAt: item.startedAt ?? null,
    finishedAt: item.finishedAt ?? null,
    lateCancels: item.lateCancels,
    ...(item.result === undefined ? {} : { result: item.result }),
    ...(item.timeline[0] === undefined ? {} : { createdAt: Date.parse(item.timeline[0].at) }),
  };
}

/** The decider's view of an instance row. */
export function toInstance(item: InstanceItem): Instance {
  return {
    workflow: item.workflow,
    key: item.key,
    state: item.state,
    context: item.context,
    snapshot: item.snapshot,
    events: item.events,
    ...(item.definitionVersion === undefined ? {} : { definitionVersion: item.definitionVersion }),
  };
}

/**
 * The status-index keys of a task in a status, due to run at `runAt`, or null when the task
 * leaves the index. Open tasks (SCHEDULED and RUNNING) share one partition family, so a
 * claim changes no key and costs one small index write, not a delete and a put; FAILED and
 * EXPIRED tasks stay listed for operators; COMPLETED and CANCELLED tasks, the most numerous
 * rows, leave the index (it is sparse), so the index holds only what someone must look at.
 */
export function statusKeys(
  taskId: string,
  status: TaskStatus,
  runAt: number,
): { GSI1PK: string; GSI1SK: string } | null {
  const shard = shardOf(taskId);
  const GSI1SK = `${new Date(runAt).toISOString()}#${taskId}`;
  switch (status) {
    case 'SCHEDULED':
    case 'RUNNING':
      return { GSI1PK: Keys.openPk(shard), GSI1SK };
    case 'FAILED':
    case 'EXPIRED':
      return { GSI1PK: Keys.statusPk(status, shard), GSI1SK };
    default:
      return null;
  }
}

/**
 * The attributes the status index projects: what identifies a listed task and when it is
 * due, none of which a claim changes. A write that changes none of them (nor a key) costs
 * the index nothing, so a claim (status, attempt, lease) writes only the row; readers of
 * the index read those from the rows they list (`tasksDueBefore`). The history, input and
 * timeline are never copied into it.
 */
export const STATUS_INDEX_ATTRIBUTES = [
  'taskId',
  'workflow',
  'key',
  'taskType',
  'generation',
  'dueAt',
  'runAt',
  'deadlineAt',
  'sweptAt',
] as const;

/** A task as the status index holds it. */
export type IndexedTask = Pick<TaskItem, (typeof STATUS_INDEX_ATTRIBUTES)[number] | 'PK' | 'SK'>;

/**
 * The by-workflow-index keys that mark a finished task whose lifecycle event is not yet
 * published. The terminal write sets them; the relay removes them once PutEvents took the
 * event; the sweeper publishes again what still carries them after a grace period, so a
 * stream record dropped after its retries cannot lose the event.
 */
export function unpublishedKeys(taskId: string, finishedAt: number) {
  return {
    GSI2PK: Keys.unpublishedPk(shardOf(taskId)),
    GSI2SK: `${new Date(finishedAt).toISOString()}#${taskId}`,
  };
}

/**
 * The table's keys, indexes and stream, as data: the CDK construct and the local cloud
 * both create the table from this, so there is one source of truth.
 */
export const TABLE_SCHEMA = {
  partitionKey: 'PK',
  sortKey: 'SK',
  /** Every key attribute is a string. */
  attributes: ['PK', 'SK', 'GSI1PK', 'GSI1SK', 'GSI2PK', 'GSI2SK'],
  indexes: [
    {
      name: Indexes.byStatus,
      partitionKey: 'GSI1PK',
      sortKey: 'GSI1SK',
      projection: { type: 'INCLUDE', attributes: STATUS_INDEX_ATTRIBUTES },
    },
    // Marks that come and go (a finished task whose lifecycle event is not yet published, a
    // rejected event by day), keys only: readers read the few rows they list. Instances are
    // not indexed: nothing lists them by workflow, and an index entry per instance would
    // cost a write per new key.
    {
      name: Indexes.marks,
      partitionKey: 'GSI2PK',
      sortKey: 'GSI2SK',
      projection: { type: 'KEYS_ONLY' },
    },
  ],
  stream: 'NEW_AND_OLD_IMAGES',
  /** The TTL attribute: epoch seconds after which DynamoDB may delete the item. */
  timeToLive: 'expiresAt',
} as const;
