import { type TaskHandler, worker } from '../../shared/aws';
import { sendCartReminder } from '../../workflows/task-types';
import { exampleStore, recordEffect } from './example-effect';

/** J2: reminds a user of the carts they left open. (An example: it records what it would send, once per task.) */
export const run: TaskHandler = (task, ctx) =>
  recordEffect(exampleStore(), task, ctx, {
    sent: 'cart-reminder',
    userId: task.key,
    cartIds: (task.input as { cartIds?: string[] }).cartIds ?? [],
  });

/** The Lambda handler: the worker middleware around {@link run}. */
export const handler = worker(sendCartReminder, run);
