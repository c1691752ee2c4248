import {
  type HourglassDefinitions,
  type Json,
  OUTCOME_OF_STATUS,
  type ScheduleAction,
  TaskStatus,
  TERMINAL_STATUSES,
  type Transition,
  type Workflow,
  type WorkflowEvent,
} from './definitions';
import { HourglassError } from './errors';
import type { RecordedEvent } from './events';
import { readPath } from './path';
import { formatInstant, MS, parseInstant } from './time';

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
}

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

// Outcomes never happen before their task's due time, and a folded snapshot must not hide
// an outcome still to come: the horizon stays this far before any unfinished task's due
// time (covers schedules and precision windows that run slightly early).
const HORIZON_MARGIN_MS = MS.hour;

interface ReplayState {
  state: string;
  context: unknown;
  tasks: PlannedTask[];
  counters: Record<string, number>;
}

type Item =
  | {
      readonly kind: 'event';
      readonly time: number;
      readonly id: string;
      readonly event: RecordedEvent;
    }
  | {
      readonly kind: 'outcome';
      readonly time: number;
      readonly id: string;
      readonly fact: TaskFact;
    };

function compareItems(a: Item, b: Item): number {
  // At the same instant, events come before outcomes: an event at a task's due time still
  // cancels it (the tie rule), and a completed task's outcome follows what arrived with it.
  return (
    a.time - b.time ||
    (a.kind === b.kind ? 0 : a.kind === 'event' ? -1 : 1) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

function isStarted(fact: TaskFact | undefined): boolean {
  if (fact === undefined) return false;
  if (fact.status === TaskStatus.CANCELLED) return false;
  return fact.status !== TaskStatus.SCHEDULED || fact.attempts > 0;
}

/**
 * Whether a task had been claimed when the item being replayed was applied. A recorded
 * event saw the task as it was at its `appliedAt`; a new event or an outcome sees it now.
 */
function startedBefore(fact: TaskFact | undefined, appliedAt: number): boolean {
  if (!isStarted(fact)) return false;
  return fact!.startedAt === null || fact!.startedAt <= appliedAt;
}

class Replay {
  readonly s: ReplayState;
  /** When the item being replayed was applied: see {@link startedBefore}. */
  private appliedAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly workflow: Workflow,
    private readonly key: string,
    start: ReplayState,
    /** The latest incarnation's fact of each planned task, by planned id. */
    private readonly facts: ReadonlyMap<string, TaskFact>,
  ) {
    this.s = start;
  }

  /** Applies one item; throws what a user function threw. */
  apply(item: Item): void {
    for (const task of this.s.tasks) {
      if (task.phase === 'pending' && task.dueAt < item.time) task.phase = 'fired';
    }
    if (item.kind === 'event') {
      const e = item.event;
      this.appliedAt = e.appliedAt ?? Number.POSITIVE_INFINITY;
      this.fire(
        e.detailType,
        {
          id: e.id,
          source: e.source,
          detailType: e.detailType,
          time: formatInstant(e.time),
          detail: e.detail,
        },
        e.time,
      );
    } else {
      const fact = item.fact;
      this.appliedAt = Number.POSITIVE_INFINITY;
      const planned = this.s.tasks.find((t) => this.facts.get(t.taskId) === fact);
      if (planned !== undefined) planned.phase = 'finished';
      this.fireOutcome(
        fact.taskId,
        fact.taskType,
        OUTCOME_OF_STATUS[fact.status]!,
        fact.attempts,
        fact.input,
        item.time,
      );
    }
  }

  private fireOutcome(
    taskId: string,
    taskType: string,
    outcome: string,
    attempts: number,
    input: Json,
    time: number,
  ) {
    const trigger = `${taskType}.${outcome}`;
    this.fire(
      trigger,
      {
        id: `${taskId}.${outcome}`,
        source: 'hourglass',
        detailType: trigger,
        time: formatInstant(time),
        detail: { taskId, taskType, outcome, attempts, input },
      },
      time,
    );
  }

  private fire(trigger: string, event: WorkflowEvent, time: number): void {
    const candidates = this.workflow.states[this.s.state]?.on[trigger];
    if (candidates === undefined) return;
    const chosen = candidates.find(
      (t) => t.guard === null || t.guard.test({ context: this.s.context, event }),
    );
    if (chosen !== undefined) this.take(chosen, event, time);
  }

  private take(transition: Transition, event: WorkflowEvent, time: number): void {
    const s = this.s;
    if (transition.assign !== null) s.context = transition.assign({ context: s.context, event });
    const args = { context: s.context, event };
    const cancelled: PlannedTask[] = [];
    for (const type of transition.cancels) {
      // Every open task of the type: unclaimed ones are cancelled (whatever their due time);
      // claimed ones keep running and record the cancel as too late.
      for (const task of this.s.tasks) {
        if (task.taskType !== type.name || (task.phase !== 'pending' && task.phase !== 'fired'))
          continue;
        if (!startedBefore(this.facts.get(task.taskId), this.appliedAt)) {
          task.phase = 'cancelled';
          task.cancelledBy = event.id;
          cancelled.push(task);
        } else if (!task.lateCancels.includes(event.id)) {
          task.phase = 'fired';
          task.lateCancels.push(event.id);
        }
      }
    }
    for (const schedule of transition.schedules) this.schedule(schedule, event, time, args);
    for (const update of transition.updates) {
      const task = this.pending(update.task.name);
      if (task !== undefined) task.input = update.input(args);
    }
    s.state = transition.target;
    for (const task of cancelled) {
      this.fireOutcome(task.taskId, task.taskType, 'cancelled', 0, task.input, time);
    }
  }

  /** The newest task of a type that has not finished and was not cancelled. */
  private latestOpen(taskType: string): PlannedTask | undefined {
    for (let i = this.s.tasks.length - 1; i >= 0; i--) {
      const task = this.s.tasks[i]!;
      if (task.taskType === taskType && (task.phase === 'pending' || task.phase === 'fired')) {
        return task;
      }
    }
    return undefined;
  }

  /** The newest task of a type that is still pending: not fired, not claimed, not cancelled. */
  private pending(taskType: string): PlannedTask | undefined {
    const task = this.latestOpen(taskType);
    if (task === undefined || task.phase !== 'pending') return undefined;
    if (startedBefore(this.facts.get(task.taskId), this.appliedAt)) {
      task.phase = 'fired';
      return undefined;
    }
    return task;
  }

  private schedule(
    action: ScheduleAction,
    event: WorkflowEvent,
    time: number,
    args: { context: unknown; event: WorkflowEvent },
  ): void {
    const s = this.s;
    const type = action.task.name;
    const input = action.input === null ? (event.detail as Json) : action.input(args);
    const existing = action.collapse.kind === 'per-trigger' ? undefined : this.pending(type);
    const collapse = action.collapse;

    let dueAt: number;
    if (collapse.kind === 'debounce') {
      const burst = existing?.burstStartedAt ?? time;
      dueAt = time + collapse.periodMs;
      if (collapse.maxWaitMs !== null) dueAt = Math.min(dueAt, burst + collapse.maxWaitMs);
    } else if (action.atPath !== null) {
      dueAt = parseInstant(readPath(event, action.atPath), action.atPath);
    } else {
      dueAt = time + (action.afterMs ?? 0);
    }
    let deadlineAt: number | null = null;
    if (action.deadline?.afterMs !== undefined) deadlineAt = time + action.deadline.afterMs;
    else if (action.deadline?.atPath !== undefined) {
      deadlineAt = parseInstant(readPath(event, action.deadline.atPath), action.deadline.atPath);
    } else if (action.task.deadlineMs !== null) deadlineAt = dueAt + action.task.deadlineMs;

    if (existing !== undefined) {
      if (collapse.kind === 'keep-first') return;
      existing.dueAt = dueAt;
      existing.deadlineAt = deadlineAt;
      existing.input = input;
      return;
    }
    const count = (s.counters[type] ?? 0) + 1;
    s.counters[type] = count;
    s.tasks.push({
      taskId: taskIdFor(
        this.workflow.name,
        this.key,
        type,
        collapse.kind === 'per-trigger' ? event.id : String(count),
      ),
      taskType: type,
      dueAt,
      deadlineAt,
      input,
      createdBy: event.id,
      burstStartedAt: collapse.kind === 'debounce' ? time : null,
      phase: 'pending',
      cancelledBy: null,
      lateCancels: [],
    });
  }
}

function startState(workflow: Workflow, snapshot: InstanceSnapshot | null): ReplayState {
  // A deep copy: user functions must never be able to change a stored snapshot.
  if (snapshot === null) {
    return {
      state: workflow.initial,
      context: structuredClone(workflow.initialContext),
      tasks: [],
      counters: {},
    };
  }
  return {
    state: snapshot.state,
    context: structuredClone(snapshot.context),
    tasks: structuredClone(snapshot.tasks) as PlannedTask[],
    counters: { ...snapshot.counters },
  };
}

function outcomeItems(facts: readonly TaskFact[], horizon: number): Item[] {
  const items: Item[] = [];
  for (const fact of facts) {
    // CANCELLED outcomes come from the replay itself, at the cancelling event's time.
    if (fact.finishedAt === null || fact.status === TaskStatus.CANCELLED) continue;
    if (!TERMINAL_STATUSES.has(fact.status) || fact.finishedAt < horizon) continue;
    items.push({ kind: 'outcome', time: fact.finishedAt, id: fact.taskId, fact });
  }
  return items;
}

function jsonEqual(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
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
  workflow: Workflow,
  instance: Instance,
  newEvents: readonly RecordedEvent[],
  facts: readonly TaskFact[],
  now: number,
): Decision {
  const commands: Command[] = [];
  const duplicates: string[] = [];
  const horizon = instance.snapshot?.horizon ?? Number.NEGATIVE_INFINITY;
  const known = new Set(instance.events.map((e) => e.id));
  let fresh: RecordedEvent[] = [];
  for (const event of newEvents) {
    if (known.has(event.id)) {
      duplicates.push(event.id);
    } else if (event.time < horizon) {
      known.add(event.id); // a second copy in the same batch is a duplicate, not a second rejection
      commands.push({
        type: 'reject-event',
        eventId: event.id,
        reason: `too late: the event time ${formatInstant(event.time)} is before the history horizon ${formatInstant(horizon)} of workflow '${workflow.name}' key '${instance.key}' (it keeps events for ${workflow.retainMs / MS.day}d), so it can no longer be applied in order`,
      });
    } else {
      known.add(event.id);
      fresh.push({ ...event, appliedAt: now });
    }
  }

  const incarnations = currentFacts(facts);
  const factsById = new Map([...incarnations].map(([id, current]) => [id, current.fact]));
  const outcomes = outcomeItems(facts, horizon);
  let final: ReplayState;
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
    );
    let failed: { id: string; error: unknown } | null = null;
    for (const item of items) {
      try {
        replay.apply(item);
      } catch (error) {
        if (item.kind === 'event' && freshIds.has(item.id)) {
          failed = { id: item.id, error };
          break;
        }
        throw new HistoryReplayError(workflow.name, instance.key, item.id, error);
      }
    }
    if (failed === null) {
      final = replay.s;
      break;
    }
    const failedEvent = fresh.find((e) => e.id === failed.id)!;
    commands.push({
      type: 'reject-event',
      eventId: failed.id,
      reason: `applying '${failedEvent.detailType}' to workflow '${workflow.name}' key '${instance.key}' failed: ${(failed.error as Error)?.message ?? String(failed.error)}`,
    });
    fresh = fresh.filter((e) => e.id !== failed.id);
  }

  commands.push(...diff(workflow, instance.key, final.tasks, incarnations));

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
    },
    commands,
    accepted: fresh.map((e) => e.id),
    duplicates,
  };
}

