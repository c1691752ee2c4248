import { DefinitionError, describeValue } from './errors';
import { assertPath } from './path';
import { compileTimeZone, DEFAULT_DST_POLICY, parseCron } from './recurrence';
import { assertTaskType, TaskOutcome, type TaskType } from './task-types';
import { MS, parseDuration } from './time';
import { type Json, within } from './validation';
import type {
  Guard,
  OneOrMany,
  ScheduleAction,
  ScheduleSpec,
  Transition,
  TransitionArgs,
  TransitionSpec,
} from './workflows';

/** Compiling a workflow's transition specs: triggers, guards, targets and task actions, validated. */

/** A value or a list of values, as a list. */
export function many<T>(value: OneOrMany<T> | undefined): readonly T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

/** Compiles and checks one `schedule` action; `where` names the transition in errors. */
export function compileSchedule(
  spec: ScheduleSpec<unknown, unknown>,
  where: string,
): ScheduleAction {
  assertTaskType(spec?.task, where, 'schedule.task');
  const here = `${where} schedule '${spec.task.name}'`;
  const atPath = spec.at ?? null;
  if (atPath !== null) within(here, () => assertPath(atPath, 'at'));
  if (typeof spec.after === 'string' && spec.after.trim().startsWith('-')) {
    throw new DefinitionError(
      here,
      `after cannot be negative (got '${spec.after}'); to count back from a time in the event, write { at: 'detail.<field>', before: '${spec.after.trim().slice(1)}' }`,
    );
  }
  if (spec.before !== undefined && atPath === null) {
    throw new DefinitionError(
      here,
      "before counts back from a time in the event: add at: 'detail.<field>' (the time to count back from)",
    );
  }
  if (spec.before !== undefined && spec.after !== undefined) {
    throw new DefinitionError(here, 'give before or after (relative to at), not both');
  }
  const delayMs =
    spec.after === undefined ? null : within(here, () => parseDuration(spec.after, 'after'));
  const beforeMs =
    spec.before === undefined ? null : within(here, () => parseDuration(spec.before, 'before'));
  // With `at`, after/before move the due time off the event field's time; without, `after`
  // is a delay from the event time.
  const afterMs = atPath === null ? delayMs : null;
  const offsetMs = atPath === null ? 0 : (delayMs ?? 0) - (beforeMs ?? 0);

  const deadline = compileDeadline(spec, here, atPath, afterMs);
  const collapse = compileCollapse(spec, here);
  const every = compileEvery(spec, here, collapse);
  if (spec.input !== undefined && typeof spec.input !== 'function') {
    throw new DefinitionError(here, 'input must be a function ({ context, event }) => JSON');
  }
  return {
    task: spec.task,
    afterMs: afterMs ?? (atPath === null && collapse.kind !== 'debounce' ? 0 : null),
    atPath,
    offsetMs,
    deadline,
    collapse,
    input: spec.input ?? null,
    every,
  };
}

/**
 * A recurring schedule's recurrence: an interval of at least a minute, or a cron expression
 * (parsed by croner) with its time zone and DST policy. Alone: `after`, `at`, `before` and
 * `deadline` would contradict it (each occurrence's deadline is the next occurrence), and
 * only `keep-first` or `replace` say what a second start does.
 */
