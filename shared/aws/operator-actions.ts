import {
  decide,
  formatInstant,
  type HourglassDefinitions,
  HourglassError,
  MS,
  OPERATOR_SOURCE,
  OperatorAction,
  type OperatorCancel,
  type OperatorReschedule,
  plannedTaskId,
  type RecordedEvent,
  TaskStatus,
  type Workflow,
} from '../core';
import {
  decideAndCommit,
  getTask,
  loadInstance,
  readInstancePartition,
  type StoreDeps,
} from './store';
import { toFact } from './table';

/**
 * What an operator does to tasks (`hourglass cancel`, `reschedule`): each action is an
 * event in the task's instance's history, decided and written like any other, so the relay
 * moves or deletes its timer and no later decision undoes it.
 */

/** What became of an operator's cancel. */
export interface CancelResult {
  readonly taskId: string;
  /** `cancelled`; or `too-late` when a worker claimed it between the read and the write. */
  readonly outcome: 'cancelled' | 'too-late';
  /** The operator event recorded in the instance's history. */
  readonly eventId: string;
}

/** A task an operator cannot act on as asked; the message says why. */
export class OperatorRefusal extends HourglassError {
  constructor(message: string) {
    super(message);
    this.name = 'OperatorRefusal';
  }
}

/**
 * The workflow and key a task id belongs to: `<workflow>#<key>#<task type>#<n>`, with
 * `#r<m>` after it for a revived incarnation. Keys may hold `#`; workflow and task type
 * names may not.
 */
