import { type NewTaskRow, type TaskRowChange, taskRowEffect } from '../core/commands';
import type { Decision } from '../core/decider';
import { TaskStatus, type Workflow } from '../core/definitions';
import { HourglassError } from '../core/errors';
import type { RecordedEvent, Rejection } from '../core/events';
import { formatInstant } from '../core/time';
import { versionsOf } from '../core/workflow-checks';
import type { LoadedInstance, TransactWriteItem } from './store';
import {
  expiresAt,
  type InstanceItem,
  Keys,
  MAX_STORED_EVENT_CHARS,
  type RejectedItem,
  statusKeys,
  type TaskItem,
  type TimelineEntry,
  unpublishedKeys,
} from './table';

/**
 * A decision as DynamoDB writes: the instance row and what each command does to task rows
 * (`taskRowEffect`, the one interpreter the simulator also applies), as one conditional
 * transaction.
 */

/** The row of a rejected event: the event as received (cut to size), and why. */
export function rejectedItem(
  rejection: Rejection,
  raw: unknown,
  now: number,
  retentionMs: number,
): RejectedItem {
  return {
    PK: Keys.rejectedPk(rejection.eventId),
    SK: Keys.rejectedSk(rejection.workflow),
    type: 'rejected',
    GSI2PK: Keys.rejectedDayPk(formatInstant(now).slice(0, 10)),
    GSI2SK: `${formatInstant(now)}#${rejection.eventId}`,
    eventId: rejection.eventId,
    workflow: rejection.workflow,
    reason: rejection.reason,
    event: (JSON.stringify(raw) ?? String(raw)).slice(0, MAX_STORED_EVENT_CHARS),
    receivedAt: now,
    expiresAt: expiresAt(now, retentionMs),
  };
}

interface TaskChange {
  set: Record<string, unknown>;
  /** Attributes to remove: the status-index keys of a task that leaves the index. */
  remove: Set<string>;
  timeline: TimelineEntry[];
  lateCancels: string[];
  generationBump: boolean;
}

/** How {@link decisionWrites} writes a decision's rows. */
export interface DecisionWriteOptions {
  /** How long finished rows are kept before TTL may delete them. */
  readonly retentionMs: number;
  /** The instance is final with nothing left to run: its row may expire. */
  readonly finished: boolean;
  /** Task types scheduled with `precision: 'minute'` ({@link minutePrecisionTypes}). */
  readonly minutePrecision?: ReadonlySet<string>;
  /** Task types whose lifecycle events are published ({@link publishedTaskTypes}). */
  readonly published?: ReadonlySet<string>;
}

/**
 * Turns a decision into the items of one transaction: the instance, conditional on the
 * version read, and every task create, cancel and update, conditional on the task still
 * being SCHEDULED at the generation read (so a claim and a cancel can never both win).
 */
export function decisionWrites(
  tableName: string,
  loaded: LoadedInstance,
  decision: Decision,
  newEvents: readonly RecordedEvent[],
  now: number,
  options: DecisionWriteOptions,
): TransactWriteItem[] {
  const { retentionMs, finished } = options;
  const minutePrecision = options.minutePrecision ?? new Set();
  const published = options.published ?? new Set();
  const { instance } = decision;
  const writes: TransactWriteItem[] = [];
  writes.push(instanceWrite(tableName, loaded, decision, now, finished ? retentionMs : null));

  const tasks = new Map(loaded.tasks.map((t) => [t.taskId, t]));
  const changes = new Map<string, TaskChange>();
  const change = (taskId: string) => {
    let c = changes.get(taskId);
    if (c === undefined) {
      c = { set: {}, remove: new Set(), timeline: [], lateCancels: [], generationBump: false };
      changes.set(taskId, c);
    }
    return c;
  };
  // DynamoDB refuses a transaction with two actions on one item: one rejection per event.
  const rejected = new Set<string>();
  for (const command of decision.commands) {
    const effect = taskRowEffect(command, instance.workflow, now, (id) => tasks.get(id)?.status);
    switch (effect.type) {
      case 'create':
        writes.push(
          taskCreateWrite(tableName, effect.row, now, retentionMs, {
            minute: minutePrecision.has(effect.row.taskType),
            publish: published.has(effect.row.taskType),
          }),
        );
        break;
      case 'change':
        addChange(
          change(effect.change.taskId),
          effect.change,
          tasks.get(effect.change.taskId),
          now,
          retentionMs,
        );
        break;
      case 'reject': {
        const { rejection } = effect;
        if (rejected.has(rejection.eventId)) break;
        rejected.add(rejection.eventId);
        const raw = newEvents.find((e) => e.id === rejection.eventId);
        writes.push({
          Put: { TableName: tableName, Item: rejectedItem(rejection, raw, now, retentionMs) },
        });
        break;
      }
    }
  }

  for (const [taskId, c] of changes) {
    const task = tasks.get(taskId);
    if (task === undefined) {
      throw new HourglassError(
        `decision for '${taskId}' refers to a task the store did not read; this is a bug in Hourglass`,
      );
    }
    writes.push(taskChangeWrite(tableName, task, c, now));
  }
  return writes;
}

