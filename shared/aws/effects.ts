import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Json, TaskType } from '../core/definitions';
import { defaultWorkerDeps, runtime } from './runtime';
import type { StoreDeps } from './store';
import { type Task, type TaskContext, worker } from './worker';

/** Where the example workers record their effects: one row per task. */
export const effectKey = (taskId: string) => ({ PK: `EFFECT#${taskId}`, SK: 'EFFECT' });

/**
 * A fault the local cloud's fault tests inject into the example workers, run before the
 * effect: throw to fail the attempt, or wait on `ctx.signal` to run past the timeout.
 */
export type EffectFault = (task: Task, ctx: TaskContext) => Promise<void>;

let injectedFault: EffectFault | null = null;

/** Sets (or clears, with null) the fault the example workers run before their effect. */
export function injectEffectFault(fault: EffectFault | null): void {
  injectedFault = fault;
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
  if (injectedFault !== null) await injectedFault(task, ctx);
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

/**
 * An example worker for the journeys: records what it "sent" (the summary of the task) once
 * per task with {@link recordEffect}, passing `ctx.idempotencyKey` and `ctx.signal` as a
 * real worker passes them to its mail or image service.
 *
 * @example export const handler = exampleWorker(endDiscount, (task) => ({ ended: task.key }));
 */
export function exampleWorker(taskType: TaskType, summarize: (task: Task) => Json) {
  const store = (): StoreDeps => {
    const { config, clients, clock } = runtime();
    return { dynamo: clients.dynamo, tableName: config.tableName, clock };
  };
  return worker(
    taskType,
    async (task, ctx) => recordEffect(store(), task, ctx, summarize(task)),
    () => defaultWorkerDeps(taskType.name),
  );
}
