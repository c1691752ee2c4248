import type { Json, TaskStatus, Workflow } from './definitions';
import { HourglassError } from './errors';
import type { RecordedEvent } from './events';
import { fold } from './history';
import { diff } from './plan-diff';
import { compareItems, type Item, Replay, type ReplayState } from './replay';
import { outcomeItems, startState } from './replay-start';
import { formatInstant, MS } from './time';
import { definitionOf } from './workflow-checks';

/**
 * How a planned task stands in event time, as the replay sees it:
 * `pending` (may still be cancelled, collapsed or updated), `fired` (its due time has
 * passed in event time, or a worker claimed it), `cancelled`, or `finished`.
 */
export type PlanPhase = 'pending' | 'fired' | 'cancelled' | 'finished';

/** A task as the instance's history plans it. */
export interface PlannedTask {
  readonly taskId: string;
  readonly taskType: string;
  dueAt: number;
  deadlineAt: number | null;
  input: Json;
  /** The event (or outcome) that created it. */
  readonly createdBy: string;
  /** For a debounce: when the burst's first trigger happened. */
  readonly burstStartedAt: number | null;
  phase: PlanPhase;
  cancelledBy: string | null;
  /** Events that tried to cancel it after it had fired or started. */
  lateCancels: string[];
  /** The tenant its messages are grouped by (its task type's `tenant`), if any. */
  readonly tenant?: string;
  /** Why its due time is not the one its schedule gave (quiet hours), for its timeline. */
  readonly note?: string;
  /** Whose frequency caps it counts against (its task type's journey control), if any. */
  readonly journeyKey?: string;
  /** The person's time zone for its control's quiet hours, checked again at start. */
  readonly journeyZone?: string;
  /**
   * Set for a timer that needs no worker: the state it was armed in and its trigger; or,
   * for the timer that plans a recurring task's next occurrence, no state and the link.
   */
  readonly timer?: {
    readonly state: string | null;
    readonly trigger: string;
    readonly after: string;
    readonly recurrence?: RecurrenceLink;
  };
}

/** What a recurring task's chain carries from one occurrence to the next. */
export interface RecurrenceLink {
  readonly taskType: string;
  /** The IANA time zone its cron expression counts in. */
  readonly zone: string;
  /** Every occurrence's input: the one the starting event gave. */
  readonly input: Json;
  readonly tenant?: string;
  /** The person's time zone for its task type's journey control (quiet hours). */
  readonly controlZone?: string;
  /** Whose frequency caps its occurrences count against. */
  readonly journeyKey?: string;
  /** Which start of the recurrence in this instance (for ids). */
  readonly chain: number;
}

/** What the instance's folded history amounts to at `horizon`. */
export interface InstanceSnapshot {
  /** Events and outcomes before this time (epoch ms) are folded into the snapshot. */
  readonly horizon: number;
  readonly state: string;
  readonly context: unknown;
  readonly tasks: readonly PlannedTask[];
  /** How many tasks of each type the instance has created, for deterministic ids. */
  readonly counters: Readonly<Record<string, number>>;
}

/** One workflow instance: its current state and the history that produced it. */
export interface Instance {
  readonly workflow: string;
  readonly key: string;
  readonly state: string;
  readonly context: unknown;
  readonly snapshot: InstanceSnapshot | null;
  /** Events at or after the snapshot's horizon, in event-time order (ties by id). */
  readonly events: readonly RecordedEvent[];
  /** The workflow version it started under (and finishes under). @default 1 */
  readonly definitionVersion?: number;
}

/** What the store knows about one of the instance's tasks. */
export interface TaskFact {
  readonly taskId: string;
  readonly taskType: string;
  readonly status: TaskStatus;
  /** Attempts started so far; more than 0 means a worker claimed it at least once. */
  readonly attempts: number;
  readonly dueAt: number;
  readonly deadlineAt: number | null;
  readonly input: Json;
  /** When a worker first claimed it, epoch ms. */
  readonly startedAt: number | null;
  /** When it reached a terminal status, epoch ms. */
  readonly finishedAt: number | null;
  /** Event ids already recorded as late cancels. */
  readonly lateCancels: readonly string[];
  /**
   * When the row was written (the decision that created it), epoch ms: tells which
   * incarnation of a task was current when an event was applied. Unknown: the oldest.
   */
  readonly createdAt?: number;
  /** What the handler returned when it completed, if anything. */
  readonly result?: Json;
}

