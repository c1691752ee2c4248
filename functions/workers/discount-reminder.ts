import { defaultWorkerDeps, recordEffect, worker } from '../../shared/aws';
import { discountReminder } from '../../workflows';

/**
 * J1: reminds a user that their discount code is waiting. An example: it records what it "sent" in the table, once per
 * task, so tests can assert exactly-once effects. Replace the body with the real call and
 * pass `ctx.idempotencyKey` to it.
 */
export const handler = worker(
  discountReminder,
  async (task, ctx) => {
    await recordEffect(deps(), task, ctx, { sent: 'discount-reminder', userId: task.key });
  },
  () => deps(),
);

let cached: ReturnType<typeof defaultWorkerDeps> | undefined;
function deps() {
  cached ??= defaultWorkerDeps('discount-reminder');
  return cached;
}
