import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  type PutCommandInput,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';

/** One item of a DynamoDB transaction, with plain JavaScript values. */
export type TransactWriteItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

import { type Decision, decide, type Instance, newInstance } from '../core/decider';
import type { TaskStatus, Workflow } from '../core/definitions';
import { HourglassError } from '../core/errors';
import type { RecordedEvent, Rejection } from '../core/events';
import {
  decisionWrites,
  isFinished,
  type LifecycleEvents,
  minutePrecisionTypes,
  publishedTaskTypes,
  rejectedItem,
} from './decision-writes';
import { ConflictError } from './errors';
import {
  DEFAULT_RETENTION_DAYS,
  type InstanceItem,
  Keys,
  STATUS_SHARDS,
  type TaskItem,
  type TimelineEntry,
  toFact,
  toInstance,
} from './table';

/** What the store needs: the table, a document client, and a clock. */
export interface StoreDeps {
  readonly dynamo: DynamoDBDocumentClient;
  readonly tableName: string;
  /** Epoch ms now. */
  readonly clock: () => number;
  /**
   * How long finished tasks, finished instances and rejected events are kept before TTL may
   * delete them. @default DEFAULT_RETENTION_DAYS days
   */
  readonly retentionMs?: number;
  /** Whose lifecycle events are published. @default 'consumed' */
  readonly lifecycleEvents?: LifecycleEvents;
}

/** The retention of a store's finished rows. */
export function retentionOf(deps: Pick<StoreDeps, 'retentionMs'>): number {
  return deps.retentionMs ?? DEFAULT_RETENTION_DAYS * 86_400_000;
}

/** DynamoDB's limit on the items of one transaction. */
export const MAX_TRANSACTION_ITEMS = 100;
/** How often ingest re-reads and re-decides when another writer changed the instance first. */
export const MAX_DECISION_ATTEMPTS = 5;

/** An instance as stored: its state, its tasks, and the version the next write must match. */
export interface LoadedInstance {
  readonly instance: Instance;
  /** null when the instance does not exist yet. */
  readonly version: number | null;
  readonly tasks: readonly TaskItem[];
}

/** True when an item's TTL (`expiresAt`, epoch seconds) has passed at `now` (epoch ms). */
function hasExpired(item: { readonly expiresAt?: number }, now: number): boolean {
  return item.expiresAt !== undefined && item.expiresAt * 1_000 <= now;
}

/** Reads an instance and all its tasks with one strongly consistent Query on its partition. */
export async function loadInstance(
  deps: StoreDeps,
  workflow: Workflow,
  key: string,
): Promise<LoadedInstance> {
  const { instanceItem, tasks } = await readInstancePartition(deps, workflow.name, key);
  return {
    instance: instanceItem ? toInstance(instanceItem) : newInstance(workflow, key),
    version: instanceItem?.version ?? null,
    tasks,
  };
}

/**
 * The rows of one instance's partition, strongly consistent: its instance row (if any) and
 * its task rows, those past their TTL left out.
 */
export async function readInstancePartition(
  deps: StoreDeps,
  workflowName: string,
  key: string,
): Promise<{ instanceItem: InstanceItem | undefined; tasks: TaskItem[] }> {
  let instanceItem: InstanceItem | undefined;
  const tasks: TaskItem[] = [];
  const now = deps.clock();
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await deps.dynamo.send(
      new QueryCommand({
        TableName: deps.tableName,
        KeyConditionExpression: 'PK = :pk',
        ExpressionAttributeValues: { ':pk': Keys.instancePk(workflowName, key) },
        ConsistentRead: true,
        ExclusiveStartKey,
      }),
    );
    for (const item of page.Items ?? []) {
      if (item.type === 'instance') instanceItem = item as InstanceItem;
      // A row past its TTL is as good as deleted: DynamoDB removes it within days, in no
      // set order with its instance. Read it as gone now, whenever the deletion happens.
      else if (item.type === 'task' && !hasExpired(item as TaskItem, now))
        tasks.push(item as TaskItem);
    }
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return { instanceItem, tasks };
}

/** Reads one task row, strongly consistent. */
export async function getTask(
  deps: StoreDeps,
  ref: { readonly workflow: string; readonly key: string; readonly taskId: string },
): Promise<TaskItem | undefined> {
  const { Item } = await deps.dynamo.send(
    new GetCommand({
      TableName: deps.tableName,
      Key: { PK: Keys.instancePk(ref.workflow, ref.key), SK: Keys.taskSk(ref.taskId) },
      ConsistentRead: true,
    }),
  );
  return Item as TaskItem | undefined;
}

/** Cancellation reasons of a transaction that mean "another writer got there first". */
const CONFLICT_REASONS = new Set(['None', 'ConditionalCheckFailed', 'TransactionConflict']);

