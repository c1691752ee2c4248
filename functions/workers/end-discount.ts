import { exampleWorker } from '../../shared/aws';
import { endDiscount } from '../../workflows';

/** J4: takes a discount off. (An example: it records what it "sent", once per task.) */
export const handler = exampleWorker(endDiscount, (task) => ({ ended: task.key }));
