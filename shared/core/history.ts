import type { Instance, InstanceSnapshot, TaskIncarnations } from './decider';
import { type HourglassDefinitions, TERMINAL_STATUSES, type Workflow } from './definitions';
import type { RecordedEvent } from './events';
import { compareItems, HORIZON_MARGIN_MS, type Item, Replay, type ReplayState } from './replay';
import { startState } from './replay-start';
import { MS } from './time';

/**
 * How much history an instance keeps: by age (`retain`, bounded hold-back), by size (under
 * DynamoDB's item limit), and what that asks of the retention of finished rows.
 */

/**
 * The longest an unfinished task may hold its instance's history back beyond `retain`: past
 * it, older events fold into the snapshot anyway (an event that then arrives older than
 * that is rejected as too late). It bounds how old a replayed event can be, which the
 * retention of finished rows must outlast (see {@link minimumRetentionMs}).
 */
export const MAX_HORIZON_HOLD_MS = 14 * MS.day;

/**
 * How far back a workflow's history may reach: events older than this are always folded.
 * A replayed event may plan a task again; its row must still exist then, or the task
 * would be created a second time.
 */
export function replayWindowMs(workflow: Workflow): number {
  return Math.max(workflow.retainMs, MAX_HORIZON_HOLD_MS);
}

/** How much longer than the replay window finished rows are kept, at least. */
export const RETENTION_MARGIN_MS = 7 * MS.day;

/**
 * The shortest retention of finished rows these definitions allow: their longest replay
 * window plus {@link RETENTION_MARGIN_MS}. A finished task's row must outlive every event
 * that could still be replayed and plan it, or the task would run twice.
 */
export function minimumRetentionMs(definitions: HourglassDefinitions): number {
  return Math.max(0, ...definitions.workflows.map(replayWindowMs)) + RETENTION_MARGIN_MS;
}

/**
 * The most bytes of recorded events an instance keeps (as JSON). DynamoDB refuses an item
 * over 400 KB ("The maximum item size in DynamoDB is 400 KB, which includes both attribute
 * name binary length (UTF-8 length) and attribute value lengths"), and every write of a key
 * rewrites its instance item: this leaves room for its state, context and snapshot.
 */
export const MAX_HISTORY_BYTES = 200 * 1024;

const utf8 = new TextEncoder();

/** How far the horizon of an instance without events to fold must move before it folds. */
const FOLD_STEP_MS = MS.day;

/** How recent an event must be never to be folded for size. */
const SIZE_FOLD_MARGIN_MS = MS.minute;

/**
 * The earliest horizon that keeps the newest events within {@link MAX_HISTORY_BYTES}: the
 * time of the oldest event that still fits (so it and everything newer is kept), or -∞ when
 * they all fit. Never later than {@link SIZE_FOLD_MARGIN_MS} before now, so that outcomes
 * being written at this moment are not folded past.
 */
function sizeHorizon(events: readonly RecordedEvent[], now: number): number {
  let bytes = 0;
  for (let i = events.length - 1; i >= 0; i--) {
    bytes += utf8.encode(JSON.stringify(events[i])).length;
    if (bytes > MAX_HISTORY_BYTES) {
      // events[i] does not fit: keep from the next one on.
      const next = events[i + 1];
      return next === undefined
        ? now - SIZE_FOLD_MARGIN_MS
        : Math.min(next.time, now - SIZE_FOLD_MARGIN_MS);
    }
  }
  return Number.NEGATIVE_INFINITY;
}

/**
 * Keeps history bounded: events older than the workflow's `retain` are folded into a
 * snapshot, but never past an unfinished task's due time (its outcome is still to come).
 * A busy key is bounded harder: once its events pass {@link MAX_HISTORY_BYTES}, the oldest
 * are folded early (an event that then arrives older than the kept ones is rejected as too
 * late), so one key's volume can never make its item too large to write.
 */
export function fold(
  workflow: Workflow,
  instance: Instance,
  events: RecordedEvent[],
  outcomes: readonly Item[],
  facts: TaskIncarnations,
  final: ReplayState,
  now: number,
): { snapshot: InstanceSnapshot | null; events: RecordedEvent[] } {
  let horizon = now - workflow.retainMs;
  for (const task of final.tasks) {
    const fact = facts.get(task.taskId)?.at(-1);
    const finished = fact !== undefined && TERMINAL_STATUSES.has(fact.status);
    if (task.phase !== 'cancelled' && !finished)
      horizon = Math.min(horizon, task.dueAt - HORIZON_MARGIN_MS);
  }
  horizon = Math.max(horizon, sizeHorizon(events, now), now - replayWindowMs(workflow));
  const old = instance.snapshot?.horizon ?? Number.NEGATIVE_INFINITY;
  // Fold when there are events to fold, or, for an instance that decides without events
  // (its timers and recurrences), at least daily: its outcomes and fired timers must be
  // folded too, before their rows expire.
  const foldsEvents = events.length > 0 && events[0]!.time < horizon;
  const advancesSnapshot = old !== Number.NEGATIVE_INFINITY && horizon - old >= FOLD_STEP_MS;
  if (horizon <= old || (!foldsEvents && !advancesSnapshot)) {
    return { snapshot: instance.snapshot, events };
  }
  const kept = events.filter((e) => e.time >= horizon);
  const items: Item[] = events
    .filter((e) => e.time < horizon)
    .map((event): Item => ({ kind: 'event', time: event.time, id: event.id, event }))
    .concat(outcomes.filter((o) => o.time < horizon))
    .sort(compareItems);
  const replay = new Replay(workflow, instance.key, startState(workflow, instance.snapshot), facts);
  for (const item of items) replay.apply(item);
  // Timers due before the horizon had fired (an unfired one holds the horizon back).
  replay.fireDueTimers(horizon - 1);
  // Finished and cancelled tasks need no more bookkeeping once folded.
  const s = replay.s;
  return {
    snapshot: {
      horizon,
      state: s.state,
      context: s.context,
      tasks: s.tasks.filter(
        (t) => t.phase === 'pending' || t.phase === 'fired' || t.dueAt >= horizon,
      ),
      counters: s.counters,
    },
    events: kept,
  };
}
