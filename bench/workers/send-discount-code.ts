import { defaultWorkerDeps, worker } from '../../shared/aws';
import { sendDiscountCode } from '../../workflows/task-types';

/** The cost benchmark's send-discount-code worker: does nothing, so what is counted is Hourglass's own cost. */
export const handler = worker(
  sendDiscountCode,
  async () => {},
  () => defaultWorkerDeps(sendDiscountCode.name),
);