function compileEvery(
  spec: ScheduleSpec<unknown, unknown>,
  here: string,
  collapse: ScheduleAction['collapse'],
): ScheduleAction['every'] {
  const every = spec.every;
  if (every === undefined) return null;
  const clash = (['after', 'at', 'before', 'deadline'] as const).filter(
    (field) => spec[field] !== undefined,
  );
  if (clash.length > 0) {
    throw new DefinitionError(
      here,
      `every makes the task recurring, and sets its due times and deadlines itself; remove ${clash.join(', ')}`,
    );
  }
  if (collapse.kind !== 'keep-first' && collapse.kind !== 'replace') {
    throw new DefinitionError(
      here,
      'a recurring task runs one chain per instance: collapse must be "keep-first" (a second start changes nothing) or "replace" (it restarts the recurrence)',
    );
  }
  if (typeof every === 'string') {
    const periodMs = within(here, () => parseDuration(every, 'every'));
    if (periodMs < MS.minute) {
      throw new DefinitionError(
        here,
        `every '${every}' is shorter than a minute; recur at most once a minute`,
      );
    }
    return {
      recurrence: { kind: 'interval', periodMs, label: every },
      zone: { fixed: 'UTC' },
    };
  }
  if (typeof every !== 'object' || every === null || typeof every.cron !== 'string') {
    throw new DefinitionError(
      here,
      `every must be a duration ('6h') or { cron: '0 9 * * MON', timeZone?, dst? }, got ${describeValue(every)}`,
    );
  }
  const cron = within(here, () => parseCron(every.cron));
  const first = cron.nextRun(new Date(0));
  const second = first === null ? null : cron.nextRun(first);
  if (first !== null && second !== null && second.getTime() - first.getTime() < MS.minute) {
    throw new DefinitionError(
      here,
      `every '${every.cron}' recurs more often than once a minute; recur at most once a minute`,
    );
  }
  const dst = { ...DEFAULT_DST_POLICY, ...(every.dst ?? {}) };
  if (
    !['first', 'last', 'both'].includes(dst.repeated) ||
    !['skip', 'shift'].includes(dst.skipped)
  ) {
    throw new DefinitionError(
      here,
      `every.dst must be { repeated: 'first' | 'last' | 'both', skipped: 'skip' | 'shift' }, got ${JSON.stringify(every.dst)}`,
    );
  }
  const zone = within(here, () => compileTimeZone(every.timeZone, 'every.timeZone'));
  const label = `'${every.cron}'${'fixed' in zone ? ` ${zone.fixed}` : ` ${zone.path} or ${zone.fallback}`}`;
  return { recurrence: { kind: 'cron', expression: every.cron, cron, dst, label }, zone };
}

/** A schedule's own deadline: a duration from the event time, or an event field. */
function compileDeadline(
  spec: ScheduleSpec<unknown, unknown>,
  here: string,
  atPath: string | null,
  afterMs: number | null,
): ScheduleAction['deadline'] {
  if (spec.deadline === undefined) return null;
  const d = spec.deadline as { after?: string; at?: string };
  if ((d.after === undefined) === (d.at === undefined)) {
    throw new DefinitionError(
      here,
      'deadline must be { after: "<duration from the event time>" } or { at: "<event field>" }',
    );
  }
  if (d.at !== undefined) {
    within(here, () => assertPath(d.at, 'deadline.at'));
    return { atPath: d.at };
  }
  const deadlineAfterMs = within(here, () => parseDuration(d.after, 'deadline.after'));
  if (atPath === null && deadlineAfterMs < (afterMs ?? 0)) {
    throw new DefinitionError(
      here,
      `deadline.after (${d.after}) is shorter than after (${spec.after}), so the task would always expire; make deadline.after longer than after, or use the task type's deadline, which counts from the due time`,
    );
  }
  return { afterMs: deadlineAfterMs };
}

/** What a second trigger does to a task already planned: keep it, replace it, add one, or debounce. */
function compileCollapse(
  spec: ScheduleSpec<unknown, unknown>,
  here: string,
): ScheduleAction['collapse'] {
  const policy = spec.collapse ?? 'keep-first';
  if (policy === 'keep-first' || policy === 'replace' || policy === 'per-trigger') {
    return { kind: policy };
  }
  if (typeof policy !== 'object' || policy === null || !('debounce' in policy)) {
    throw new DefinitionError(
      here,
      `collapse must be "keep-first", "replace", "per-trigger" or { debounce: { period, maxWait } }, got ${describeValue(policy)}`,
    );
  }
  if (spec.after !== undefined || spec.at !== undefined || spec.before !== undefined) {
    throw new DefinitionError(
      here,
      'a debounce sets the due time itself (period after the latest trigger); remove after/at',
    );
  }
  const periodMs = within(here, () =>
    parseDuration(policy.debounce?.period, 'collapse.debounce.period'),
  );
  const maxWaitMs =
    policy.debounce.maxWait === undefined
      ? null
      : within(here, () => parseDuration(policy.debounce.maxWait, 'collapse.debounce.maxWait'));
  if (maxWaitMs !== null && maxWaitMs < periodMs) {
    throw new DefinitionError(
      here,
      `collapse.debounce.maxWait (${policy.debounce.maxWait}) must not be shorter than its period (${policy.debounce.period})`,
    );
  }
  return { kind: 'debounce', periodMs, maxWaitMs };
}

