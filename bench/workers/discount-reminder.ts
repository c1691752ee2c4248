import { defaultWorkerDeps, worker } from '../../shared/aws';
import { discountReminder } from '../../workflows/task-types';

/** The cost benchmark's discount-reminder worker: does nothing, so what is counted is Hourglass's own cost. */
export const handler = worker(
  discountReminder,
  async () => {},
  () => defaultWorkerDeps(discountReminder.name),
);
