import { defaultWorkerDeps, recordEffect, worker } from '../../shared/aws';
import { sendDiscountCode } from '../../workflows';

/**
 * J1: mails the welcome discount code. An example: it records what it "sent" in the table, once per
 * task, so tests can assert exactly-once effects. Replace the body with the real call and
 * pass `ctx.idempotencyKey` to it.
 */
export const handler = worker(
  sendDiscountCode,
  async (task, ctx) => {
    await recordEffect(deps(), task, ctx, {
      sent: 'discount-code',
      to: (task.input as { email?: string }).email ?? null,
    });
  },
  () => deps(),
);

let cached: ReturnType<typeof defaultWorkerDeps> | undefined;
function deps() {
  cached ??= defaultWorkerDeps('send-discount-code');
  return cached;
}
