import { type TaskHandler, worker } from '../../shared/aws';
import { discountReminder } from '../../workflows/task-types';
import { exampleStore, recordEffect } from './example-effect';

/** J1: reminds a user that their discount code is waiting. (An example: it records what it would send, once per task.) */
export const run: TaskHandler = (task, ctx) =>
  recordEffect(exampleStore(), task, ctx, {
    sent: 'discount-reminder',
    userId: task.key,
  });

/** The Lambda handler: the worker middleware around {@link run}. */
export const handler = worker(discountReminder, run);