export function parseTaskId(
  taskId: string,
): { readonly workflow: string; readonly key: string } | null {
  const parts = taskId.replace(/#r\d+$/, '').split('#');
  if (parts.length < 4) return null;
  return { workflow: parts[0]!, key: parts.slice(1, -2).join('#') };
}

/** Why an operator acted, and who: recorded in the task's instance history. */
export interface OperatorReason {
  readonly reason: string;
  readonly by: string;
}

/** An operator's action as an event of its instance's history, at `now`. */
function operatorEvent(detailType: string, detail: OperatorCancel, now: number): RecordedEvent {
  return {
    id: `op-${now.toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
    source: OPERATOR_SOURCE,
    detailType,
    time: now,
    detail: detail as unknown as RecordedEvent['detail'],
  };
}

/**
 * Records an operator's action as an event in the instance's history at `now`, decides and
 * writes it like any event; returns the event's id and the task's row afterwards.
 */
async function recordAction(
  deps: StoreDeps,
  task: { readonly owner: { readonly key: string }; readonly workflow: Workflow },
  action: { readonly detailType: string; readonly detail: OperatorCancel; readonly now: number },
  taskId: string,
) {
  const event = operatorEvent(action.detailType, action.detail, action.now);
  await decideAndCommit(deps, task.workflow, task.owner.key, [event]);
  const row = await getTask(deps, { workflow: task.workflow.name, key: task.owner.key, taskId });
  return { eventId: event.id, row };
}

/** The workflow, key and row of a task, refused when there is no such task. */
async function existingTask(deps: StoreDeps, definitions: HourglassDefinitions, taskId: string) {
  const owner = parseTaskId(taskId);
  const workflow = owner && definitions.workflows.find((w) => w.name === owner.workflow);
  if (!owner || !workflow) {
    throw new OperatorRefusal(
      `'${taskId}' is not a task id of these workflows (${definitions.workflows.map((w) => w.name).join(', ')}); copy one from hourglass tasks or inspect`,
    );
  }
  const row = await getTask(deps, { ...owner, taskId });
  if (row === undefined) {
    throw new OperatorRefusal(`no task '${taskId}' (it never existed, or its row expired)`);
  }
  return { owner, workflow, row };
}

/**
 * The workflow, key and row of a task an operator may act on: SCHEDULED, else refused
 * saying why (`verb`: what the operator wanted done to it).
 */
async function scheduledTask(
  deps: StoreDeps,
  definitions: HourglassDefinitions,
  taskId: string,
  verb: string,
) {
  const { owner, workflow, row } = await existingTask(deps, definitions, taskId);
  if (row.status !== TaskStatus.SCHEDULED) {
    throw new OperatorRefusal(
      row.status === TaskStatus.RUNNING
        ? `task '${taskId}' is running (attempt ${row.attempt}): a claimed task cannot be ${verb}; it completes, fails or times out on its own`
        : `task '${taskId}' is already ${row.status}${row.finishedAt ? ` (at ${formatInstant(row.finishedAt)})` : ''}: it cannot be ${verb}`,
    );
  }
  return { owner, workflow, row };
}

/** What became of an operator's reschedule. */
export interface RescheduleResult {
  readonly taskId: string;
  /** `moved`; or `too-late` when a worker claimed it between the read and the write. */
  readonly outcome: 'moved' | 'too-late';
  readonly dueAt: string;
  readonly eventId: string;
}

/**
 * Moves a pending task to `dueAt` (its deadline, if any, by as much): recorded in its
 * instance's history like {@link cancelTask}, written as a new generation, so the relay
 * moves its timer and a message of the old one is skipped as stale. A later trigger that
 * replaces or debounces the task moves it again, as it would have.
 */
export async function rescheduleTask(
  deps: StoreDeps,
  definitions: HourglassDefinitions,
  taskId: string,
  dueAt: number,
  why: OperatorReason,
): Promise<RescheduleResult> {
  const task = await scheduledTask(deps, definitions, taskId, 'rescheduled');
  const now = deps.clock();
  if (dueAt < now - MS.second) {
    throw new OperatorRefusal(
      `${formatInstant(dueAt)} is in the past; to run the task now, reschedule it to now (--after 0s)`,
    );
  }
  const detail: OperatorReschedule = { taskId, dueAt: formatInstant(dueAt), ...why };
  const detailType = OperatorAction.reschedule;
  const { eventId, row } = await recordAction(deps, task, { detailType, detail, now }, taskId);
  return {
    taskId,
    outcome: row?.dueAt === dueAt ? 'moved' : 'too-late',
    dueAt: detail.dueAt,
    eventId,
  };
}

/**
 * Cancels a pending task as an event would: the cancel is recorded in its instance's
 * history (an operator event with who and why), decided and written with the same
 * conditional write, and the relay then deletes its timer and publishes its lifecycle
 * event. A running or finished task is refused with the reason; a task a worker claims
 * between the check and the write is reported `too-late` (a late cancel, recorded).
 */
export async function cancelTask(
  deps: StoreDeps,
  definitions: HourglassDefinitions,
  taskId: string,
  why: OperatorReason,
): Promise<CancelResult> {
  const task = await scheduledTask(deps, definitions, taskId, 'cancelled');
  const now = deps.clock();
  const detail: OperatorCancel = { taskId, ...why };
  const detailType = OperatorAction.cancel;
  const { eventId, row } = await recordAction(deps, task, { detailType, detail, now }, taskId);
  return {
    taskId,
    outcome: row?.status === TaskStatus.CANCELLED ? 'cancelled' : 'too-late',
    eventId,
  };
}

/** What became of an operator's retry. */
export interface RetryResult {
  readonly taskId: string;
  readonly outcome: 'retried';
  /** The new incarnation's id: its attempts start again from the first. */
  readonly newTaskId: string;
  readonly eventId: string;
}

/**
 * Runs a FAILED or EXPIRED task again: recorded in its instance's history like
 * {@link cancelTask}, decided like any event, so a new incarnation of the task (`…#rN`) is
 * created due now, with its attempts counted afresh and its deadline as far after its due
 * time as it was. The workflow has already seen the failure (its transition stays taken);
 * the new incarnation's outcome is delivered to it like any outcome. Any other status is
 * refused with the reason.
 */
export async function retryTask(
  deps: StoreDeps,
  definitions: HourglassDefinitions,
  taskId: string,
  why: OperatorReason,
): Promise<RetryResult> {
  const task = await existingTask(deps, definitions, taskId);
  const { status } = task.row;
  if (status !== TaskStatus.FAILED && status !== TaskStatus.EXPIRED) {
    const instead =
      status === TaskStatus.SCHEDULED
        ? 'it has not run yet; reschedule it to run it sooner'
        : status === TaskStatus.RUNNING
          ? 'it is running; wait for its outcome'
          : status === TaskStatus.COMPLETED
            ? 'it succeeded; there is nothing to retry'
            : 'a cancelled task stays cancelled; the event that wants it again schedules it again';
    throw new OperatorRefusal(
      `task '${taskId}' is ${status}: only a FAILED or EXPIRED task can be retried (${instead})`,
    );
  }
  const loaded = await loadInstance(deps, task.workflow, task.owner.key);
  const incarnation = (id: string) => Number(/#r(\d+)$/.exec(id)?.[1] ?? 1);
  const newer = loaded.tasks.find(
    (t) =>
      plannedTaskId(t.taskId) === plannedTaskId(taskId) &&
      incarnation(t.taskId) > incarnation(taskId),
  );
  if (newer !== undefined) {
    throw new OperatorRefusal(
      `task '${taskId}' was already run again as '${newer.taskId}' (${newer.status}): act on that one`,
    );
  }
  // After the failure, whatever this machine's clock says: replayed before it, the retry
  // would find the task still open and do nothing.
  const now = Math.max(deps.clock(), (task.row.finishedAt ?? 0) + 1);
  const detail: OperatorCancel = { taskId, ...why };
  const event = operatorEvent(OperatorAction.retry, detail, now);
  // Decided first without writing: a task older than the instance's retained history is no
  // longer in its plan, and a retry of it would be recorded and do nothing.
  const trial = decide(task.workflow, loaded.instance, [event], loaded.tasks.map(toFact), now);
  if (!trial.commands.some((c) => c.type === 'schedule-task')) {
    throw new OperatorRefusal(
      `task '${taskId}' is older than the history its instance keeps (the workflow's retain period), so it can no longer be retried; emit the event that schedules it again instead`,
    );
  }
  const before = new Set(loaded.tasks.map((t) => t.taskId));
  await decideAndCommit(deps, task.workflow, task.owner.key, [event]);
  const { tasks } = await readInstancePartition(deps, task.workflow.name, task.owner.key);
  const created = tasks.find(
    (t) => !before.has(t.taskId) && plannedTaskId(t.taskId) === plannedTaskId(taskId),
  );
  if (created === undefined) {
    throw new HourglassError(
      `the retry of '${taskId}' was recorded (event ${event.id}) but created no task: run hourglass inspect ${task.workflow.name} ${task.owner.key} and report it`,
    );
  }
  return { taskId, outcome: 'retried', newTaskId: created.taskId, eventId: event.id };
}
