import { type TimelineEntry, taskRowEffect } from './commands';
import { type Command, decide, type Instance, newInstance, type TaskFact } from './decider';
import {
  backoffMs,
  findWorkflow,
  type HourglassDefinitions,
  type Json,
  TaskStatus,
  type TaskType,
  TERMINAL_STATUSES,
  totalDeadline,
  totalTimeoutCause,
} from './definitions';
import { HourglassError } from './errors';
import { type Rejection, routeEvent } from './events';
import { startGate } from './journey-controls';
import { formatInstant, MS, parseInstant } from './time';
import { isTimerType } from './timers';

/** One event to deliver, and when it arrives. */
export interface SimulationInput {
  /** The raw EventBridge event: `id`, `source`, `detail-type`, `time`, `detail`. */
  readonly event: unknown;
  /** Arrival time, epoch ms. Events are delivered in arrival order, ties in input order. */
  readonly arrivedAt: number;
}

/** A window in which a task type's workers are unavailable. */
export interface Outage {
  readonly taskType: string;
  /** Epoch ms, inclusive. */
  readonly from: number;
  /** Epoch ms, exclusive: workers are back at this time. */
  readonly to: number;
}

/** Options of {@link simulate}. */
export interface SimulationOptions {
  readonly definitions: HourglassDefinitions;
  readonly events: readonly SimulationInput[];
  /** Stop the virtual clock here, epoch ms. @default 30 days after the last event */
  readonly until?: number;
  /** Fail the first N attempts of every task of a type: `{ 'compress-image': 2 }`. @default none */
  readonly failures?: Readonly<Record<string, number>>;
  /** Windows in which a task type's workers are down. @default none */
  readonly outages?: readonly Outage[];
  /**
   * What the handlers of a task type return, from the task's input: the completed task's
   * result, in its outcome event's `detail.result`. @default nothing
   */
  readonly results?: Readonly<Record<string, (input: Json) => Json>>;
}

export type { TimelineEntry } from './commands';

/** A task at the end of a simulation. Times are ISO-8601 UTC. */
export interface SimulatedTask {
  readonly taskId: string;
  readonly workflow: string;
  readonly key: string;
  readonly taskType: string;
  readonly status: TaskStatus;
  readonly dueAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly attempts: number;
  readonly input: Json;
  /** True when an event tried to cancel it after it had fired or been claimed. */
  readonly lateCancel: boolean;
  readonly timeline: readonly TimelineEntry[];
  /** What the handler returned when it completed, if anything. */
  readonly result?: Json;
  /** The tenant its messages carry as their message group (its task type's `tenant`). */
  readonly tenant?: string;
}

/** An instance at the end of a simulation. */
export interface SimulatedInstance {
  readonly workflow: string;
  readonly key: string;
  readonly state: string;
  readonly context: unknown;
}

/** One attempt a worker ran, with the idempotency key the handler would get. */
export interface SimulatedRun {
  readonly taskId: string;
  readonly taskType: string;
  readonly attempt: number;
  readonly idempotencyKey: string;
  readonly at: string;
  readonly input: Json;
  readonly succeeded: boolean;
}

/** What {@link simulate} returns. */
export interface SimulationResult {
  readonly tasks: SimulatedTask[];
  readonly instances: SimulatedInstance[];
  readonly rejected: { readonly eventId: string; readonly reason: string }[];
  readonly runs: SimulatedRun[];
}

interface Row {
  readonly taskId: string;
  readonly workflow: string;
  readonly key: string;
  readonly taskType: string;
  status: TaskStatus;
  dueAt: number;
  deadlineAt: number | null;
  input: Json;
  attempts: number;
  /** When the next attempt may start (the due time, or after a retry's backoff). */
  nextAttemptAt: number;
  /** The last time the row was written: nothing about it can happen earlier. */
  writtenAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  lateCancels: string[];
  timeline: TimelineEntry[];
  result?: Json;
  tenant?: string;
  journeyKey?: string;
  journeyZone?: string;
}

/** The simulated world: a task table, instances, and a virtual clock. */
class World {
  readonly rows = new Map<string, Row>();
  readonly instances = new Map<string, Instance>();
  readonly rejected: Rejection[] = [];
  readonly runs: SimulatedRun[] = [];

  constructor(
    private readonly definitions: HourglassDefinitions,
    private readonly failures: Readonly<Record<string, number>>,
    private readonly outages: readonly Outage[],
    private readonly results: Readonly<Record<string, (input: Json) => Json>> = {},
  ) {}

