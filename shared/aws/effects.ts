import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Json, TaskType } from '../core/definitions';
import { defaultWorkerDeps } from './runtime';
import type { StoreDeps } from './store';
import { type Task, type TaskContext, type WorkerDeps, worker } from './worker';

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
 * What the example workers "send": written once per task, so tests can assert that every
 * task's effect happened exactly once. A second effect for the same task is not written;
 * it increments `duplicates` on the row instead, where a test will see it.
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
          duplicates: 0,
        },
        ConditionExpression: 'attribute_not_exists(PK)',
      }),
    );
  } catch (error) {
    if ((error as Error)?.name !== 'ConditionalCheckFailedException') throw error;
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

/**
 * An example worker for the journeys: records what it "sent" (the summary of the task) once
 * per task with {@link recordEffect}. Its dependencies come from the environment on the
 * first invocation. A real worker calls its mail or image service instead, passing
 * `ctx.idempotencyKey`.
 *
 * @example export const handler = exampleWorker(endDiscount, (task) => ({ ended: task.key }));
 */
export function exampleWorker(taskType: TaskType, summarize: (task: Task) => Json) {
  let deps: WorkerDeps | undefined;
  const resolve = () => {
    deps ??= defaultWorkerDeps(taskType.name);
    return deps;
  };
  return worker(
    taskType,
    async (task, ctx) => recordEffect(resolve(), task, ctx, summarize(task)),
    resolve,
  );
}