/** A trigger is an event the workflow consumes, or `<task type>.<outcome>` of a task it schedules. */
export function checkTrigger(
  at: string,
  trigger: string,
  eventNames: ReadonlySet<string>,
  scheduled: ReadonlySet<string>,
): void {
  const dot = trigger.lastIndexOf('.');
  if (dot === -1) {
    if (!eventNames.has(trigger)) {
      throw new DefinitionError(
        at,
        `the workflow consumes no event '${trigger}'; add it to events or use one of: ${[...eventNames].join(', ')}`,
      );
    }
    return;
  }
  const task = trigger.slice(0, dot);
  const outcome = trigger.slice(dot + 1);
  if (!(outcome in TaskOutcome)) {
    throw new DefinitionError(
      at,
      `'${outcome}' is not a task outcome; use one of ${Object.keys(TaskOutcome).join(', ')}`,
    );
  }
  if (!scheduled.has(task)) {
    throw new DefinitionError(
      at,
      `the workflow never schedules a task of type '${task}', so this transition can never run`,
    );
  }
}

/** Validates one transition spec and compiles it. */
export function compileTransition(
  at: string,
  t: TransitionSpec<unknown, unknown>,
  place: {
    readonly trigger: string;
    readonly source: string;
    readonly index: number;
    readonly last: boolean;
    readonly stateNames: readonly string[];
  },
): Transition {
  if (t === null || typeof t !== 'object') {
    throw new DefinitionError(at, `a transition must be an object, got ${describeValue(t)}`);
  }
  if (!place.last && t.guard === undefined) {
    throw new DefinitionError(
      at,
      `alternative ${place.index + 1} has no guard, so the alternatives after it can never run; give it a guard or move it last`,
    );
  }
  if (
    t.guard !== undefined &&
    (typeof t.guard.name !== 'string' || typeof t.guard.test !== 'function')
  ) {
    throw new DefinitionError(
      at,
      'guard must be { name: "<label>", test: ({ context, event }) => boolean }',
    );
  }
  const target = t.target ?? place.source;
  if (!place.stateNames.includes(target)) {
    throw new DefinitionError(
      at,
      `target state '${target}' is not defined; states are: ${place.stateNames.join(', ')}`,
    );
  }
  if (t.assign !== undefined && typeof t.assign !== 'function') {
    throw new DefinitionError(at, 'assign must be a function ({ context, event }) => newContext');
  }
  const schedules = many(t.schedule).map((s) => compileSchedule(s, at));
  const cancels = many(t.cancel).map((task, i) => {
    assertTaskType(task, at, `cancel[${i}]`);
    return task;
  });
  const updates = many(t.update).map((u, i) => {
    assertTaskType(u?.task, at, `update[${i}].task`);
    if (typeof u.input !== 'function') {
      throw new DefinitionError(
        at,
        `update[${i}].input must be a function ({ context, event }) => JSON`,
      );
    }
    return { task: u.task, input: u.input as (args: TransitionArgs<unknown, unknown>) => Json };
  });
  return {
    trigger: place.trigger,
    source: place.source,
    target,
    guard: (t.guard as Guard<unknown, unknown> | undefined) ?? null,
    assign: (t.assign as Transition['assign'] | undefined) ?? null,
    schedules,
    cancels,
    updates,
    reenters: t.target !== undefined,
  };
}

/** Records the task types a transition uses, refusing two different ones of one name. */
export function registerTaskTypes(
  at: string,
  taskTypes: Map<string, TaskType>,
  transition: Transition,
): void {
  for (const task of [
    ...transition.schedules.map((s) => s.task),
    ...transition.cancels,
    ...transition.updates.map((u) => u.task),
  ]) {
    const known = taskTypes.get(task.name);
    if (known !== undefined && known !== task) {
      throw new DefinitionError(
        at,
        `two different task types are named '${task.name}'; give each a unique name`,
      );
    }
    taskTypes.set(task.name, task);
  }
}
