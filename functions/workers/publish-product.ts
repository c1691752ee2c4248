import { exampleWorker } from '../../shared/aws';
import { publishProduct } from '../../workflows';

/** J4: makes a product visible. (An example: it records what it "sent", once per task.) */
export const handler = exampleWorker(publishProduct, (task) => ({ published: task.key }));