/**
 * True when a write lost a race: a failed condition, or a transaction cancelled only for
 * conflicts. DynamoDB also cancels a transaction for other reasons, listed per item in
 * `CancellationReasons` (a `ValidationError` such as "Item size to update has exceeded the
 * maximum allowed size", `ProvisionedThroughputExceeded`, `ThrottlingError`): those are not
 * conflicts, and re-deciding cannot help them.
 */
export function isConflict(error: unknown): boolean {
  const e = error as { name?: string; CancellationReasons?: { Code?: string }[] } | null;
  if (e?.name === 'ConditionalCheckFailedException') return true;
  if (e?.name !== 'TransactionCanceledException') return false;
  const reasons = e.CancellationReasons ?? [];
  return reasons.every((r) => CONFLICT_REASONS.has(r.Code ?? 'None'));
}

/** Records events that were not accepted, with their reasons (idempotent: one row per event and workflow). */
export async function putRejections(
  deps: StoreDeps,
  rejections: readonly { readonly rejection: Rejection; readonly raw: unknown }[],
): Promise<void> {
  const now = deps.clock();
  await Promise.all(
    rejections.map(({ rejection, raw }) =>
      deps.dynamo.send(
        new PutCommand({
          TableName: deps.tableName,
          Item: rejectedItem(rejection, raw, now, retentionOf(deps)),
        }),
      ),
    ),
  );
}

function unchanged(loaded: LoadedInstance, decision: Decision): boolean {
  if (decision.commands.length > 0 || decision.accepted.length > 0 || loaded.version === null)
    return false;
  const before = loaded.instance;
  const after = decision.instance;
  return (
    before.state === after.state &&
    before.snapshot === after.snapshot &&
    JSON.stringify(before.context) === JSON.stringify(after.context)
  );
}

/** The result of {@link decideAndCommit}. */
export interface Committed {
  readonly decision: Decision;
  /** How many decisions it took (more than 1 when another writer got there first). */
  readonly attempts: number;
  /** False when the decision changed nothing, so nothing was written. */
  readonly written: boolean;
}

/**
 * Reads an instance, decides, and writes the new state with every task change at once:
 * one conditional write, a transaction when it touches more than one item. When another writer changed the instance or one of its tasks
 * first, it re-reads and re-decides, up to {@link MAX_DECISION_ATTEMPTS} times, then throws
 * a ConflictError (transient: the caller returns the batch item to its queue).
 */
export async function decideAndCommit(
  deps: StoreDeps,
  workflow: Workflow,
  key: string,
  events: readonly RecordedEvent[],
): Promise<Committed> {
  for (let attempt = 1; attempt <= MAX_DECISION_ATTEMPTS; attempt++) {
    const loaded = await loadInstance(deps, workflow, key);
    const now = deps.clock();
    const decision = decide(workflow, loaded.instance, events, loaded.tasks.map(toFact), now);
    if (unchanged(loaded, decision)) return { decision, attempts: attempt, written: false };
    const writes = decisionWrites(deps.tableName, loaded, decision, events, now, {
      retentionMs: retentionOf(deps),
      finished: isFinished(workflow, loaded, decision),
      minutePrecision: minutePrecisionTypes(workflow),
      published: publishedTaskTypes(workflow, deps.lifecycleEvents ?? 'consumed'),
    });
    if (writes.length > MAX_TRANSACTION_ITEMS) {
      throw new HourglassError(
        `workflow '${workflow.name}' key '${key}': one decision needs ${writes.length} writes, over DynamoDB's transaction limit of ${MAX_TRANSACTION_ITEMS}; deliver fewer events per batch for this key or schedule fewer tasks per event`,
      );
    }
    try {
      await commitWrites(deps, writes);
      return { decision, attempts: attempt, written: true };
    } catch (error) {
      if (!isConflict(error)) throw error;
    }
  }
  throw new ConflictError(workflow.name, key, MAX_DECISION_ATTEMPTS);
}

/**
 * Writes a decision's items: one item as a plain conditional write, more as one
 * transaction. AWS: "Transactional write requests require two write capacity units to
 * perform one write per second for items up to 1 KB" (DynamoDB Developer Guide, "Read/write
 * capacity mode"), a plain write one; and a decision that only moves its instance (a task's
 * outcome that schedules nothing, an event that changes only the state) touches one item.
 */
async function commitWrites(deps: StoreDeps, writes: readonly TransactWriteItem[]): Promise<void> {
  const [only] = writes;
  if (writes.length === 1 && only?.Put) {
    await deps.dynamo.send(new PutCommand(only.Put as PutCommandInput));
  } else if (writes.length === 1 && only?.Update) {
    await deps.dynamo.send(new UpdateCommand(only.Update as UpdateCommandInput));
  } else {
    await deps.dynamo.send(new TransactWriteCommand({ TransactItems: [...writes] }));
  }
}

