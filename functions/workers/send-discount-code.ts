import { exampleWorker } from '../../shared/aws';
import { sendDiscountCode } from '../../workflows';

/** J1: mails the welcome discount code. (An example: it records what it "sent", once per task.) */
export const handler = exampleWorker(sendDiscountCode, (task) => ({
  sent: 'discount-code',
  to: (task.input as { email?: string }).email ?? null,
}));
