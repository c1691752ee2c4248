import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { capDecision, type JourneyControl, longestCapWindow } from '../core/journey-controls';
import type { StoreDeps } from './store';
import { Keys } from './table';

/**
 * Frequency caps at run time: one row per journey control and person, holding when each of
 * their capped tasks started within the longest window. A worker takes a slot before it
 * claims a task's first attempt, with a conditional write, so two workers racing for the
 * last slot cannot both win.
 */

/** What a worker asks of the caps. */
export interface CapStore {
  /**
   * Takes a slot for `taskId` at `now`, or says when there is room again. Taking it twice
   * for one task counts once (a redelivered message).
   */
  take(
    control: JourneyControl,
    person: string,
    taskId: string,
    now: number,
  ): Promise<
    | { readonly allowed: true }
    | { readonly allowed: false; readonly freeAt: number; readonly cap: string }
  >;
  /** Gives back a task's slot (its claim lost to another writer, so it did not start). */
  release(control: JourneyControl, person: string, taskId: string): Promise<void>;
}

/** A cap row: when each task started, by task id; `version` for the conditional write. */
interface CapItem {
  readonly starts?: Record<string, number>;
  readonly version?: number;
}

/** Writes lost to another worker before giving up (the message then returns to the queue). */
const MAX_CAP_ATTEMPTS = 5;

/** The {@link CapStore} on the Hourglass table. */
export function dynamoCapStore(deps: StoreDeps): CapStore {
  const key = (control: JourneyControl, person: string) => ({
    PK: Keys.capPk(control.name, person),
    SK: Keys.capSk,
  });
  return {
    async take(control, person, taskId, now) {
      for (let attempt = 0; attempt < MAX_CAP_ATTEMPTS; attempt++) {
        const { Item } = await deps.dynamo.send(
          new GetCommand({
            TableName: deps.tableName,
            Key: key(control, person),
            ConsistentRead: true,
          }),
        );
        const item = (Item ?? {}) as CapItem;
        const window = longestCapWindow(control);
        // Starts older than the longest window count against nothing: drop them.
        const starts = Object.fromEntries(
          Object.entries(item.starts ?? {}).filter(([, at]) => at > now - window),
        );
        if (starts[taskId] !== undefined) return { allowed: true };
        const decision = capDecision(control, Object.values(starts), now);
        if (!decision.allowed) return decision;
        try {
          await deps.dynamo.send(
            new UpdateCommand({
              TableName: deps.tableName,
              Key: key(control, person),
              UpdateExpression:
                'SET #starts = :starts, #version = :next, #type = :type, #expiresAt = :expiresAt',
              ConditionExpression:
                item.version === undefined ? 'attribute_not_exists(PK)' : '#version = :version',
              ExpressionAttributeNames: {
                '#starts': 'starts',
                '#version': 'version',
                '#type': 'type',
                '#expiresAt': 'expiresAt',
              },
              ExpressionAttributeValues: {
                ':starts': { ...starts, [taskId]: now },
                ':next': (item.version ?? 0) + 1,
                ':type': 'cap',
                // Nothing in it counts once the longest window has passed.
                ':expiresAt': Math.ceil((now + window) / 1_000),
                ...(item.version === undefined ? {} : { ':version': item.version }),
              },
            }),
          );
          return { allowed: true };
        } catch (error) {
          if ((error as Error)?.name !== 'ConditionalCheckFailedException') throw error;
        }
      }
      throw new Error(
        `the frequency caps of '${person}' changed ${MAX_CAP_ATTEMPTS} times while being read; try again`,
      );
    },
    async release(control, person, taskId) {
      await deps.dynamo.send(
        new UpdateCommand({
          TableName: deps.tableName,
          Key: key(control, person),
          UpdateExpression: 'REMOVE #starts.#task SET #version = #version + :one',
          ConditionExpression: 'attribute_exists(PK)',
          ExpressionAttributeNames: { '#starts': 'starts', '#task': taskId, '#version': 'version' },
          ExpressionAttributeValues: { ':one': 1 },
        }),
      );
    },
  };
}
