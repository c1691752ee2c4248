import type { TaskType } from './definitions';
import { type EventType, type HourglassDefinitions, keyPathOf, type Workflow } from './definitions';
import { describeSchedule } from './diagram';
import { formatDuration } from './time';
import { versionsOf } from './workflow-checks';

/** How serious a finding is: errors fail `hourglass check` (exit 1), warnings and notes (`info`) do not. */
export const Severity = { error: 'error', warning: 'warning', info: 'info' } as const;
/** One of {@link Severity}. */
export type Severity = (typeof Severity)[keyof typeof Severity];

/** One problem the static check found. */
export interface Finding {
  readonly severity: Severity;
  /** A stable code, e.g. `unreachable-state`. */
  readonly code: string;
  readonly message: string;
}

/** Task types that may still be pending on entry to each state (a may-analysis to a fixpoint). */
function pendingOnEntry(workflow: Workflow): Map<string, Set<string>> {
  const pending = new Map<string, Set<string>>([[workflow.initial, new Set()]]);
  for (let changed = true; changed; ) {
    changed = false;
    for (const t of workflow.transitions) {
      const before = pending.get(t.source);
      if (before === undefined) continue;
      const after = new Set(before);
      for (const task of t.cancels) after.delete(task.name);
      if (t.trigger.includes('.')) after.delete(t.trigger.slice(0, t.trigger.lastIndexOf('.')));
      for (const s of t.schedules) after.add(s.task.name);
      const target = pending.get(t.target) ?? new Set<string>();
      const size = target.size;
      for (const task of after) target.add(task);
      if (!pending.has(t.target) || target.size !== size) changed = true;
      pending.set(t.target, target);
    }
  }
  return pending;
}

/**
 * Each schedule of a workflow: recorded as scheduled; a deadline that always expires; the
 * fields its task type reads from the event (or move) that schedules it.
 */
function checkSchedules(
  workflow: Workflow,
  where: string,
  scheduled: Set<string>,
  error: (code: string, message: string) => void,
  warning: (code: string, message: string) => void,
): void {
  for (const t of workflow.transitions) {
    for (const s of t.schedules) {
      scheduled.add(s.task.name);
      const delay = s.afterMs ?? 0;
      const at = `${where} state '${t.source}' on '${t.trigger}'`;
      if (s.deadline?.afterMs !== undefined && s.atPath === null && s.deadline.afterMs <= delay) {
        error(
          'deadline-not-after-delay',
          `${at}: ${s.task.name}'s deadline (${formatDuration(s.deadline.afterMs)} after the event) is at or before its delay (${formatDuration(delay)}), so it always expires; make the deadline later`,
        );
      } else if (s.deadline === null && s.task.deadlineMs === 0) {
        error(
          'deadline-not-after-delay',
          `${at}: task type '${s.task.name}' has a deadline of 0s after its due time (${describeSchedule(s)}), so it always expires; give it a longer deadline`,
        );
      }
      checkPathsOfMove(t.trigger, at, s.task, error, warning);
      const trigger = workflow.events.find((e) => e.detailType === t.trigger);
      if (trigger !== undefined) checkPathsInEvent(trigger, at, s.task, error, warning);
    }
  }
}

/**
 * A timer's move and a task's outcome carry none of the fields a task type may read from
 * the event that schedules it: a tenant or a control's person key there fails the move
 * (error); a control's time-zone path falls back to its default (warning).
 */
function checkPathsOfMove(
  trigger: string,
  at: string,
  task: TaskType,
  error: (code: string, message: string) => void,
  warning: (code: string, message: string) => void,
): void {
  const move = trigger.startsWith('after ')
    ? "a timer's move"
    : trigger.includes('.')
      ? "a task's outcome"
      : null;
  if (move === null) return;
  const control = task.journey?.control;
  const read = [
    ...(task.tenantPath === null ? [] : [`its tenant (${task.tenantPath})`]),
    ...(control?.keyPath && control.caps.length > 0
      ? [`its journey control's person (${control.keyPath})`]
      : []),
  ];
  if (read.length > 0) {
    error(
      'path-not-in-move',
      `${at}: task type '${task.name}' reads ${read.join(' and ')} from the event that schedules it, and ${move} carries no such field, so the move would fail; schedule it from an event that carries it (e.g. with after: on that event)`,
    );
  }
  if (control !== undefined && control.quietHours !== null && 'path' in control.zone) {
    warning(
      'zone-not-in-move',
      `${at}: journey control '${control.name}' reads the time zone from ${control.zone.path}, which ${move} does not carry: quiet hours use ${control.zone.fallback} for '${task.name}' scheduled here`,
    );
  }
}