  factsOf(workflow: string, key: string): TaskFact[] {
    const facts: TaskFact[] = [];
    for (const row of this.rows.values()) {
      if (row.workflow !== workflow || row.key !== key) continue;
      facts.push({
        taskId: row.taskId,
        taskType: row.taskType,
        status: row.status,
        attempts: row.attempts,
        dueAt: row.dueAt,
        deadlineAt: row.deadlineAt,
        input: row.input,
        startedAt: row.startedAt,
        finishedAt: row.finishedAt,
        lateCancels: row.lateCancels,
        ...(row.result === undefined ? {} : { result: row.result }),
        ...(row.timeline[0] === undefined
          ? {}
          : { createdAt: parseInstant(row.timeline[0].at, 'at') }),
      });
    }
    return facts;
  }

  decideFor(workflowName: string, key: string, events: Parameters<typeof decide>[2], now: number) {
    const workflow = findWorkflow(this.definitions, workflowName);
    const id = `${workflowName}\u0000${key}`;
    const instance = this.instances.get(id) ?? newInstance(workflow, key);
    const decision = decide(workflow, instance, events, this.factsOf(workflowName, key), now);
    this.instances.set(id, decision.instance);
    for (const command of decision.commands) this.apply(command, workflowName, now);
  }

  private apply(command: Command, workflow: string, now: number): void {
    const effect = taskRowEffect(command, workflow, now, (id) => this.rows.get(id)?.status);
    switch (effect.type) {
      case 'create': {
        const r = effect.row;
        if (this.rows.has(r.taskId)) return;
        this.rows.set(r.taskId, {
          taskId: r.taskId,
          workflow: r.workflow,
          key: r.key,
          taskType: r.taskType,
          status: r.status,
          dueAt: r.dueAt,
          deadlineAt: r.deadlineAt,
          input: r.input,
          attempts: 0,
          nextAttemptAt: r.runAt,
          writtenAt: now,
          startedAt: r.startedAt ?? null,
          finishedAt: r.finishedAt ?? null,
          lateCancels: [],
          timeline: [...r.timeline],
          ...(r.tenant === undefined ? {} : { tenant: r.tenant }),
          ...(r.journeyKey === undefined ? {} : { journeyKey: r.journeyKey }),
          ...(r.journeyZone === undefined ? {} : { journeyZone: r.journeyZone }),
        });
        return;
      }
      case 'change': {
        const { change } = effect;
        const row = this.rows.get(change.taskId);
        if (row === undefined) return;
        // The store's condition: still SCHEDULED as read, never claimed.
        if (change.whileScheduled && (row.status !== TaskStatus.SCHEDULED || row.attempts > 0))
          return;
        const { set } = change;
        if (set.status !== undefined) row.status = set.status;
        if (set.startedAt !== undefined) row.startedAt = set.startedAt;
        if (set.finishedAt !== undefined) row.finishedAt = set.finishedAt;
        if (set.dueAt !== undefined) row.dueAt = set.dueAt;
        if (set.runAt !== undefined) row.nextAttemptAt = set.runAt;
        if (set.deadlineAt !== undefined) row.deadlineAt = set.deadlineAt;
        if (set.input !== undefined) row.input = set.input;
        if (change.whileScheduled) row.writtenAt = now;
        row.timeline.push(...change.timeline);
        if (change.lateCancel !== undefined && !row.lateCancels.includes(change.lateCancel))
          row.lateCancels.push(change.lateCancel);
        return;
      }
      case 'reject':
        this.rejected.push(effect.rejection);
        return;
    }
  }

  /** When the workers of a type can next take work, from `time` on. */
  private availableFrom(taskType: string, time: number): number {
    let at = time;
    for (let moved = true; moved; ) {
      moved = false;
      for (const o of this.outages) {
        if (o.taskType === taskType && at >= o.from && at < o.to) {
          at = o.to;
          moved = true;
        }
      }
    }
    return at;
  }

  /**
   * The next thing that happens to a SCHEDULED row: it runs; or it expires (its deadline
   * passes first); or it fails (its total timeout passes first).
   */
  nextAction(row: Row): { at: number; kind: Action } {
    const ready = Math.max(row.nextAttemptAt, row.writtenAt);
    // A timer needs no worker: at its due time the instance decides, and fires it.
    if (isTimerType(row.taskType)) return { at: ready, kind: 'fire' };
    const start = this.availableFrom(row.taskType, ready);
    const total = totalDeadline(this.typeOf(row), row.dueAt);
    if (row.deadlineAt !== null && start > row.deadlineAt) {
      return { at: Math.max(row.deadlineAt, row.writtenAt), kind: 'expire' };
    }
    if (total !== null && start > total) {
      return { at: Math.max(total, row.writtenAt), kind: 'time-out' };
    }
    return { at: start, kind: 'run' };
  }

