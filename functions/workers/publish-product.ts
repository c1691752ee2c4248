import { type TaskHandler, worker } from '../../shared/aws';
import { publishProduct } from '../../workflows/task-types';
import { exampleStore, recordEffect } from './example-effect';

/** J4: makes a product visible. (An example: it records what it would send, once per task.) */
export const run: TaskHandler = (task, ctx) =>
  recordEffect(exampleStore(), task, ctx, { published: task.key });

/** The Lambda handler: the worker middleware around {@link run}. */
export const handler = worker(publishProduct, run);