/**
 * Adds one command's change to what the decision does to a task row. The status index
 * follows the row's status and run time (a task that leaves it loses its keys), and a
 * finished task gets its TTL and its unpublished mark.
 */
function addChange(
  c: TaskChange,
  e: TaskRowChange,
  current: TaskItem | undefined,
  now: number,
  retentionMs: number,
): void {
  c.generationBump ||= e.newGeneration;
  Object.assign(c.set, e.set);
  if (e.set.status !== undefined || e.set.runAt !== undefined) {
    const status =
      (c.set.status as TaskStatus | undefined) ?? current?.status ?? TaskStatus.SCHEDULED;
    const runAt = (c.set.runAt as number | undefined) ?? current?.runAt ?? now;
    const keys = statusKeys(e.taskId, status, runAt);
    if (keys === null) {
      delete c.set.GSI1PK;
      delete c.set.GSI1SK;
      c.remove.add('GSI1PK').add('GSI1SK');
    } else {
      Object.assign(c.set, keys);
      c.remove.delete('GSI1PK');
      c.remove.delete('GSI1SK');
    }
  }
  if (e.set.finishedAt !== undefined) {
    Object.assign(c.set, {
      expiresAt: expiresAt(e.set.finishedAt, retentionMs),
      ...(current?.publish ? unpublishedKeys(e.taskId, e.set.finishedAt) : {}),
    });
  }
  c.timeline.push(...e.timeline);
  if (e.lateCancel !== undefined) c.lateCancels.push(e.lateCancel);
}

/**
 * Whose lifecycle events are published to the bus: `all`, or only those a workflow consumes
 * (the default). An event nobody consumes costs a PutEvents, a mark on the row and its
 * removal; ask for `all` when your own rules on the bus listen to them.
 */
export type LifecycleEvents = 'consumed' | 'all';

/**
 * The task types of `workflow` whose lifecycle events are published: every type it
 * schedules with `all`, else those with an outcome transition in this workflow (the
 * lifecycle rule routes a workflow's own tasks' outcomes back to it).
 */
export function publishedTaskTypes(
  workflow: Workflow,
  lifecycleEvents: LifecycleEvents,
): ReadonlySet<string> {
  const types = taskTypeSets(workflow);
  return lifecycleEvents === 'all' ? types.scheduled : types.consumed;
}

/** The task types a workflow schedules with `precision: 'minute'`. */
export function minutePrecisionTypes(workflow: Workflow): ReadonlySet<string> {
  return taskTypeSets(workflow).minute;
}

const typeSets = new WeakMap<
  Workflow,
  { scheduled: Set<string>; consumed: Set<string>; minute: Set<string> }
>();

/**
 * The task types a workflow schedules, those whose outcomes it consumes, and those with
 * minute precision: read from its transitions once per workflow, not on every decision.
 */
function taskTypeSets(workflow: Workflow) {
  let sets = typeSets.get(workflow);
  if (sets === undefined) {
    // Every version's: an instance still running under a previous one schedules its tasks.
    const transitions = versionsOf(workflow).flatMap((w) => w.transitions);
    const schedules = transitions.flatMap((t) => t.schedules);
    sets = {
      scheduled: new Set(schedules.map((s) => s.task.name)),
      consumed: new Set(
        transitions
          .map((t) => t.trigger)
          .filter((trigger) => trigger.includes('.'))
          .map((trigger) => trigger.slice(0, trigger.lastIndexOf('.'))),
      ),
      minute: new Set(
        schedules.filter((s) => s.task.precision === 'minute').map((s) => s.task.name),
      ),
    };
    typeSets.set(workflow, sets);
  }
  return sets;
}

/**
 * True when the decision leaves the instance in a final state with no task still to run: it
 * will never change again, so its row may expire.
 */
export function isFinished(
  workflow: Workflow,
  loaded: LoadedInstance,
  decision: Decision,
): boolean {
  if (!workflow.states[decision.instance.state]?.final) return false;
  const open = new Set(
    loaded.tasks
      .filter((t) => t.status === TaskStatus.SCHEDULED || t.status === TaskStatus.RUNNING)
      .map((t) => t.taskId),
  );
  for (const command of decision.commands) {
    if (
      command.type === 'schedule-task' &&
      command.task.cancelledBy === null &&
      !command.task.fired
    )
      open.add(command.task.taskId);
    if (command.type === 'cancel-task' || command.type === 'fire-timer')
      open.delete(command.taskId);
  }
  return open.size === 0;
}

