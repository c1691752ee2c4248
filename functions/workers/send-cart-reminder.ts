import { exampleWorker } from '../../shared/aws';
import { sendCartReminder } from '../../workflows';

/** J2: reminds a user of the carts they left open. (An example: it records what it "sent", once per task.) */
export const handler = exampleWorker(sendCartReminder, (task) => ({
  sent: 'cart-reminder',
  userId: task.key,
  cartIds: (task.input as { cartIds?: string[] }).cartIds ?? [],
}));
