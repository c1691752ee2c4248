import { type TaskHandler, worker } from 'hourglass/aws';
import { remindTrialEnding } from '../workflows';
import { sendMail } from './mailer';

/** Mails the reminder. The input is the TrialStarted event's detail. */
export const run: TaskHandler<{ email: string; trialEndsAt: string }> = async (task, ctx) => {
  await sendMail({
    to: task.input.email,
    template: 'trial-ends-in-3-days',
    idempotencyKey: ctx.idempotencyKey,
  });
};

/** The Lambda handler: the worker middleware claims, runs, retries and finishes the task. */
export const handler = worker(remindTrialEnding, run);