/** The instance row's write, conditional on the version read (or on being new). */
function instanceWrite(
  tableName: string,
  loaded: LoadedInstance,
  decision: Decision,
  now: number,
  retentionMs: number | null,
): TransactWriteItem {
  const { instance } = decision;
  const instanceItem: InstanceItem = {
    PK: Keys.instancePk(instance.workflow, instance.key),
    SK: Keys.instanceSk,
    type: 'instance',
    workflow: instance.workflow,
    key: instance.key,
    state: instance.state,
    context: instance.context,
    snapshot: instance.snapshot,
    events: [...instance.events],
    version: (loaded.version ?? 0) + 1,
    ...(instance.definitionVersion === undefined
      ? {}
      : { definitionVersion: instance.definitionVersion }),
    updatedAt: now,
    ...(retentionMs === null ? {} : { expiresAt: expiresAt(now, retentionMs) }),
  };
  return {
    Put: {
      TableName: tableName,
      Item: instanceItem,
      ...(loaded.version === null
        ? { ConditionExpression: 'attribute_not_exists(PK)' }
        : {
            ConditionExpression: 'version = :version',
            ExpressionAttributeValues: { ':version': loaded.version },
          }),
    },
  };
}

/** A new task row's write: new, or taking the id of a row past its TTL. */
function taskCreateWrite(
  tableName: string,
  r: NewTaskRow,
  now: number,
  retentionMs: number,
  flags: { readonly minute: boolean; readonly publish: boolean },
): TransactWriteItem {
  const finished = r.finishedAt !== undefined;
  const item: TaskItem = {
    PK: Keys.instancePk(r.workflow, r.key),
    SK: Keys.taskSk(r.taskId),
    type: 'task',
    ...statusKeys(r.taskId, r.status, r.runAt),
    taskId: r.taskId,
    workflow: r.workflow,
    key: r.key,
    taskType: r.taskType,
    status: r.status,
    generation: 1,
    attempt: 0,
    dueAt: r.dueAt,
    runAt: r.runAt,
    deadlineAt: r.deadlineAt,
    input: r.input,
    createdBy: r.createdBy,
    ...(flags.minute ? { precision: 'minute' as const } : {}),
    ...(flags.publish ? { publish: true as const } : {}),
    ...(r.tenant === undefined ? {} : { tenant: r.tenant }),
    ...(r.journeyKey === undefined ? {} : { journeyKey: r.journeyKey }),
    ...(r.journeyZone === undefined ? {} : { journeyZone: r.journeyZone }),
    ...(r.startedAt === undefined ? {} : { startedAt: r.startedAt }),
    ...(finished
      ? {
          ...(r.cancelledBy === undefined ? {} : { cancelledBy: r.cancelledBy }),
          finishedAt: r.finishedAt!,
          expiresAt: expiresAt(r.finishedAt!, retentionMs),
          ...(flags.publish ? unpublishedKeys(r.taskId, r.finishedAt!) : {}),
        }
      : {}),
    lateCancels: [],
    updatedAt: now,
    timeline: [...r.timeline],
  };
  return {
    Put: {
      TableName: tableName,
      Item: item,
      // New, or taking the id of an expired row TTL has not deleted yet.
      ConditionExpression: 'attribute_not_exists(PK) OR expiresAt <= :nowSeconds',
      ExpressionAttributeValues: { ':nowSeconds': Math.floor(now / 1_000) },
    },
  };
}

/**
 * A task row's update with every change a decision makes to it, conditional on the row
 * still being SCHEDULED at the generation read when the change starts a new generation (a
 * cancel or a move); a late cancel only needs the row.
 */
function taskChangeWrite(
  tableName: string,
  task: TaskItem,
  c: TaskChange,
  now: number,
): TransactWriteItem {
  const names: Record<string, string> = { '#timeline': 'timeline', '#updatedAt': 'updatedAt' };
  const values: Record<string, unknown> = { ':timeline': c.timeline, ':now': now };
  const sets = ['#timeline = list_append(#timeline, :timeline)', '#updatedAt = :now'];
  for (const [field, value] of Object.entries(c.set)) {
    names[`#${field}`] = field;
    values[`:${field}`] = value;
    sets.push(`#${field} = :${field}`);
  }
  if (c.lateCancels.length > 0) {
    names['#lateCancels'] = 'lateCancels';
    values[':lateCancels'] = c.lateCancels;
    sets.push('#lateCancels = list_append(#lateCancels, :lateCancels)');
  }
  if (c.generationBump) {
    names['#generation'] = 'generation';
    values[':one'] = 1;
    sets.push('#generation = #generation + :one');
  }
  // Changing a task's life is only allowed while it is still SCHEDULED at the generation
  // read; a late cancel only needs the row.
  names['#status'] = 'status';
  values[':expectedStatus'] = task.status;
  names['#gen'] = 'generation';
  values[':expectedGeneration'] = task.generation;
  const condition = c.generationBump
    ? '#status = :expectedStatus AND #gen = :expectedGeneration'
    : 'attribute_exists(PK)';
  if (!c.generationBump) {
    delete names['#status'];
    delete names['#gen'];
    delete values[':expectedStatus'];
    delete values[':expectedGeneration'];
  }
  const removes = [...c.remove].map((field) => {
    names[`#${field}`] = field;
    return `#${field}`;
  });
  return {
    Update: {
      TableName: tableName,
      Key: { PK: task.PK, SK: task.SK },
      UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
      ConditionExpression: condition,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    },
  };
}
