import { type TaskHandler, worker } from '../../shared/aws';
import { compressImage } from '../../workflows/task-types';
import { exampleStore, recordEffect } from './example-effect';

/** J3: compresses an uploaded image. (An example: it records what it would send, once per task.) */
export const run: TaskHandler = (task, ctx) =>
  recordEffect(exampleStore(), task, ctx, {
    compressed: task.key,
    url: (task.input as { url?: string }).url ?? null,
  });

/** The Lambda handler: the worker middleware around {@link run}. */
export const handler = worker(compressImage, run);
