import { type TaskHandler, worker } from '../../shared/aws';
import { sendDiscountCode } from '../../workflows/task-types';
import { exampleStore, recordEffect } from './example-effect';

/** J1: mails the welcome discount code. (An example: it records what it would send, once per task.) */
export const run: TaskHandler = (task, ctx) =>
  recordEffect(exampleStore(), task, ctx, {
    sent: 'discount-code',
    to: (task.input as { email?: string }).email ?? null,
  });

/** The Lambda handler: the worker middleware around {@link run}. */
export const handler = worker(sendDiscountCode, run);
