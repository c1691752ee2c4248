import { exampleWorker } from '../../shared/aws';
import { compressImage } from '../../workflows';

/** J3: compresses an uploaded image. (An example: it records what it "sent", once per task.) */
export const handler = exampleWorker(compressImage, (task) => ({
  compressed: task.key,
  url: (task.input as { url?: string }).url ?? null,
}));
