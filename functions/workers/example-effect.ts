import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { runtime, type StoreDeps, type Task, type TaskContext } from '../../shared/aws';
import type { Json } from '../../shared/core';

/**
 * The "effect" of the example workers of J1–J6: instead of mailing or compressing, each
 * records what it would have done, once per task, as a row of its own in the Hourglass table
 * (partition `EFFECT#<task id>`). A real worker calls its service here instead, passing
 * `ctx.idempotencyKey` and `ctx.signal` the same way.
 */

/** The key of a task's effect row. */
export const effectKey = (taskId: string) => ({ PK: `EFFECT#${taskId}`, SK: 'EFFECT' });

/** The table the example effects are written to, from the environment (at first use). */
export function exampleStore(): StoreDeps {
  const { config, clients, clock } = runtime();
  return { dynamo: clients.dynamo, tableName: config.tableName, clock };
}

/**
 * What the example workers "send", made idempotent the way a real provider does it: the
 * first call with an idempotency key writes the effect; a later call with the same key (an
 * attempt re-run after its result was lost) is a replay, counted in `replays`, not a second
 * effect. A call for the same task with a different key would be a real double effect: it
 * is counted in `duplicates`, where a test will see it.
 */
export async function recordEffect(
  deps: StoreDeps,
  task: Task,
  ctx: TaskContext,
  summary: Json,
): Promise<void> {
  const now = deps.clock();
  try {
    await deps.dynamo.send(
      new PutCommand({
        TableName: deps.tableName,
        Item: {
          ...effectKey(task.taskId),
          type: 'effect',
          taskId: task.taskId,
          taskType: task.taskType,
          attempt: ctx.attempt,
          idempotencyKey: ctx.idempotencyKey,
          summary,
          at: now,
          replays: 0,
          duplicates: 0,
        },
        ConditionExpression: 'attribute_not_exists(PK)',
      }),
      { abortSignal: ctx.signal },
    );
  } catch (error) {
    if ((error as Error)?.name !== 'ConditionalCheckFailedException') throw error;
    // The effect exists: a replay of the same key, or a real second effect.
    try {
      await deps.dynamo.send(
        new UpdateCommand({
          TableName: deps.tableName,
          Key: effectKey(task.taskId),
          UpdateExpression: 'ADD replays :one',
          ConditionExpression: 'idempotencyKey = :key',
          ExpressionAttributeValues: { ':one': 1, ':key': ctx.idempotencyKey },
        }),
      );
    } catch (replayError) {
      if ((replayError as Error)?.name !== 'ConditionalCheckFailedException') throw replayError;
      await deps.dynamo.send(
        new UpdateCommand({
          TableName: deps.tableName,
          Key: effectKey(task.taskId),
          UpdateExpression: 'ADD duplicates :one',
          ExpressionAttributeValues: { ':one': 1 },
        }),
      );
    }
  }
}