  private typeOf(row: Row): TaskType {
    return this.definitions.taskTypes.find((t) => t.name === row.taskType)!;
  }

  /** When each person's capped tasks started, by control and person. */
  private readonly capStarts = new Map<string, number[]>();

  /**
   * Whether a task's first attempt may start at `now` under its journey control's caps. Over
   * a cap, it is dropped (EXPIRED, and its instance sees it) or deferred to the first free
   * slot, as its task type says; either way its timeline says why.
   */
  private passesCaps(row: Row, now: number): boolean {
    const journey = this.typeOf(row).journey;
    if (row.attempts > 0 || journey === null) return true;
    const id = `${journey.control.name}\u0000${row.journeyKey}`;
    const starts = row.journeyKey === undefined ? null : (this.capStarts.get(id) ?? []);
    const gate = startGate(journey, row.journeyZone, starts, now);
    if (gate.start) {
      if (starts !== null) this.capStarts.set(id, [...starts, now]);
      return true;
    }
    const at = formatInstant(now);
    if (gate.drop) {
      row.status = TaskStatus.EXPIRED;
      row.finishedAt = now;
      row.timeline.push({ at, status: TaskStatus.EXPIRED, cause: gate.cause });
      this.decideFor(row.workflow, row.key, [], now);
    } else {
      row.nextAttemptAt = gate.until;
      row.timeline.push({ at, status: TaskStatus.SCHEDULED, cause: gate.cause });
    }
    return false;
  }

  /** Runs or expires a row at `now`, then lets its instance see the outcome. */
  act(row: Row, kind: Action, now: number): void {
    if (kind === 'fire') {
      this.decideFor(row.workflow, row.key, [], now);
      if (row.status === TaskStatus.SCHEDULED && row.nextAttemptAt <= now) {
        throw new HourglassError(
          `timer '${row.taskId}' was due at ${formatInstant(row.dueAt)} and its instance did not fire it; this is a bug in Hourglass`,
        );
      }
      return;
    }
    const at = formatInstant(now);
    row.writtenAt = now;
    if (kind === 'time-out') {
      row.status = TaskStatus.FAILED;
      row.finishedAt = now;
      row.timeline.push({
        at,
        status: TaskStatus.FAILED,
        cause: totalTimeoutCause(this.typeOf(row)),
      });
    } else if (kind === 'expire') {
      row.status = TaskStatus.EXPIRED;
      row.finishedAt = now;
      row.timeline.push({ at, status: TaskStatus.EXPIRED, cause: 'deadline' });
    } else {
      if (!this.passesCaps(row, now)) return;
      const type = this.definitions.taskTypes.find((t) => t.name === row.taskType)!;
      row.attempts += 1;
      row.startedAt ??= now;
      row.timeline.push({ at, status: TaskStatus.RUNNING, cause: `attempt ${row.attempts}` });
      const succeeded = row.attempts > (this.failures[row.taskType] ?? 0);
      this.runs.push({
        taskId: row.taskId,
        taskType: row.taskType,
        attempt: row.attempts,
        idempotencyKey: `${row.taskId}:${row.attempts}`,
        at,
        input: row.input,
        succeeded,
      });
      if (succeeded) {
        const result = this.results[row.taskType]?.(row.input);
        if (result !== undefined) row.result = result;
        row.status = TaskStatus.COMPLETED;
        row.finishedAt = now;
        row.timeline.push({ at, status: TaskStatus.COMPLETED, cause: `attempt ${row.attempts}` });
      } else if (row.attempts >= type.retry.maxAttempts) {
        row.status = TaskStatus.FAILED;
        row.finishedAt = now;
        row.timeline.push({
          at,
          status: TaskStatus.FAILED,
          cause: `attempt ${row.attempts} failed`,
        });
      } else if (
        isPast(totalDeadline(type, row.dueAt), now + backoffMs(type.retry, row.attempts))
      ) {
        // No time left for another attempt within the total timeout: not retried.
        row.status = TaskStatus.FAILED;
        row.finishedAt = now;
        row.timeline.push({ at, status: TaskStatus.FAILED, cause: totalTimeoutCause(type) });
      } else {
        row.status = TaskStatus.SCHEDULED;
        row.nextAttemptAt = now + backoffMs(type.retry, row.attempts);
        row.timeline.push({
          at,
          status: TaskStatus.SCHEDULED,
          cause: `retry after attempt ${row.attempts}`,
        });
        return;
      }
    }
    this.decideFor(row.workflow, row.key, [], now);
  }
}