/**
 * The fields a task type reads from the event that schedules it (its tenant, its journey
 * control's person and time zone), against that event's schema: a missing tenant or person
 * rejects every such event (error); a missing zone silently means the default (warning).
 */
function checkPathsInEvent(
  event: EventType,
  at: string,
  task: TaskType,
  error: (code: string, message: string) => void,
  warning: (code: string, message: string) => void,
): void {
  const control = task.journey?.control;
  const needed = [
    ...(task.tenantPath === null ? [] : [{ path: task.tenantPath, what: 'its tenant' }]),
    ...(control?.keyPath && control.caps.length > 0
      ? [{ path: control.keyPath, what: `journey control '${control.name}''s person` }]
      : []),
  ];
  for (const { path, what } of needed) {
    if (schemaHas(event, path) === 'missing') {
      error(
        'path-not-in-event',
        `${at}: task type '${task.name}' reads ${what} from ${path}, which event '${event.detailType}' does not have, so every such event would be rejected; fix the path or add the field`,
      );
    }
  }
  if (
    control?.quietHours &&
    'path' in control.zone &&
    schemaHas(event, control.zone.path) === 'missing'
  ) {
    warning(
      'zone-not-in-event',
      `${at}: journey control '${control.name}' reads the time zone from ${control.zone.path}, which event '${event.detailType}' does not have: quiet hours always use ${control.zone.fallback} here; fix the path or add the field`,
    );
  }
}

/** Warns when a workflow's reachable final states hold an instance for good without saying so. */
function checkStartOver(
  workflow: Workflow,
  pending: ReadonlyMap<string, unknown>,
  warning: (code: string, message: string) => void,
): void {
  const finals = Object.values(workflow.states).filter((s) => s.final && pending.has(s.name));
  if (finals.length === 0 || workflow.startOverOn !== null) return;
  const starters = Object.keys(workflow.states[workflow.initial]?.on ?? {}).filter(
    (trigger) => !trigger.includes('.'),
  );
  warning(
    'never-starts-over',
    `workflow '${workflow.name}': an instance in final state ${finals.map((s) => `'${s.name}'`).join(', ')} ignores every later event for its key until its row expires; to start over on a new trigger say startOverOn: [${starters.join(', ')}], or startOverOn: [] if a final state is for good`,
  );
}

/**
 * Statically analyses all definitions. Errors: unreachable states, task types no workflow
 * schedules, events no workflow consumes, final states entered while a task may still be
 * pending, deadlines at or before their delay. Warnings: task types no event ever cancels,
 * final states no event starts over from (`startOverOn` not said).
 *
 * @example
 * const findings = check(definitions);
 * if (findings.some((f) => f.severity === 'error')) process.exitCode = 1;
 */
