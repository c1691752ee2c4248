import { type TaskHandler, worker } from '../../shared/aws';
import { publishProduct } from '../../workflows/task-types';
import { exampleStore, recordEffect } from './example-effect';

/**
 * J4: makes a product visible. (An example: it records what it would send, once per task.)
 * Its result, `{ published }`, is kept on the task row and carried in its completed event.
 */
export const run: TaskHandler = async (task, ctx) => {
  await recordEffect(exampleStore(), task, ctx, { published: task.key });
  return { published: task.key };
};

/** The Lambda handler: the worker middleware around {@link run}. */
export const handler = worker(publishProduct, run);
