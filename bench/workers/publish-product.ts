import { defaultWorkerDeps, worker } from '../../shared/aws';
import { publishProduct } from '../../workflows/task-types';

/** The cost benchmark's publish-product worker: does nothing, so what is counted is Hourglass's own cost. */
export const handler = worker(
  publishProduct,
  async () => {},
  () => defaultWorkerDeps(publishProduct.name),
);