export function check(definitions: HourglassDefinitions): Finding[] {
  const findings: Finding[] = [];
  const error = (code: string, message: string) =>
    findings.push({ severity: 'error', code, message });
  const warning = (code: string, message: string) =>
    findings.push({ severity: 'warning', code, message });

  const scheduled = new Set<string>();
  for (const workflow of definitions.workflows) {
    const where = `workflow '${workflow.name}'`;
    const pending = pendingOnEntry(workflow);
    for (const state of Object.values(workflow.states)) {
      if (!pending.has(state.name)) {
        error(
          'unreachable-state',
          `${where}: state '${state.name}' cannot be reached from '${workflow.initial}'; add a transition into it or remove it`,
        );
      } else if (state.final && pending.get(state.name)!.size > 0) {
        const tasks = [...pending.get(state.name)!].join(', ');
        error(
          'final-state-leaves-tasks-pending',
          `${where}: final state '${state.name}' can be entered while ${tasks} may still be pending; cancel it on the transitions into '${state.name}'`,
        );
      }
    }
    checkStartOver(workflow, pending, warning);
    // A previous version still schedules its task types for the instances it runs.
    for (const w of versionsOf(workflow).slice(1))
      for (const t of w.transitions) for (const s of t.schedules) scheduled.add(s.task.name);
    const cancelled = new Set(workflow.transitions.flatMap((t) => t.cancels.map((c) => c.name)));
    checkSchedules(workflow, where, scheduled, error, warning);
    for (const task of new Set(
      workflow.transitions.flatMap((t) => t.schedules.map((s) => s.task.name)),
    )) {
      if (!cancelled.has(task)) {
        warning(
          'task-never-cancelled',
          `${where}: no event ever cancels ${task}; if that is intended, ignore this warning`,
        );
      }
    }
  }
  for (const task of definitions.taskTypes) {
    if (!scheduled.has(task.name)) {
      error(
        'task-never-scheduled',
        `task type '${task.name}' is never scheduled by any workflow; schedule it or remove it from taskTypes`,
      );
    }
  }
  for (const workflow of definitions.workflows) checkKeys(workflow, error, warning);
  for (const event of definitions.events) {
    const consumed = definitions.workflows.some((w) => w.events.includes(event));
    if (!consumed) {
      error(
        'event-not-consumed',
        `event '${event.detailType}' from '${event.source}' is consumed by no workflow; add it to a workflow's events or remove it`,
      );
    }
  }
  return findings;
}

/** Each event the workflow consumes must carry its key: an error when its schema has no such field, a warning when it is optional. */
function checkKeys(
  workflow: Workflow,
  error: (code: string, message: string) => void,
  warning: (code: string, message: string) => void,
): void {
  for (const event of workflow.events) {
    const path = keyPathOf(workflow, event.detailType);
    const found = schemaHas(event, path);
    const where = `workflow '${workflow.name}': event '${event.detailType}'`;
    if (found === 'missing') {
      error(
        'key-not-in-event',
        `${where} has no ${path} in its schema, and the workflow correlates on it, so every such event would be rejected; add keys: { ${event.detailType}: 'detail.<the field that holds the key>' } to the workflow, or add the field to the event`,
      );
    } else if (found === 'optional') {
      warning(
        'key-optional-in-event',
        `${where} may leave out ${path}, and the workflow correlates on it: such an event is rejected; make the field required`,
      );
    }
  }
}

/**
 * Whether an event's schema holds `path` (`detail.a.b`), read from the JSON Schema the
 * schema library offers through Standard Schema (`~standard.jsonSchema`, as zod does).
 * `unknown` when it offers none, or the path is not under `detail`: nothing can be told.
 */
function schemaHas(
  event: EventType,
  path: string,
): 'required' | 'optional' | 'missing' | 'unknown' {
  const steps = path.split('.');
  if (steps[0] !== 'detail') return 'unknown';
  let node: JsonSchemaNode | undefined;
  try {
    const standard = event.schema['~standard'] as {
      jsonSchema?: { output?: (options: { target: string }) => unknown };
    };
    node = standard.jsonSchema?.output?.({ target: 'draft-2020-12' }) as JsonSchemaNode | undefined;
  } catch {
    return 'unknown'; // a schema that cannot be written as JSON Schema (a transform, say)
  }
  if (node === undefined) return 'unknown';
  let required = true;
  for (const step of steps.slice(1)) {
    if (node?.type !== 'object' || node.properties === undefined) return 'unknown';
    const next: JsonSchemaNode | undefined = node.properties[step];
    if (next === undefined)
      return node.additionalProperties === false || node.additionalProperties === undefined
        ? 'missing'
        : 'unknown';
    required &&= (node.required ?? []).includes(step);
    node = next;
  }
  return required ? 'required' : 'optional';
}

/** The part of a JSON Schema {@link schemaHas} reads. */
interface JsonSchemaNode {
  readonly type?: string;
  readonly properties?: Readonly<Record<string, JsonSchemaNode>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: unknown;
}
