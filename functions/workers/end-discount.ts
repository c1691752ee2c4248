import { defaultWorkerDeps, recordEffect, worker } from '../../shared/aws';
import { endDiscount } from '../../workflows';

/**
 * J4: takes a discount off. An example: it records what it "sent" in the table, once per
 * task, so tests can assert exactly-once effects. Replace the body with the real call and
 * pass `ctx.idempotencyKey` to it.
 */
export const handler = worker(
  endDiscount,
  async (task, ctx) => {
    await recordEffect(deps(), task, ctx, { ended: task.key });
  },
  () => deps(),
);

let cached: ReturnType<typeof defaultWorkerDeps> | undefined;
function deps() {
  cached ??= defaultWorkerDeps('end-discount');
  return cached;
}
