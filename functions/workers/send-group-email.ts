import { defaultWorkerDeps, recordEffect, worker } from '../../shared/aws';
import { sendGroupEmail } from '../../workflows';

/**
 * J5: mails a campaign to its group. An example: it records what it "sent" in the table, once per
 * task, so tests can assert exactly-once effects. Replace the body with the real call and
 * pass `ctx.idempotencyKey` to it.
 */
export const handler = worker(
  sendGroupEmail,
  async (task, ctx) => {
    await recordEffect(deps(), task, ctx, {
      sent: 'group-email',
      campaignId: task.key,
      groupId: (task.input as { groupId?: string }).groupId ?? null,
    });
  },
  () => deps(),
);

let cached: ReturnType<typeof defaultWorkerDeps> | undefined;
function deps() {
  cached ??= defaultWorkerDeps('send-group-email');
  return cached;
}