/** Every incarnation's fact of each planned task, oldest first, keyed by the planned id. */
export type TaskIncarnations = ReadonlyMap<string, readonly TaskFact[]>;

/** A task the decider asks the store to create. */
export interface NewTask {
  readonly taskId: string;
  readonly workflow: string;
  readonly key: string;
  readonly taskType: string;
  readonly dueAt: number;
  readonly deadlineAt: number | null;
  readonly input: Json;
  readonly createdBy: string;
  /** Set when history already cancels it: write it CANCELLED, never run it. */
  readonly cancelledBy: string | null;
  /** A timer that fired in the decision that armed it: write it COMPLETED. */
  readonly fired?: true;
  /** The tenant its messages are grouped by, if its task type names one. */
  readonly tenant?: string;
  /** Why its due time moved (quiet hours), added to its timeline. */
  readonly note?: string;
  /** Whose frequency caps it counts against, if its task type's control has caps. */
  readonly journeyKey?: string;
  /** The person's time zone, if its task type's control has quiet hours. */
  readonly journeyZone?: string;
}

/** What the decider asks the store to do. Applying a decision twice changes nothing. */
export type Command =
  | { readonly type: 'schedule-task'; readonly task: NewTask }
  | {
      readonly type: 'cancel-task';
      readonly taskId: string;
      readonly cancelledBy: string;
      /** `cancelled`: an event cancelled it; `superseded`: re-ordered history no longer plans it. */
      readonly reason: 'cancelled' | 'superseded';
      /**
       * The due time, deadline and input history gives the task when it is cancelled
       * (re-ordered events may both move and cancel it); absent for `superseded`.
       */
      readonly planned?: {
        readonly dueAt: number;
        readonly deadlineAt: number | null;
        readonly input: Json;
      };
    }
  | {
      readonly type: 'update-task';
      readonly taskId: string;
      readonly dueAt: number;
      readonly deadlineAt: number | null;
      readonly input: Json;
    }
  | { readonly type: 'record-late-cancel'; readonly taskId: string; readonly cancelledBy: string }
  /** A timer that needs no worker fired: its row is COMPLETED, and nothing is sent for it again. */
  | { readonly type: 'fire-timer'; readonly taskId: string }
  | { readonly type: 'reject-event'; readonly eventId: string; readonly reason: string };

/** The decider's answer: the instance's new state and history, and the commands to apply. */
export interface Decision {
  readonly instance: Instance;
  readonly commands: readonly Command[];
  /** New events that were applied. */
  readonly accepted: readonly string[];
  /** New events already in the history (same id): delivered again, changed nothing. */
  readonly duplicates: readonly string[];
}

/** A history event could not be replayed: the definition changed in a way the history cannot follow. */
export class HistoryReplayError extends HourglassError {
  constructor(workflow: string, key: string, eventId: string, cause: unknown) {
    super(
      `workflow '${workflow}' key '${key}': replaying recorded event '${eventId}' failed (${(cause as Error)?.message ?? cause}); a definition change broke existing instances: make the change compatible or start a new workflow name`,
      { cause },
    );
    this.name = 'HistoryReplayError';
  }
}

/** A fresh instance of a workflow, before any event. */
export function newInstance(workflow: Workflow, key: string): Instance {
  return {
    workflow: workflow.name,
    key,
    state: workflow.initial,
    context: workflow.initialContext,
    snapshot: null,
    events: [],
    definitionVersion: workflow.version,
  };
}

