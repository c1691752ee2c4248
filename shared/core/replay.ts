import {
  type PlannedTask,
  plannedTaskId,
  type TaskFact,
  type TaskIncarnations,
  taskIdFor,
} from './decider';
import {
  type Json,
  OUTCOME_OF_STATUS,
  type ScheduleAction,
  TaskStatus,
  type Transition,
  tenantOf,
  type Workflow,
  type WorkflowEvent,
} from './definitions';
import type { RecordedEvent } from './events';
import { journeyKeyOf, journeyZoneOf, quietHoursFor } from './journey-controls';
import {
  LIFECYCLE_SOURCE,
  OPERATOR_SOURCE,
  OperatorAction,
  type OperatorReschedule,
} from './lifecycle';
import { readPath } from './path';
import { continueRecurrence, startRecurrence, stopRecurrence } from './recurring-plan';
import { formatInstant, MS, parseInstant } from './time';
import { armTimers, disarmTimers, nextTimer, TIMER_SOURCE, type TimerDetail } from './timers';

/**
 * Replaying an instance's history: its events and its tasks' outcomes, in event-time order,
 * through the workflow's state machine. The decider replays to decide; folding replays the
 * oldest part into a snapshot.
 */

// Outcomes never happen before their task's due time, and a folded snapshot must not hide
// an outcome still to come: the horizon stays this far before any unfinished task's due
// time (covers schedules and precision windows that run slightly early).
export const HORIZON_MARGIN_MS = MS.hour;

/** The state a replay builds up: the machine's state and context, and the tasks it planned. */
export interface ReplayState {
  state: string;
  context: unknown;
  tasks: PlannedTask[];
  counters: Record<string, number>;
}

/** What a replay applies, in order: an event, or a task's outcome. */
export type Item =
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

