import { defaultWorkerDeps, recordEffect, worker } from '../../shared/aws';
import { sendCartReminder } from '../../workflows';

/**
 * J2: reminds a user of the carts they left open. An example: it records what it "sent" in the table, once per
 * task, so tests can assert exactly-once effects. Replace the body with the real call and
 * pass `ctx.idempotencyKey` to it.
 */
export const handler = worker(
  sendCartReminder,
  async (task, ctx) => {
    await recordEffect(deps(), task, ctx, {
      sent: 'cart-reminder',
      userId: task.key,
      cartIds: (task.input as { cartIds?: string[] }).cartIds ?? [],
    });
  },
  () => deps(),
);

let cached: ReturnType<typeof defaultWorkerDeps> | undefined;
function deps() {
  cached ??= defaultWorkerDeps('send-cart-reminder');
  return cached;
}
