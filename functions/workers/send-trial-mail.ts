import { type TaskHandler, worker } from '../../shared/aws';
import { sendTrialMail } from '../../workflows/task-types';
import { exampleStore, recordEffect } from './example-effect';

/** J6: mails a trial account: its trial ends soon, or a win-back offer. (An example: it records what it would send, once per task.) */
export const run: TaskHandler = (task, ctx) =>
  recordEffect(exampleStore(), task, ctx, {
    sent: 'send-trial-mail',
    accountId: task.key,
    kind: (task.input as { kind?: string }).kind ?? 'unknown',
  });

/** The Lambda handler: the worker middleware around {@link run}. */
export const handler = worker(sendTrialMail, run);