/** The replay order: by time, events before outcomes at one instant, then by id. */
export function compareItems(a: Item, b: Item): number {
  // At the same instant, events come before outcomes: an event at a task's due time still
  // cancels it (the tie rule), and a completed task's outcome follows what arrived with it.
  return (
    a.time - b.time ||
    (a.kind === b.kind ? 0 : a.kind === 'event' ? -1 : 1) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/** True once a task was claimed (or finished without being cancelled). */
export function isStarted(fact: TaskFact | undefined): boolean {
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
  // A task that finished without starting (expired, or dropped by a frequency cap) was
  // open until it finished.
  const since = fact!.startedAt ?? fact!.finishedAt;
  return since === null || since <= appliedAt;
}

/** Applies events and outcomes to a workflow's state, one item at a time. */
export class Replay {
  readonly s: ReplayState;
  /** When the item being replayed was applied: see {@link startedBefore}. */
  private appliedAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly workflow: Workflow,
    private readonly key: string,
    start: ReplayState,
    /** Every incarnation's fact of each planned task, oldest first, by planned id. */
    private readonly facts: TaskIncarnations,
    /** The decision's time: when a timer not fired before is fired. Absent when folding. */
    private readonly now?: number,
  ) {
    this.s = start;
  }

  /**
   * The fact of the incarnation of a planned task that was current when the item being
   * replayed was applied: the newest one written before then (an operator's retry makes a
   * new incarnation; an event applied while the old one ran must still see it running).
   */
  private factOf(taskId: string): TaskFact | undefined {
    const all = this.facts.get(taskId);
    if (all === undefined) return undefined;
    for (let i = all.length - 1; i > 0; i--) {
      const createdAt = all[i]!.createdAt;
      if (createdAt === undefined || createdAt < this.appliedAt) return all[i];
    }
    return all[0];
  }

  /** Applies one item; throws what a user function threw. */
  apply(item: Item): void {
    this.fireTimersBefore(item);
    for (const task of this.s.tasks) {
      if (task.phase === 'pending' && task.timer === undefined && task.dueAt < item.time)
        task.phase = 'fired';
    }
    if (item.kind === 'event') {
      const e = item.event;
      this.appliedAt = e.appliedAt ?? Number.POSITIVE_INFINITY;
      if (e.source === OPERATOR_SOURCE) {
        this.operate(e);
        return;
      }
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
      // The planned task of the fact's incarnation: a task an operator retried has an
      // outcome per incarnation, each in its turn.
      const planned =
        this.s.tasks.find((t) => t.taskId === fact.taskId) ??
        this.s.tasks.find((t) => t.taskId === plannedTaskId(fact.taskId));
      if (planned !== undefined) planned.phase = 'finished';
      this.fireOutcome(
        fact.taskId,
        fact.taskType,
        OUTCOME_OF_STATUS[fact.status]!,
        fact.attempts,
        fact.input,
        item.time,
        fact.result,
      );
    }
  }

  /**
   * An operator's action on one task, named by its row's id (an incarnation `…#r2` names
   * its planned task). Unclaimed when the operator acted: a cancel cancels it as an event
   * would, a reschedule moves its due time (and its deadline by as much). Claimed: a cancel
   * is recorded as a late cancel and it runs on; a reschedule changes nothing.
   */
  private operate(e: RecordedEvent): void {
    const detail = e.detail as OperatorReschedule;
    const planned = plannedTaskId(String(detail.taskId));
    const task = this.s.tasks.find((t) => t.taskId === planned);
    if (e.detailType === OperatorAction.retry && task?.phase === 'finished') {
      // Failed or expired (the operator's command checked): due again at the operator's
      // time, its deadline as far after as it was; the decider creates a new incarnation.
      if (task.deadlineAt !== null) task.deadlineAt += e.time - task.dueAt;
      task.dueAt = e.time;
      task.phase = 'pending';
      return;
    }
    if (task === undefined || (task.phase !== 'pending' && task.phase !== 'fired')) return;
    const started = startedBefore(this.factOf(task.taskId), this.appliedAt);
    if (e.detailType === OperatorAction.reschedule) {
      if (started) return;
      const dueAt = parseInstant(detail.dueAt, 'dueAt');
      if (task.deadlineAt !== null) task.deadlineAt += dueAt - task.dueAt;
      task.dueAt = dueAt;
      task.phase = 'pending';
    } else if (e.detailType === OperatorAction.cancel && !started) {
      task.phase = 'cancelled';
      task.cancelledBy = e.id;
      this.fireOutcome(task.taskId, task.taskType, 'cancelled', 0, task.input, e.time);
    } else if (e.detailType === OperatorAction.cancel && !task.lateCancels.includes(e.id)) {
      task.phase = 'fired';
      task.lateCancels.push(e.id);
    }
  }

  private fireOutcome(
    taskId: string,
    taskType: string,
    outcome: string,
    attempts: number,
    input: Json,
    time: number,
    result?: Json,
  ) {
    const trigger = `${taskType}.${outcome}`;
    this.fire(
      trigger,
      {
        id: `${taskId}.${outcome}`,
        source: LIFECYCLE_SOURCE,
        detailType: trigger,
        time: formatInstant(time),
        detail: {
          taskId,
          taskType,
          outcome,
          attempts,
          input,
          ...(result === undefined ? {} : { result }),
        },
      },
      time,
    );
  }

  private fire(trigger: string, event: WorkflowEvent, time: number): void {
    if (this.workflow.states[this.s.state]?.final && this.workflow.startOverOn?.has(trigger)) {
      // Starting over: back to the initial state and context. Finished tasks stay in the
      // plan (their ids are never reused: the counters go on).
      this.s.state = this.workflow.initial;
      this.s.context = structuredClone(this.workflow.initialContext);
    }
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
        if (!startedBefore(this.factOf(task.taskId), this.appliedAt)) {
          task.phase = 'cancelled';
          task.cancelledBy = event.id;
          cancelled.push(task);
        } else if (!task.lateCancels.includes(event.id)) {
          task.phase = 'fired';
          task.lateCancels.push(event.id);
        }
      }
      stopRecurrence(this.s.tasks, type.name, event.id);
    }
    for (const schedule of transition.schedules)
      cancelled.push(...this.schedule(schedule, event, time, args));
    for (const update of transition.updates) {
      const task = this.pending(update.task.name);
      if (task !== undefined) task.input = update.input(args);
    }
    const entering = transition.target !== s.state || transition.reenters;
    s.state = transition.target;
    if (entering) {
      disarmTimers(s.tasks, event.id);
      armTimers(this.workflow, this.key, s, time, event.id);
    }
    for (const task of cancelled) {
      this.fireOutcome(task.taskId, task.taskType, 'cancelled', 0, task.input, time);
    }
  }

  /**
   * Fires the timers that fired before an item, earliest first: each due before the item's
   * time (in event time, as a task falls due; an event at the due time still comes first),
   * and each the runtime had already fired when the item reached the instance (an event
   * older than the timer that arrives after it fired is late for it, as a cancel is late
   * for a claimed task: the timer's move stands and the event applies after it).
   */
  private fireTimersBefore(item: Item): void {
    // When the item reached the instance: a recorded event at its appliedAt, an outcome
    // when its task finished.
    const arrived =
      item.kind === 'event' ? (item.event.appliedAt ?? Number.POSITIVE_INFINITY) : item.time;
    for (;;) {
      const timer = nextTimer(this.s.tasks, (t) => t.dueAt < item.time || this.firedBy(t, arrived));
      if (timer === undefined) return;
      this.fireTimer(timer);
    }
  }

  /** At the end of a decision at `now`: fires the timers due by now, earliest first. */
  fireDueTimers(now: number): void {
    for (;;) {
      const timer = nextTimer(this.s.tasks, (t) => t.dueAt <= now);
      if (timer === undefined) return;
      this.fireTimer(timer);
    }
  }

  /** True when the runtime had fired a timer's row by `arrived`. */
  private firedBy(timer: PlannedTask, arrived: number): boolean {
    const fact = this.facts.get(timer.taskId)?.at(-1);
    // Strictly before: an event applied in the decision that fired the timer (both at that
    // decision's now) came first, as it did then.
    return (
      fact?.status === TaskStatus.COMPLETED &&
      (fact.startedAt ?? Number.NEGATIVE_INFINITY) < arrived
    );
  }

  /** Fires one timer at its due time: its state's `after` transition, as an event would. */
  private fireTimer(task: PlannedTask): void {
    const timer = task.timer!;
    task.phase = 'finished';
    if (timer.state === null) {
      // When the runtime fired it: recorded, or (firing in this decision) now.
      const fact = this.facts.get(task.taskId)?.at(-1);
      const firedAt =
        fact?.status === TaskStatus.COMPLETED
          ? (fact.startedAt ?? task.dueAt)
          : (this.now ?? task.dueAt);
      continueRecurrence(this.workflow, this.key, this.s, task, Math.max(task.dueAt, firedAt));
      return;
    }
    const saved = this.appliedAt;
    // A timer's move sees tasks as they were when the runtime fired it; one firing in this
    // decision sees them as they are now.
    const fired = this.facts.get(task.taskId)?.at(-1);
    this.appliedAt =
      fired?.status === TaskStatus.COMPLETED
        ? (fired.startedAt ?? saved)
        : Number.POSITIVE_INFINITY;
    const detail: TimerDetail = {
      state: timer.state,
      after: timer.after,
      armedBy: task.createdBy,
    };
    // A move whose guard, assign or schedule throws is undone: the timer has fired and the
    // instance stays where it was, the same on every replay, and the decision reports it.
    const before = structuredClone({ ...this.s });
    try {
      this.fire(
        timer.trigger,
        {
          id: task.taskId,
          source: TIMER_SOURCE,
          detailType: timer.trigger,
          time: formatInstant(task.dueAt),
          detail,
        },
        task.dueAt,
      );
    } catch (error) {
      Object.assign(this.s, before);
      this.timerFailures.push({
        taskId: task.taskId,
        reason: `timer '${timer.trigger}' of state '${timer.state}' fired, but its transition failed, so the instance stayed in '${timer.state}': ${(error as Error)?.message ?? String(error)}`,
      });
    }
    this.appliedAt = saved;
  }

  /** Timers whose move failed in this replay, with why. */
  readonly timerFailures: { readonly taskId: string; readonly reason: string }[] = [];

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
    if (startedBefore(this.factOf(task.taskId), this.appliedAt)) {
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
  ): PlannedTask[] {
    const s = this.s;
    const type = action.task.name;
    const input = action.input === null ? (event.detail as Json) : action.input(args);
    const tenant = tenantOf(action.task, event);
    if (action.every !== null) {
      return startRecurrence(this.workflow, this.key, s, action, event, time, { input, tenant });
    }
    const existing = action.collapse.kind === 'per-trigger' ? undefined : this.pending(type);
    const collapse = action.collapse;

    let dueAt: number;
    if (collapse.kind === 'debounce') {
      const burst = existing?.burstStartedAt ?? time;
      dueAt = time + collapse.periodMs;
      if (collapse.maxWaitMs !== null) dueAt = Math.min(dueAt, burst + collapse.maxWaitMs);
    } else if (action.atPath !== null) {
      dueAt = parseInstant(readPath(event, action.atPath), action.atPath) + action.offsetMs;
    } else {
      dueAt = time + (action.afterMs ?? 0);
    }
    let deadlineAt: number | null = null;
    if (action.deadline?.afterMs !== undefined) deadlineAt = time + action.deadline.afterMs;
    else if (action.deadline?.atPath !== undefined) {
      deadlineAt = parseInstant(readPath(event, action.deadline.atPath), action.deadline.atPath);
    } else if (action.task.deadlineMs !== null) deadlineAt = dueAt + action.task.deadlineMs;
    const quiet = quietHoursFor(action.task.journey, event, dueAt, deadlineAt);
    const journeyKey = journeyKeyOf(action.task.journey, event, this.key);
    const journeyZone = journeyZoneOf(action.task.journey, event);

    if (existing !== undefined) {
      if (collapse.kind === 'keep-first') return [];
      existing.dueAt = quiet.dueAt;
      existing.deadlineAt = quiet.deadlineAt;
      existing.input = input;
      if (quiet.dropped === null) return [];
      existing.phase = 'cancelled';
      existing.cancelledBy = quiet.dropped;
      return [existing];
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
      dueAt: quiet.dueAt,
      deadlineAt: quiet.deadlineAt,
      input,
      createdBy: event.id,
      burstStartedAt: collapse.kind === 'debounce' ? time : null,
      phase: quiet.dropped === null ? 'pending' : 'cancelled',
      cancelledBy: quiet.dropped,
      lateCancels: [],
      ...(tenant === null ? {} : { tenant }),
      ...(quiet.moved === null ? {} : { note: quiet.moved }),
      ...(journeyKey === null ? {} : { journeyKey }),
      ...(journeyZone === null ? {} : { journeyZone }),
    });
    return quiet.dropped === null ? [] : [s.tasks.at(-1)!];
  }
}
