import { BatchGetCommand } from '@aws-sdk/lib-dynamodb';
import { TaskStatus } from '../core/definitions';
import { HourglassError } from '../core/errors';
import { formatInstant } from '../core/time';
import { queryShards, type StoreDeps } from './store';
import { type IndexedTask, Indexes, Keys, type TaskItem } from './table';

/**
 * Reading the status index (GSI1): open tasks by run time, failed and expired tasks.
 *
 * The index projects only what a task's claim does not change (see
 * `STATUS_INDEX_ATTRIBUTES`), so a claim costs the index nothing. What a claim changes (the
 * status, the attempt, the lease) is read from the rows of the tasks listed: the index
 * finds them, the table says where they stand.
 */

/** A listed task: the index's fields and, read from its row, where it stands now. */
export type ListedTaskRow = IndexedTask &
  Pick<TaskItem, 'status' | 'attempt' | 'leaseUntil' | 'tenant'>;

/** Which tasks {@link tasksDueBefore} lists. */
export interface DueRange {
  /** Only those due to run before this (epoch ms). */
  readonly before?: number;
  /** Only those due to run after this (epoch ms). */
  readonly after?: number;
  /** Only the first this many of each shard (enough to know the earliest ones). */
  readonly firstPerShard?: number;
  /** Only tasks the sweeper has not re-sent since this time (epoch ms). */
  readonly notSweptSince?: number;
}

/**
 * BatchGetItem reads at most this many keys per call ("A single BatchGetItem operation can
 * retrieve up to 16 MB of data, which can contain as many as 100 items", DynamoDB API
 * Reference, BatchGetItem).
 */
const BATCH_GET_LIMIT = 100;
/**
 * Rounds of retrying the keys a BatchGetItem left unprocessed before giving up, with an
 * exponential backoff between them ("If DynamoDB returns any unprocessed items, you should
 * retry the batch operation on those items. However, we strongly recommend that you use an
 * exponential backoff algorithm", the same page).
 */
const UNPROCESSED_ROUNDS = 8;

/**
 * The status, attempt, lease and tenant of each listed task, read from its row (eventually
 * consistent: half a read unit each; a writer that acts on them conditions its write on
 * them anyway). Rows gone since the index was read (past their TTL) are left out.
 */
export async function withRowState(
  deps: StoreDeps,
  listed: readonly IndexedTask[],
): Promise<ListedTaskRow[]> {
  const byKey = new Map<string, Pick<TaskItem, 'status' | 'attempt' | 'leaseUntil' | 'tenant'>>();
  for (let i = 0; i < listed.length; i += BATCH_GET_LIMIT) {
    let keys: Record<string, unknown>[] = listed
      .slice(i, i + BATCH_GET_LIMIT)
      .map(({ PK, SK }) => ({ PK, SK }));
    for (let round = 0; keys.length > 0; round++) {
      if (round === UNPROCESSED_ROUNDS)
        throw new HourglassError(
          `reading ${keys.length} task row(s) listed by the status index was throttled ${UNPROCESSED_ROUNDS} times; try again`,
        );
      if (round > 0) await new Promise((r) => setTimeout(r, 50 * 2 ** round));
      const page = await deps.dynamo.send(
        new BatchGetCommand({
          RequestItems: {
            [deps.tableName]: {
              Keys: keys,
              // The tenant too: the sweeper's re-sent timers carry it as their message group.
              ProjectionExpression: 'PK, SK, #status, attempt, leaseUntil, tenant',
              ExpressionAttributeNames: { '#status': 'status' },
            },
          },
        }),
      );
      for (const row of page.Responses?.[deps.tableName] ?? [])
        byKey.set(`${row.PK}|${row.SK}`, row as TaskItem);
      keys = (page.UnprocessedKeys?.[deps.tableName]?.Keys ?? []) as Record<string, unknown>[];
    }
  }
  return listed.flatMap((t): ListedTaskRow[] => {
    const state = byKey.get(`${t.PK}|${t.SK}`);
    return state === undefined ? [] : [{ ...t, ...state }];
  });
}

/**
 * Open tasks (SCHEDULED or RUNNING) as the index holds them, oldest run time first, within
 * `range`, without reading their rows. One due later is SCHEDULED (a claim happens at or
 * after the run time); one already due may be either, and its row says which.
 */
export async function openTaskEntries(
  deps: StoreDeps,
  range: Omit<DueRange, 'notSweptSince'> = {},
): Promise<IndexedTask[]> {
  const pages = await queryShards<IndexedTask>(deps, {
    ...indexQuery(range),
    partition: Keys.openPk,
  });
  return pages.flat().sort((a, b) => a.runAt - b.runAt);
}

/** The key condition and values of a query of the status index within `range`. */
function indexQuery(range: DueRange) {
  const { before, after, firstPerShard, notSweptSince } = range;
  const bounds = [
    ...(after === undefined ? [] : ['GSI1SK > :after']),
    ...(before === undefined ? [] : ['GSI1SK < :before']),
  ];
  return {
    index: Indexes.byStatus,
    keyCondition:
      bounds.length === 2
        ? 'GSI1PK = :pk AND GSI1SK BETWEEN :after AND :before'
        : ['GSI1PK = :pk', ...bounds].join(' AND '),
    values: {
      ...(before === undefined ? {} : { ':before': formatInstant(before) }),
      ...(after === undefined ? {} : { ':after': formatInstant(after) }),
      ...(notSweptSince === undefined ? {} : { ':swept': notSweptSince }),
    },
    ...(notSweptSince === undefined
      ? {}
      : { filter: '(attribute_not_exists(sweptAt) OR sweptAt < :swept)' }),
    firstPerShard,
  };
}

/**
 * Lists tasks in a status (or both open statuses, in one read) across all shards of the
 * status index, oldest run time first, within `range`. SCHEDULED and RUNNING tasks share
 * the open partitions and are told apart by their rows; COMPLETED and CANCELLED tasks are not indexed, so asking for them is a bug.
 */
export async function tasksDueBefore(
  deps: StoreDeps,
  status: TaskStatus | readonly TaskStatus[],
  range: DueRange = {},
): Promise<ListedTaskRow[]> {
  const statuses: readonly TaskStatus[] = typeof status === 'string' ? [status] : status;
  const unindexed = statuses.find((s) => s === TaskStatus.COMPLETED || s === TaskStatus.CANCELLED);
  if (unindexed !== undefined) {
    throw new HourglassError(
      `the status index does not list ${unindexed} tasks (it is sparse); read them by instance instead`,
    );
  }
  const isOpen = (s: TaskStatus) => s === TaskStatus.SCHEDULED || s === TaskStatus.RUNNING;
  const open = statuses.every(isOpen);
  if (!open && statuses.length !== 1) {
    throw new HourglassError(
      `list ${statuses.join(' and ')} tasks one status at a time: only SCHEDULED and RUNNING share a partition`,
    );
  }
  const pages = await queryShards<ListedTaskRow>(deps, {
    ...indexQuery(range),
    partition: (n) => (open ? Keys.openPk(n) : Keys.statusPk(statuses[0]!, n)),
    select: async (page) =>
      (await withRowState(deps, page as IndexedTask[])).filter((t) => statuses.includes(t.status)),
  });
  return pages.flat().sort((a, b) => a.runAt - b.runAt);
}
