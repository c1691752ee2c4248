import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type Json, TaskStatus } from '../core/definitions';
import { formatInstant } from '../core/time';
import {
  getTask,
  queryShards,
  retentionOf,
  type StoreDeps,
  type TaskExpectation,
  transitionTask,
} from './store';
import { expiresAt, Indexes, Keys, statusKeys, type TaskItem, unpublishedKeys } from './table';

/**
 * The task transitions a worker makes, each one conditional write on the task row (built by
 * `transitionTask`): the worker decides outcomes, the store writes them. Every method
 * returns false when the row is no longer what the caller read (a cancel, another worker, a
 * newer attempt), so two writers can never both win.
 */
export interface TaskStore {
  /** The row, strongly consistent. */
  get(ref: Pick<TaskItem, 'workflow' | 'key' | 'taskId'>): Promise<TaskItem | undefined>;
  /**
   * SCHEDULED at the generation read (or RUNNING with the lease read, when re-claiming a
   * lost attempt) → RUNNING as attempt `attempt + 1`, leased until `leaseUntil`.
   */
  claim(
    task: TaskItem,
    claim: { readonly at: number; readonly leaseUntil: number },
  ): Promise<boolean>;
  /** RUNNING as `attempt` → COMPLETED. */
  /** RUNNING → COMPLETED, keeping the handler's result (checked small JSON) when it returned one. */
  complete(task: TaskItem, attempt: number, at: number, result?: Json): Promise<boolean>;
  /**
   * → FAILED. From RUNNING as `attempt` after a failed attempt, or (with `attempt` null)
   * from the row as read, when no attempt is left to start.
   */
  fail(task: TaskItem, attempt: number | null, at: number, reason: string): Promise<boolean>;
  /**
   * The row as read → EXPIRED: its deadline passed before an attempt could start (or, with
   * `cause`, a journey control dropped it).
   */
  expire(task: TaskItem, at: number, cause?: string): Promise<boolean>;
  /**
   * SCHEDULED as read → SCHEDULED for a later `runAt` (a frequency cap deferred it), a new
   * generation, so the relay arms a new timer; no attempt is used.
   */
  defer(
    task: TaskItem,
    deferral: { readonly at: number; readonly runAt: number; readonly reason: string },
  ): Promise<boolean>;
  /**
   * RUNNING as `attempt` → SCHEDULED for `runAt`, a new generation (so the relay arms a new
   * timer and the attempt's messages turn stale).
   */
  retry(
    task: TaskItem,
    attempt: number,
    retry: { readonly at: number; readonly runAt: number; readonly reason: string },
  ): Promise<boolean>;
}

/** What the row must still be for a write based on this read of it to apply. */
function asRead(task: TaskItem): TaskExpectation {
  return {
    status: task.status,
    generation: task.generation,
    ...(task.status === TaskStatus.RUNNING ? { leaseUntil: task.leaseUntil } : {}),
  };
}

