import { type TaskHandler, worker } from '../../shared/aws';
import { endDiscount } from '../../workflows/task-types';
import { exampleStore, recordEffect } from './example-effect';

/** J4: takes a discount off. (An example: it records what it would send, once per task.) */
export const run: TaskHandler = (task, ctx) =>
  recordEffect(exampleStore(), task, ctx, { ended: task.key });

/** The Lambda handler: the worker middleware around {@link run}. */
export const handler = worker(endDiscount, run);
