import { type TaskHandler, worker } from 'hourglass/aws';
import { downgradeAccount } from '../workflows';

/** Moves the account to the free plan (here: logs it). Billing's API would be called here. */
export const run: TaskHandler<{ accountId: string }> = async (task, ctx) => {
  console.log(
    JSON.stringify({ downgraded: task.input.accountId, idempotencyKey: ctx.idempotencyKey }),
  );
};

/** The Lambda handler. */
export const handler = worker(downgradeAccount, run);
