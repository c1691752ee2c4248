import { overCapGate, startGate } from '../core/journey-controls';
import type { TaskType } from '../core/task-types';
import type { TaskItem } from './table';
import { Metric } from './telemetry';
import type { MessageOutcome, WorkerDeps } from './worker';

/**
 * The worker's side of journey controls: quiet hours checked again, and a slot of the
 * person's caps, before a controlled task's first claim.
 */

/**
 * A task's first attempt under a journey control with caps takes a slot of its person's
 * caps before it is claimed. Over a cap, the task is deferred to the first free slot or
 * dropped (EXPIRED), as its task type says. Returns null when it may run.
 */
export async function passCaps(
  deps: WorkerDeps,
  taskType: TaskType,
  task: TaskItem,
  now: number,
): Promise<MessageOutcome | null> {
  const journey = taskType.journey;
  if (journey === null || task.attempt > 0) return null;
  // Quiet hours again at start: a task deferred by a cap, or kept back by an outage, waits
  // for their end too (a deadline that passes meanwhile still expires it).
  let gate = startGate(journey, task.journeyZone, null, now);
  if (gate.start && task.journeyKey !== undefined) {
    if (deps.caps === undefined) {
      throw new Error(
        `task type '${taskType.name}' has frequency caps (journey control '${journey.control.name}') and the worker has no cap store; pass caps in its deps`,
      );
    }
    const taken = await deps.caps.take(journey.control, task.journeyKey, task.taskId, now);
    if (!taken.allowed) gate = overCapGate(journey, task.journeyZone, taken);
  }
  if (gate.start) return null;
  if (gate.drop) {
    if (!(await deps.tasks.expire(task, now, gate.cause))) return 'lost-race';
    deps.telemetry.count(Metric.expired, 1, { taskType: task.taskType });
    return 'expired';
  }
  const won = await deps.tasks.defer(task, { at: now, runAt: gate.until, reason: gate.cause });
  return won ? 'deferred' : 'lost-race';
}

/** Gives back a cap slot taken for a task whose claim then lost (best effort). */
export async function releaseCap(
  deps: WorkerDeps,
  taskType: TaskType,
  task: TaskItem,
): Promise<void> {
  const journey = taskType.journey;
  if (journey === null || task.journeyKey === undefined || task.attempt > 0) return;
  // Another copy of the message may have won the claim with this very slot (a slot is one
  // per task): give it back only while no attempt of the task has started.
  const now = await deps.tasks.get(task);
  if (now === undefined || now.attempt > 0 || now.status !== 'SCHEDULED') return;
  await deps.caps?.release(journey.control, task.journeyKey, task.taskId).catch((error: Error) =>
    deps.telemetry.warn('giving back a frequency cap slot failed; it counts until it ages out', {
      taskId: task.taskId,
      error: error.message,
    }),
  );
}
