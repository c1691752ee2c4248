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

/** What {@link taskMoments} needs of an open task. */
export type TaskMomentSource = Pick<
  TaskItem,
  'taskId' | 'taskType' | 'status' | 'runAt' | 'leaseUntil'
>;

/**
 * The moments that live in the table: each SCHEDULED task's run time (its timer must be
 * armed by then; between the write and the relay arming it, the timer is only in the
 * table's stream), and when the sweeper would re-send the timer of each open task if it
 * were lost.
 */
export function taskMoments(tasks: readonly TaskMomentSource[]): Moment[] {
  return tasks.flatMap((t) => {
    const from = t.status === 'SCHEDULED' ? t.runAt : t.leaseUntil;
    if (from === undefined) return [];
    return [
      ...(t.status === 'SCHEDULED'
        ? [{ at: t.runAt, what: `${t.taskId} falls due`, onlyAhead: true, taskType: t.taskType }]
        : []),
      {
        at: from + SWEEP_GRACE_MS + 1,
        what: `the sweeper would re-send the timer of ${t.taskId}`,
        taskType: t.taskType,
      },
    ];
  });
}
