import { type TaskHandler, worker } from '../../shared/aws';
import { sendGroupEmail } from '../../workflows/task-types';
import { exampleStore, recordEffect } from './example-effect';

/** J5: mails a campaign to its group. (An example: it records what it would send, once per task.) */
export const run: TaskHandler = (task, ctx) =>
  recordEffect(exampleStore(), task, ctx, {
    sent: 'group-email',
    campaignId: task.key,
    groupId: (task.input as { groupId?: string }).groupId ?? null,
  });

/** The Lambda handler: the worker middleware around {@link run}. */
export const handler = worker(sendGroupEmail, run);