/** Compares the tasks history plans with the tasks that exist, and says what to change. */
function diff(
  workflow: Workflow,
  key: string,
  planned: readonly PlannedTask[],
  incarnations: ReadonlyMap<string, { fact: TaskFact; incarnation: number }>,
): Command[] {
  const commands: Command[] = [];
  const lateCancels = (taskId: string, task: PlannedTask, fact: TaskFact) => {
    for (const eventId of task.lateCancels) {
      if (!fact.lateCancels.includes(eventId)) {
        commands.push({ type: 'record-late-cancel', taskId, cancelledBy: eventId });
      }
    }
  };
  const create = (task: PlannedTask, taskId: string) =>
    commands.push({
      type: 'schedule-task',
      task: {
        taskId,
        workflow: workflow.name,
        key,
        taskType: task.taskType,
        dueAt: task.dueAt,
        deadlineAt: task.deadlineAt,
        input: task.input,
        createdBy: task.createdBy,
        cancelledBy: task.phase === 'cancelled' ? task.cancelledBy : null,
      },
    });

  for (const task of planned) {
    const current = incarnations.get(task.taskId);
    if (current === undefined) {
      create(task, task.taskId);
      continue;
    }
    const { fact, incarnation } = current;
    if (fact.status === TaskStatus.CANCELLED) {
      // History no longer cancels it (an earlier event arrived late): bring it back.
      if (task.phase !== 'cancelled') create(task, incarnationId(task.taskId, incarnation + 1));
      continue;
    }
    if (isStarted(fact) || TERMINAL_STATUSES.has(fact.status)) {
      lateCancels(fact.taskId, task, fact);
      continue;
    }
    if (task.phase === 'cancelled') {
      commands.push({
        type: 'cancel-task',
        taskId: fact.taskId,
        cancelledBy: task.cancelledBy!,
        reason: 'cancelled',
        planned: { dueAt: task.dueAt, deadlineAt: task.deadlineAt, input: task.input },
      });
      continue;
    }
    if (
      fact.dueAt !== task.dueAt ||
      fact.deadlineAt !== task.deadlineAt ||
      !jsonEqual(fact.input, task.input)
    ) {
      commands.push({
        type: 'update-task',
        taskId: fact.taskId,
        dueAt: task.dueAt,
        deadlineAt: task.deadlineAt,
        input: task.input,
      });
    }
    lateCancels(fact.taskId, task, fact);
  }
  const plannedIds = new Set(planned.map((t) => t.taskId));
  for (const [id, { fact }] of incarnations) {
    if (plannedIds.has(id) || fact.status !== TaskStatus.SCHEDULED || isStarted(fact)) continue;
    commands.push({
      type: 'cancel-task',
      taskId: fact.taskId,
      cancelledBy: 'history',
      reason: 'superseded',
    });
  }
  return commands;
}

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
function fold(
  workflow: Workflow,
  instance: Instance,
  events: RecordedEvent[],
  outcomes: readonly Item[],
  facts: ReadonlyMap<string, TaskFact>,
  final: ReplayState,
  now: number,
): { snapshot: InstanceSnapshot | null; events: RecordedEvent[] } {
  let horizon = now - workflow.retainMs;
  for (const task of final.tasks) {
    const fact = facts.get(task.taskId);
    const finished = fact !== undefined && TERMINAL_STATUSES.has(fact.status);
    if (task.phase !== 'cancelled' && !finished)
      horizon = Math.min(horizon, task.dueAt - HORIZON_MARGIN_MS);
  }
  horizon = Math.max(horizon, sizeHorizon(events, now), now - replayWindowMs(workflow));
  const old = instance.snapshot?.horizon ?? Number.NEGATIVE_INFINITY;
  if (horizon <= old || events.length === 0 || events[0]!.time >= horizon) {
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