/** The {@link TaskStore} on the Hourglass table. */
export function dynamoTaskStore(deps: StoreDeps): TaskStore {
  const running = (attempt: number): TaskExpectation => ({ status: TaskStatus.RUNNING, attempt });
  return {
    get: (ref) => getTask(deps, ref),
    claim: (task, lease) => claimTask(deps, task, lease),
    complete: (task, attempt, at, result) =>
      finishTask(deps, task, running(attempt), {
        status: TaskStatus.COMPLETED,
        at,
        cause: `attempt ${attempt}`,
        ...(result === undefined || result === null ? {} : { result }),
      }),
    fail: (task, attempt, at, reason) =>
      attempt === null
        ? finishTask(deps, task, asRead(task), {
            status: TaskStatus.FAILED,
            at,
            cause: `attempt ${task.attempt} never finished`,
            lastError: reason,
          })
        : finishTask(deps, task, running(attempt), {
            status: TaskStatus.FAILED,
            at,
            cause: `attempt ${attempt}: ${reason}`,
            lastError: reason,
          }),
    expire: (task, at, cause) =>
      finishTask(deps, task, asRead(task), {
        status: TaskStatus.EXPIRED,
        at,
        cause: cause ?? `deadline ${formatInstant(task.deadlineAt ?? at)} passed`,
      }),
    defer: (task, { at, runAt, reason }) =>
      transitionTask(deps, task, asRead(task), {
        set: { runAt, ...statusKeys(task.taskId, TaskStatus.SCHEDULED, runAt) },
        bumpGeneration: true,
        entry: { at: formatInstant(at), status: TaskStatus.SCHEDULED, cause: reason },
      }),
    retry: (task, attempt, { at, runAt, reason }) =>
      transitionTask(deps, task, running(attempt), {
        set: {
          status: TaskStatus.SCHEDULED,
          runAt,
          lastError: reason,
          ...statusKeys(task.taskId, TaskStatus.SCHEDULED, runAt),
        },
        remove: ['leaseUntil'],
        bumpGeneration: true,
        entry: {
          at: formatInstant(at),
          status: TaskStatus.SCHEDULED,
          cause: `retry after attempt ${attempt}: ${reason}`,
        },
      }),
  };
}

/** SCHEDULED (or RUNNING with a lost lease) → RUNNING as the next attempt. */
function claimTask(
  deps: StoreDeps,
  task: TaskItem,
  { at, leaseUntil }: { readonly at: number; readonly leaseUntil: number },
): Promise<boolean> {
  const attempt = task.attempt + 1;
  const reclaim = task.status === TaskStatus.RUNNING;
  return transitionTask(deps, task, asRead(task), {
    set: {
      status: TaskStatus.RUNNING,
      attempt,
      leaseUntil,
      startedAt: task.startedAt ?? at,
      // SCHEDULED and RUNNING share the status index's keys: a claim moves no key.
    },
    entry: {
      at: formatInstant(at),
      status: TaskStatus.RUNNING,
      cause: reclaim
        ? `attempt ${attempt} (re-claimed after a lost attempt)`
        : `attempt ${attempt}`,
    },
  });
}

/**
 * → a final status: stamps the finish time and the TTL, moves the status key, and marks the
 * task unpublished until the relay has published its lifecycle event.
 */
function finishTask(
  deps: StoreDeps,
  task: TaskItem,
  expect: TaskExpectation,
  outcome: { status: TaskStatus; at: number; cause: string; lastError?: string; result?: Json },
): Promise<boolean> {
  const { status, at, cause, lastError, result } = outcome;
  const indexKeys = statusKeys(task.taskId, status, task.runAt);
  return transitionTask(deps, task, expect, {
    set: {
      status,
      finishedAt: at,
      ...(lastError === undefined ? {} : { lastError }),
      ...(result === undefined ? {} : { result }),
      expiresAt: expiresAt(at, retentionOf(deps)),
      ...indexKeys,
      ...(task.publish ? unpublishedKeys(task.taskId, at) : {}),
    },
    remove: indexKeys === null ? ['leaseUntil', 'GSI1PK', 'GSI1SK'] : ['leaseUntil'],
    entry: { at: formatInstant(at), status, cause },
  });
}

const isConditionFailure = (error: unknown) =>
  (error as { name?: string })?.name === 'ConditionalCheckFailedException';

/**
 * Updates a task row if `condition` holds: true when it did, false when the row had changed
 * (the caller's read is out of date, which for these marks is never an error).
 */