/** What happens next to a SCHEDULED row: a worker runs it, it expires or times out, or a timer fires. */
type Action = 'run' | 'expire' | 'time-out' | 'fire';

/** True when `limit` is set and `time` is after it. */
const isPast = (limit: number | null, time: number) => limit !== null && time > limit;

/**
 * Runs definitions over a stream of events on a virtual clock: the decider, a task table
 * and workers that succeed at the due time unless told to fail or be down. Use it in
 * tests of your own workflows, or through `hourglass simulate`.
 *
 * @example
 * const result = await simulate({
 *   definitions,
 *   events: [{ event: userRegistered, arrivedAt: Date.parse(userRegistered.time) }],
 * });
 * expect(result.tasks[0]?.status).toBe('COMPLETED');
 */
export async function simulate(options: SimulationOptions): Promise<SimulationResult> {
  const world = new World(
    options.definitions,
    options.failures ?? {},
    options.outages ?? [],
    options.results ?? {},
  );
  for (const name of Object.keys(options.failures ?? {})) assertTaskType(options, name, 'failures');
  for (const outage of options.outages ?? []) assertTaskType(options, outage.taskType, 'outages');

  const arrivals = options.events
    .map((input, order) => ({ ...input, order }))
    .sort((a, b) => a.arrivedAt - b.arrivedAt || a.order - b.order);
  const lastArrival = arrivals.at(-1)?.arrivedAt ?? 0;
  const until = options.until ?? lastArrival + 30 * MS.day;

  let next = 0;
  for (;;) {
    let due: { row: Row; at: number; kind: Action } | null = null;
    for (const row of world.rows.values()) {
      if (row.status !== TaskStatus.SCHEDULED) continue;
      const action = world.nextAction(row);
      if (
        due === null ||
        action.at < due.at ||
        (action.at === due.at && row.taskId < due.row.taskId)
      ) {
        due = { row, ...action };
      }
    }
    const arrival = arrivals[next];
    // At the same instant, deliveries come first: an event that arrives when a task falls
    // due is seen before a worker claims it.
    if (arrival !== undefined && (due === null || arrival.arrivedAt <= due.at)) {
      if (arrival.arrivedAt > until) break;
      next += 1;
      const routing = await routeEvent(options.definitions, arrival.event);
      world.rejected.push(...routing.rejected);
      for (const routed of routing.routed) {
        world.decideFor(routed.workflow.name, routed.key, [routed.event], arrival.arrivedAt);
      }
      continue;
    }
    if (due === null || due.at > until) break;
    world.act(due.row, due.kind, due.at);
  }

  return {
    tasks: [...world.rows.values()].map((row) => ({
      taskId: row.taskId,
      workflow: row.workflow,
      key: row.key,
      taskType: row.taskType,
      status: row.status,
      dueAt: formatInstant(row.dueAt),
      startedAt: row.startedAt === null ? null : formatInstant(row.startedAt),
      finishedAt: row.finishedAt === null ? null : formatInstant(row.finishedAt),
      attempts: row.attempts,
      input: row.input,
      lateCancel: row.lateCancels.length > 0,
      ...(row.result === undefined ? {} : { result: row.result }),
      ...(row.tenant === undefined ? {} : { tenant: row.tenant }),
      timeline: row.timeline,
    })),
    instances: [...world.instances.values()].map((i) => ({
      workflow: i.workflow,
      key: i.key,
      state: i.state,
      context: i.context,
    })),
    rejected: world.rejected.map((r) => ({
      eventId: r.eventId,
      reason:
        r.workflow === null || r.reason.includes(`'${r.workflow}'`)
          ? r.reason
          : `${r.workflow}: ${r.reason}`,
    })),
    runs: world.runs,
  };
}

function assertTaskType(options: SimulationOptions, name: string, field: string): void {
  if (!options.definitions.taskTypes.some((t) => t.name === name)) {
    throw new HourglassError(
      `${field} names task type '${name}', which is not defined; the task types are: ${options.definitions.taskTypes.map((t) => t.name).join(', ')}`,
    );
  }
}

/** True when a simulated task has reached a terminal status. */
export function isFinished(task: Pick<SimulatedTask, 'status'>): boolean {
  return TERMINAL_STATUSES.has(task.status);
}
