import { SWEEP_GRACE_MS } from '../shared/aws/sweeper';
import type { TaskItem } from '../shared/aws/table';
import type { Moment } from './driver';
import type { StoredSchedule } from './emulators/scheduler';
import { fireTime, invocationTime } from './schedule-pump';
import type { QueueSnapshot } from './services';

/**
 * When each source of work in the local cloud next acts, as the driver's {@link Moment}s.
 * The driver may jump the clock only past moments it knows, so every source that can start
 * work on its own (a schedule, a delayed or returning message, the sweeper) is listed here.
 */

/** When each enabled one-shot schedule fires: as the pump fires it, late by `lateByMs`. */
export function scheduleMoments(
  schedules: ReadonlyMap<string, StoredSchedule>,
  lateByMs: number,
): Moment[] {
  const moments: Moment[] = [];
  for (const s of schedules.values()) {
    const at =
      s.State === 'ENABLED' ? fireTime(s.ScheduleExpression, s.ScheduleExpressionTimezone) : null;
    if (at !== null)
      moments.push({ at: invocationTime(s.Name, at) + lateByMs, what: `schedule ${s.Name} fires` });
  }
  return moments;
}

/** When a polled queue next has something to receive: now, if a message is ready. */
export function queueMoments(
  name: string,
  queue: QueueSnapshot | undefined,
  now: number,
): Moment[] {
  if (queue === undefined) return [];
  return [
    ...(queue.ready > 0 ? [{ at: now, what: `${queue.ready} message(s) ready on ${name}` }] : []),
    ...queue.delayedUntil.map((at) => ({
      at,
      what: `a delayed message on ${name} becomes visible`,
    })),
    ...queue.invisibleUntil.map((at) => ({
      at,
      what: `a received message on ${name} becomes visible again`,
    })),
  ];
}

/**
 * When the sweeper would re-send each open task's timer if it were lost: the only moments
 * that live in the table rather than in a queue or a schedule.
 */
export function sweeperMoments(tasks: readonly TaskItem[]): (Moment & { taskType: string })[] {
  return tasks.flatMap((t) => {
    const from = t.status === 'SCHEDULED' ? t.runAt : t.leaseUntil;
    if (from === undefined) return [];
    return [
      {
        at: from + SWEEP_GRACE_MS + 1,
        what: `the sweeper would re-send the timer of ${t.taskId}`,
        taskType: t.taskType,
      },
    ];
  });
}