/** The guard on a task transition: what the row must still be for the write to apply. */
export interface TaskExpectation {
  readonly status: TaskStatus;
  readonly generation?: number;
  readonly attempt?: number;
  readonly leaseUntil?: number;
}

/**
 * Moves a task row from what the caller read to a new state, conditionally. Returns
 * false when the row changed meanwhile (another worker, a cancel): the caller lost the race.
 */
export async function transitionTask(
  deps: StoreDeps,
  task: Pick<TaskItem, 'workflow' | 'key' | 'taskId'>,
  expect: TaskExpectation,
  change: {
    readonly set: Record<string, unknown>;
    readonly remove?: readonly string[];
    readonly entry: TimelineEntry;
    readonly bumpGeneration?: boolean;
  },
): Promise<boolean> {
  const names: Record<string, string> = {
    '#status': 'status',
    '#timeline': 'timeline',
    '#updatedAt': 'updatedAt',
  };
  const values: Record<string, unknown> = {
    ':expectedStatus': expect.status,
    ':entry': [change.entry],
    ':now': change.set.updatedAt ?? deps.clock(),
  };
  const sets = ['#timeline = list_append(#timeline, :entry)', '#updatedAt = :now'];
  const conditions = ['#status = :expectedStatus'];
  for (const [field, value] of Object.entries(change.set)) {
    if (field === 'updatedAt') continue;
    names[`#${field}`] = field;
    values[`:${field}`] = value;
    sets.push(`#${field} = :${field}`);
  }
  if (change.bumpGeneration) {
    names['#generation'] = 'generation';
    values[':one'] = 1;
    sets.push('#generation = #generation + :one');
  }
  for (const field of ['generation', 'attempt', 'leaseUntil'] as const) {
    if (expect[field] === undefined) continue;
    names[`#${field}`] = field;
    values[`:expected_${field}`] = expect[field];
    conditions.push(`#${field} = :expected_${field}`);
  }
  const removes = (change.remove ?? []).map((field) => {
    names[`#${field}`] = field;
    return `#${field}`;
  });
  try {
    await deps.dynamo.send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: { PK: Keys.instancePk(task.workflow, task.key), SK: Keys.taskSk(task.taskId) },
        UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
        ConditionExpression: conditions.join(' AND '),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
    return true;
  } catch (error) {
    if ((error as { name?: string })?.name === 'ConditionalCheckFailedException') return false;
    throw error;
  }
}

/** A query of one sharded index partition family, as {@link queryShards} runs it. */
export interface ShardedQuery<T = Record<string, unknown>> {
  readonly index: string;
  /** The key condition, with `:pk` for the shard's partition key. */
  readonly keyCondition: string;
  /** The partition key of shard n. */
  readonly partition: (shard: number) => string;
  /** The condition's (and the filter's) other values. */
  readonly values: Record<string, unknown>;
  /**
   * A filter on the items read. DynamoDB applies it after the key condition and `Limit`, so
   * the query pages on until `firstPerShard` items pass it.
   */
  readonly filter?: string;
  /** Only the first this many of each shard. @default all */
  readonly firstPerShard?: number;
  /** Attribute names the condition or filter refers to by `#name`. */
  readonly names?: Record<string, string>;
  /**
   * Turns each page read into the items kept (reading more about them, dropping some);
   * `firstPerShard` counts what it keeps. @default every item as read
   */
  readonly select?: (page: readonly Record<string, unknown>[]) => Promise<T[]>;
}

/**
 * Runs a query on each of the {@link STATUS_SHARDS} partitions of a sharded index in
 * parallel, following pages, and returns each shard's items.
 */
export async function queryShards<T>(deps: StoreDeps, query: ShardedQuery<T>): Promise<T[][]> {
  const { firstPerShard } = query;
  const shard = async (n: number) => {
    const items: T[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await deps.dynamo.send(
        new QueryCommand({
          TableName: deps.tableName,
          IndexName: query.index,
          KeyConditionExpression: query.keyCondition,
          ...(query.filter === undefined ? {} : { FilterExpression: query.filter }),
          ExpressionAttributeValues: { ':pk': query.partition(n), ...query.values },
          ...(query.names === undefined ? {} : { ExpressionAttributeNames: query.names }),
          ...(firstPerShard === undefined ? {} : { Limit: firstPerShard - items.length }),
          ExclusiveStartKey,
        }),
      );
      const read = page.Items ?? [];
      items.push(...(query.select === undefined ? (read as T[]) : await query.select(read)));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey && (firstPerShard === undefined || items.length < firstPerShard));
    return items;
  };
  return Promise.all(Array.from({ length: STATUS_SHARDS }, (_, n) => shard(n)));
}
