import { exampleWorker } from '../../shared/aws';
import { sendGroupEmail } from '../../workflows';

/** J5: mails a campaign to its group. (An example: it records what it "sent", once per task.) */
export const handler = exampleWorker(sendGroupEmail, (task) => ({
  sent: 'group-email',
  campaignId: task.key,
  groupId: (task.input as { groupId?: string }).groupId ?? null,
}));
