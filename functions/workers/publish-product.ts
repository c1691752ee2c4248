import { defaultWorkerDeps, recordEffect, worker } from '../../shared/aws';
import { publishProduct } from '../../workflows';

/**
 * J4: makes a product visible. An example: it records what it "sent" in the table, once per
 * task, so tests can assert exactly-once effects. Replace the body with the real call and
 * pass `ctx.idempotencyKey` to it.
 */
export const handler = worker(
  publishProduct,
  async (task, ctx) => {
    await recordEffect(deps(), task, ctx, { published: task.key });
  },
  () => deps(),
);

let cached: ReturnType<typeof defaultWorkerDeps> | undefined;
function deps() {
  cached ??= defaultWorkerDeps('publish-product');
  return cached;
}
