import { defaultWorkerDeps, recordEffect, worker } from '../../shared/aws';
import { compressImage } from '../../workflows';

/**
 * J3: compresses an uploaded image. An example: it records what it "sent" in the table, once per
 * task, so tests can assert exactly-once effects. Replace the body with the real call and
 * pass `ctx.idempotencyKey` to it.
 */
export const handler = worker(
  compressImage,
  async (task, ctx) => {
    await recordEffect(deps(), task, ctx, {
      compressed: task.key,
      url: (task.input as { url?: string }).url ?? null,
    });
  },
  () => deps(),
);

let cached: ReturnType<typeof defaultWorkerDeps> | undefined;
function deps() {
  cached ??= defaultWorkerDeps('compress-image');
  return cached;
}