/** Orders events by event time, ties by id: the order every decision applies them in. */
export function compareEvents(a: RecordedEvent, b: RecordedEvent): number {
  return a.time - b.time || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** The id of a task: deterministic, so deciding twice writes nothing new. */
export function taskIdFor(
  workflow: string,
  key: string,
  taskType: string,
  occurrence: string,
): string {
  return `${workflow}#${key}#${taskType}#${occurrence}`;
}

const INCARNATION = /#r(\d+)$/;

/**
 * The id of a planned task's next incarnation. A CANCELLED row is final, so when events
 * that arrive late revive a task history had cancelled, it comes back under a new id.
 */
export function incarnationId(taskId: string, incarnation: number): string {
  return incarnation <= 1 ? taskId : `${taskId}#r${incarnation}`;
}

/** The planned task an incarnation's row id belongs to: `…#r2` belongs to `…`. */
export function plannedTaskId(taskId: string): string {
  return taskId.replace(INCARNATION, '');
}

/** Every incarnation of each planned task among the facts, oldest first. */
function incarnationsByPlan(
  facts: readonly TaskFact[],
  current: ReadonlyMap<string, { fact: TaskFact; incarnation: number }>,
): Map<string, TaskFact[]> {
  const byPlan = new Map<string, { fact: TaskFact; n: number }[]>();
  for (const planned of current.keys()) byPlan.set(planned, []);
  for (const fact of facts) {
    const exact = current.has(fact.taskId) ? fact.taskId : undefined;
    const planned = exact ?? plannedTaskId(fact.taskId);
    const match = INCARNATION.exec(fact.taskId);
    byPlan.get(planned)?.push({ fact, n: exact !== undefined || !match ? 1 : Number(match[1]) });
  }
  return new Map(
    [...byPlan].map(([id, list]) => [id, list.sort((a, b) => a.n - b.n).map((x) => x.fact)]),
  );
}

/** Each planned task's latest incarnation among the facts, keyed by the planned id. */
function currentFacts(
  facts: readonly TaskFact[],
): Map<string, { fact: TaskFact; incarnation: number }> {
  const ids = new Set(facts.map((f) => f.taskId));
  const current = new Map<string, { fact: TaskFact; incarnation: number }>();
  for (const fact of facts) {
    const match = INCARNATION.exec(fact.taskId);
    const base = match ? fact.taskId.slice(0, match.index) : fact.taskId;
    const revived = match !== null && ids.has(base);
    const planned = revived ? base : fact.taskId;
    const incarnation = revived ? Number(match![1]) : 1;
    const known = current.get(planned);
    if (known === undefined || incarnation > known.incarnation)
      current.set(planned, { fact, incarnation });
  }
  return current;
}

/**
 * Decides what one workflow instance does, as a pure function of its definition, recorded
 * history, new events, the facts about its tasks, and the time now.
 *
 * It replays the whole history in event-time order (ties by id) from the last snapshot,
 * with task outcomes at the times they happened, and compares the tasks that history
 * plans with the tasks that exist. So the outcome is the same for any arrival order and
 * any duplication of events, as long as each event arrives before the tasks it affects
 * fall due; task ids are deterministic, so deciding again writes nothing new.
 *
 * - A cancel cancels every open task of its type that no worker had claimed when the
 *   event arrived; for a claimed task it changes nothing and is recorded as a late cancel.
 * - An event older than the snapshot horizon (see `retain`) is rejected as too late.
 * - An event whose guard, assign or input function throws is rejected with the error.
 *
 * @param now - the time of the decision, epoch ms (from an injected clock)
 * @example
 * const { instance, commands } = decide(welcome, newInstance(welcome, 'u1'), [event], [], now);
 */
export function decide(
  latest: Workflow,
  instance: Instance,
  newEvents: readonly RecordedEvent[],
  facts: readonly TaskFact[],
  now: number,
): Decision {
  // An instance finishes under the version it started with.
  const workflow = definitionOf(latest, instance.definitionVersion);
  if (workflow === null) {
    throw new HourglassError(
      `workflow '${latest.name}' key '${instance.key}' started under version ${instance.definitionVersion ?? 1}, which these definitions no longer carry; keep that definition as previous (defineWorkflow({ version: ${latest.version}, previous: … }))`,
    );
  }
  const horizon = instance.snapshot?.horizon ?? Number.NEGATIVE_INFINITY;
  const sorted = sortNewEvents(workflow, instance, newEvents, horizon, now);
  const commands: Command[] = [...sorted.rejections];
  const incarnations = currentFacts(facts);
  const factsById = incarnationsByPlan(facts, incarnations);
  const outcomes = outcomeItems(facts, horizon);
  const replayed = replayHistory(workflow, instance, sorted.fresh, outcomes, factsById, now);
  commands.push(...replayed.rejections);
  const final = replayed.state;
  const fresh = replayed.applied;

  commands.push(...diff(workflow, instance.key, final.tasks, incarnations, factsById));

  const events = [...instance.events, ...fresh].sort(compareEvents);
  const folded = fold(workflow, instance, events, outcomes, factsById, final, now);
  return {
    instance: {
      workflow: workflow.name,
      key: instance.key,
      state: final.state,
      context: final.context,
      snapshot: folded.snapshot,
      events: folded.events,
      definitionVersion: workflow.version,
    },
    commands,
    accepted: fresh.map((e) => e.id),
    duplicates: sorted.duplicates,
  };
}

/**
 * Sorts a batch of new events into duplicates (already in history, or twice in the batch),
 * events too old to apply in order (rejected), and fresh events stamped with `now`.
 */
function sortNewEvents(
  workflow: Workflow,
  instance: Instance,
  newEvents: readonly RecordedEvent[],
  horizon: number,
  now: number,
): { fresh: RecordedEvent[]; duplicates: string[]; rejections: Command[] } {
  const fresh: RecordedEvent[] = [];
  const duplicates: string[] = [];
  const rejections: Command[] = [];
  const known = new Set(instance.events.map((e) => e.id));
  for (const event of newEvents) {
    if (known.has(event.id)) {
      duplicates.push(event.id);
    } else if (event.time < horizon) {
      known.add(event.id); // a second copy in the same batch is a duplicate, not a second rejection
      rejections.push({
        type: 'reject-event',
        eventId: event.id,
        reason: `too late: the event time ${formatInstant(event.time)} is before the history horizon ${formatInstant(horizon)} of workflow '${workflow.name}' key '${instance.key}' (it keeps events for ${workflow.retainMs / MS.day}d), so it can no longer be applied in order`,
      });
    } else {
      known.add(event.id);
      fresh.push({ ...event, appliedAt: now });
    }
  }
  return { fresh, duplicates, rejections };
}

/**
 * Replays history with the fresh events in event-time order. A fresh event whose guard,
 * assign or input function throws is rejected and the replay starts again without it; an
 * error in an event already in history means the definition changed incompatibly.
 */
function replayHistory(
  workflow: Workflow,
  instance: Instance,
  freshEvents: readonly RecordedEvent[],
  outcomes: readonly Item[],
  factsById: TaskIncarnations,
  now: number,
): { state: ReplayState; applied: RecordedEvent[]; rejections: Command[] } {
  const rejections: Command[] = [];
  let fresh = [...freshEvents];
  for (;;) {
    const freshIds = new Set(fresh.map((e) => e.id));
    const items: Item[] = [...instance.events, ...fresh]
      .map((event): Item => ({ kind: 'event', time: event.time, id: event.id, event }))
      .concat(outcomes)
      .sort(compareItems);
    const replay = new Replay(
      workflow,
      instance.key,
      startState(workflow, instance.snapshot),
      factsById,
      now,
    );
    let failed: { event: RecordedEvent; error: unknown } | null = null;
    for (const item of items) {
      try {
        replay.apply(item);
      } catch (error) {
        if (item.kind === 'event' && freshIds.has(item.id)) {
          failed = { event: item.event, error };
          break;
        }
        throw new HistoryReplayError(workflow.name, instance.key, item.id, error);
      }
    }
    if (failed === null) {
      replay.fireDueTimers(now);
      // A timer whose move failed is reported once: in the decision that fires it.
      for (const failure of replay.timerFailures) {
        const fact = factsById.get(failure.taskId)?.at(-1);
        if (fact?.status !== 'COMPLETED')
          rejections.push({
            type: 'reject-event',
            eventId: failure.taskId,
            reason: failure.reason,
          });
      }
      return { state: replay.s, applied: fresh, rejections };
    }
    const { event, error } = failed;
    rejections.push({
      type: 'reject-event',
      eventId: event.id,
      reason: `applying '${event.detailType}' to workflow '${workflow.name}' key '${instance.key}' failed: ${(error as Error)?.message ?? String(error)}`,
    });
    fresh = fresh.filter((e) => e.id !== event.id);
  }
}
