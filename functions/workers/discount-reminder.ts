import { exampleWorker } from '../../shared/aws';
import { discountReminder } from '../../workflows';

/** J1: reminds a user that their discount code is waiting. (An example: it records what it "sent", once per task.) */
export const handler = exampleWorker(discountReminder, (task) => ({
  sent: 'discount-reminder',
  userId: task.key,
}));
