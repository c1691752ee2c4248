import { TaskTimeoutError } from './errors';
import type { TaskItem } from './table';
import type { Task, TaskContext, TaskHandler, WorkerDeps } from './worker';

/** One attempt of a task's handler: run to its timeout, and watched if it outlives it. */

/**
 * The largest result a handler may return, as JSON: it is stored on the task row and
 * carried in the completed event, which both have size limits (DynamoDB 400 KB an item,
 * EventBridge 256 KB an event), and every byte of it is written again at each change.
 */
export const RESULT_MAX_BYTES = 4_096;

/**
 * Why a handler's return value cannot be kept as the task's result, or null when it can
 * (nothing returned, or JSON within {@link RESULT_MAX_BYTES}).
 */
export function resultRefusal(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    return `the handler returned a result that is not JSON (${(error as Error).message}); return plain data`;
  }
  if (json === undefined || typeof value === 'function') {
    return 'the handler returned a result that is not JSON; return plain data';
  }
  const bytes = Buffer.byteLength(json);
  if (bytes > RESULT_MAX_BYTES) {
    return `the handler returned a ${bytes}-byte result; results are limited to ${RESULT_MAX_BYTES} bytes of JSON: store large data elsewhere and return a reference to it`;
  }
  return null;
}

/** How one attempt of a handler ended. */
export type AttemptResult =
  | { readonly ok: true; readonly value: unknown }
  | {
      readonly ok: false;
      readonly error: unknown;
      /** Settles when the handler itself returns: later than the result after a timeout. */
      readonly settled: Promise<void>;
    };

/** Runs the handler, aborting it (its AbortSignal, and the attempt) at `timeoutMs`. */
export async function runAttempt(
  handler: TaskHandler<never>,
  task: Task<never>,
  ctx: Omit<TaskContext, 'signal'>,
  timeoutMs: number,
  timeScale: number,
): Promise<AttemptResult> {
  const controller = new AbortController();
  const run = Promise.resolve().then(() => handler(task, { ...ctx, signal: controller.signal }));
  const settled = run.then(
    () => {},
    () => {},
  );
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new TaskTimeoutError(task.taskId, timeoutMs);
      controller.abort(error);
      reject(error);
    }, timeoutMs / timeScale);
  });
  try {
    const value = await Promise.race([run, timedOut]);
    return { ok: true, value };
  } catch (error) {
    return { ok: false, error, settled };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Settles when a handler that outlived its attempt returns, warning once if it is still
 * running a moment after its timeout: it ignored its AbortSignal.
 */
export function warnWhileRunning(
  deps: WorkerDeps,
  task: TaskItem,
  settled: Promise<void>,
  timeScale: number,
): Promise<void> {
  const warning = setTimeout(() => {
    deps.telemetry.warn(
      'the handler ignored its AbortSignal and still runs after its timeout; the invocation waits for it, and Lambda ends it at the function timeout',
      { taskId: task.taskId, taskType: task.taskType },
    );
    deps.telemetry.flush();
  }, ABANDON_WARNING_MS / timeScale);
  return settled.finally(() => clearTimeout(warning));
}

/** How long after a timeout a handler still running is reported as ignoring its signal. */
const ABANDON_WARNING_MS = 1_000;
