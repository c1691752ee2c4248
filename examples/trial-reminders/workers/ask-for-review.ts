import { type TaskHandler, worker } from 'hourglass/aws';
import { askForReview } from '../workflows';
import { sendMail } from './mailer';

/** Mails the review request. The input is the OrderDelivered event's detail. */
export const run: TaskHandler<{ email: string; orderId: string }> = async (task, ctx) => {
  await sendMail({ to: task.input.email, template: 'review', idempotencyKey: ctx.idempotencyKey });
};

/** The Lambda handler. */
export const handler = worker(askForReview, run);