async function updateIf(
  deps: StoreDeps,
  task: Pick<TaskItem, 'workflow' | 'key' | 'taskId'>,
  write: {
    readonly update: string;
    readonly condition: string;
    readonly names?: Record<string, string>;
    readonly values: Record<string, unknown>;
  },
): Promise<boolean> {
  try {
    await deps.dynamo.send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: { PK: Keys.instancePk(task.workflow, task.key), SK: Keys.taskSk(task.taskId) },
        UpdateExpression: write.update,
        ConditionExpression: write.condition,
        ...(write.names ? { ExpressionAttributeNames: write.names } : {}),
        ExpressionAttributeValues: write.values,
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/**
 * Records that a finished task's lifecycle event was published: removes its mark (see
 * `unpublishedKeys`), if it is still in the status published. Safe to repeat.
 */
export async function markPublished(
  deps: StoreDeps,
  task: Pick<TaskItem, 'workflow' | 'key' | 'taskId' | 'status'>,
): Promise<void> {
  await updateIf(deps, task, {
    update: 'REMOVE GSI2PK, GSI2SK',
    condition: '#status = :status AND attribute_exists(GSI2PK)',
    names: { '#status': 'status' },
    values: { ':status': task.status },
  });
}

/**
 * Marks a task as swept at `now`, if it is still in the status and generation read and was
 * not swept since `sweptBefore`: true when this sweep may send its timer again. The mark is
 * what keeps overlapping sweeps, and a backlog that is only slow, from gaining a duplicate
 * message on every pass.
 */
export async function markSwept(
  deps: StoreDeps,
  task: Pick<TaskItem, 'workflow' | 'key' | 'taskId' | 'status' | 'generation'>,
  now: number,
  sweptBefore: number,
): Promise<boolean> {
  return updateIf(deps, task, {
    update: 'SET sweptAt = :now',
    condition:
      '#status = :status AND #generation = :generation AND (attribute_not_exists(sweptAt) OR sweptAt < :before)',
    names: { '#status': 'status', '#generation': 'generation' },
    values: {
      ':now': now,
      ':status': task.status,
      ':generation': task.generation,
      ':before': sweptBefore,
    },
  });
}

/**
 * Takes back a sweep mark made at `sweptAt` whose timer could not be sent, so the next
 * sweep sends it instead of waiting out the grace period. Only that mark: a later sweep's
 * is left alone.
 */
export async function unmarkSwept(
  deps: StoreDeps,
  task: Pick<TaskItem, 'workflow' | 'key' | 'taskId'>,
  sweptAt: number,
): Promise<void> {
  await updateIf(deps, task, {
    update: 'REMOVE sweptAt',
    condition: 'sweptAt = :sweptAt',
    values: { ':sweptAt': sweptAt },
  });
}

/**
 * Finished tasks whose lifecycle event is still unpublished and that finished before
 * `before`, oldest first, at most `limit` of them: listed from the marks index's
 * unpublished partitions (never a scan), which holds keys only, then each row read. In a
 * healthy deployment the list is empty: the relay clears a mark within seconds.
 */
export async function unpublishedTasks(
  deps: StoreDeps,
  before: number,
  limit: number,
): Promise<TaskItem[]> {
  const shards = await queryShards<Pick<TaskItem, 'PK' | 'SK' | 'GSI2SK'>>(deps, {
    index: Indexes.marks,
    keyCondition: 'GSI2PK = :pk AND GSI2SK < :before',
    partition: Keys.unpublishedPk,
    values: { ':before': new Date(before).toISOString() },
    firstPerShard: limit,
  });
  const listed = shards
    .flat()
    .sort((a, b) => (a.GSI2SK ?? '').localeCompare(b.GSI2SK ?? ''))
    .slice(0, limit);
  const rows: TaskItem[] = [];
  for (let i = 0; i < listed.length; i += READ_CONCURRENCY) {
    const read = await Promise.all(
      listed.slice(i, i + READ_CONCURRENCY).map(async ({ PK, SK }) => {
        const { Item } = await deps.dynamo.send(
          new GetCommand({ TableName: deps.tableName, Key: { PK, SK }, ConsistentRead: true }),
        );
        return Item as TaskItem | undefined;
      }),
    );
    // Published since it was listed (the index lags the table): nothing to do.
    rows.push(...read.filter((t): t is TaskItem => t?.GSI2PK !== undefined));
  }
  return rows;
}

/** Rows read at once when the sweeper reads the rows an index listed. */
const READ_CONCURRENCY = 25;
