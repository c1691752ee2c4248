import type { Finding } from './check';
import type { HourglassDefinitions, Transition, Workflow } from './definitions';
import { describeSchedule } from './diagram';
import { formatDuration } from './time';
import { versionsOf } from './workflow-checks';

/**
 * What deploying new definitions over running ones would do to instances in flight. A
 * changed definition replays their recorded history under its new rules: a schedule that
 * moved moves their pending tasks, one that went cancels them (superseded), a state that
 * went breaks their replay, a task type that went leaves its pending tasks without a
 * worker. `hourglass check --against PREVIOUS_MODULE` lists each such change before deploy.
 * A workflow whose version went up and that keeps the running one as `previous` changes
 * nothing in flight: its instances finish under the version they started with.
 */

const BUMP =
  'to leave instances in flight alone, bump version and keep the running definition as previous';

/** One transition, named for messages: `state 'waiting' on 'OrderPlaced'` (alternative N when there are several). */
function transitionName(t: Transition, index: number, count: number): string {
  return `state '${t.source}' on '${t.trigger}'${count > 1 ? ` (alternative ${index + 1})` : ''}`;
}

/** The changes between two definitions of one workflow that touch instances in flight. */
function compareWorkflow(before: Workflow, after: Workflow, fix = BUMP): Finding[] {
  const findings: Finding[] = [];
  const error = (code: string, message: string) =>
    findings.push({
      severity: 'error',
      code,
      message: `workflow '${after.name}': ${message}; ${fix}`,
    });
  const warning = (code: string, message: string) =>
    findings.push({ severity: 'warning', code, message: `workflow '${after.name}': ${message}` });

  for (const state of Object.values(before.states)) {
    const next = after.states[state.name];
    if (next === undefined) {
      error(
        'state-removed',
        `state '${state.name}' is gone: instances in it, or whose history passes through it, can no longer be replayed (their events are rejected)`,
      );
      continue;
    }
    for (const [trigger, alternatives] of Object.entries(state.on)) {
      const nextAlternatives = next.on[trigger] ?? [];
      alternatives.forEach((t, i) => {
        const where = transitionName(t, i, alternatives.length);
        const n = nextAlternatives[i];
        if (n === undefined) {
          error(
            'transition-removed',
            `${where} is gone: replayed history no longer moves to '${t.target}'${t.schedules.length > 0 ? `, and the pending ${t.schedules.map((s) => `'${s.task.name}'`).join(', ')} it scheduled would be cancelled as superseded` : ''}`,
          );
          return;
        }
        if (n.target !== t.target) {
          error(
            'transition-retargeted',
            `${where} now goes to '${n.target}', not '${t.target}': instances that took it move there when replayed, and tasks planned after it change with them`,
          );
        }
        compareSchedules(where, t, n, error);
        const lostCancels = t.cancels
          // By name: the running definitions come from another module, other objects.
          .filter((c) => !n.cancels.some((x) => x.name === c.name))
          .map((c) => `'${c.name}'`);
        if (lostCancels.length > 0) {
          warning(
            'cancel-removed',
            `${where} no longer cancels ${lostCancels.join(', ')}: a replay of it leaves them pending`,
          );
        }
      });
    }
  }
  if (after.initial !== before.initial) {
    error(
      'initial-changed',
      `the initial state is now '${after.initial}', not '${before.initial}': every instance replays from it`,
    );
  }
  return findings;
}

/** Schedules removed or moved between two versions of one transition. */
function compareSchedules(
  where: string,
  before: Transition,
  after: Transition,
  error: (code: string, message: string) => void,
): void {
  for (const schedule of before.schedules) {
    const next = after.schedules.find((s) => s.task.name === schedule.task.name);
    if (next === undefined) {
      error(
        'schedule-removed',
        `${where} no longer schedules '${schedule.task.name}': its pending tasks would be cancelled as superseded at their instance's next decision`,
      );
      continue;
    }
    const was = describeSchedule(schedule);
    const now = describeSchedule(next);
    if (was !== now) {
      error(
        'schedule-moved',
        `${where} schedules '${schedule.task.name}' ${now} instead of ${was}: its pending tasks would move at their instance's next decision`,
      );
    }
  }
}

/**
 * Compares the definitions running now (`before`) with those about to be deployed
 * (`after`), workflow by workflow and task type by task type. Errors: changes that
 * cancel, move or orphan pending tasks, or break the replay of instances in flight.
 * Warnings: changes a replay survives that may still surprise (a cancel no longer made, a
 * task type's timing). Notes (severity info, code `versioned`): workflows whose
 * instances in flight keep their version.
 *
 * @example
 * const findings = compareDefinitions(await load('previous.ts'), await load('workflows/index.ts'));
 */
export function compareDefinitions(
  before: HourglassDefinitions,
  after: HourglassDefinitions,
): Finding[] {
  const findings: Finding[] = [];
  for (const old of before.workflows) {
    const next = after.workflows.find((w) => w.name === old.name);
    if (next === undefined) {
      findings.push({
        severity: 'error',
        code: 'workflow-removed',
        message: `workflow '${old.name}' is gone: its instances in flight are never decided again, and the outcomes of their pending tasks go nowhere; keep it until they finish`,
      });
      continue;
    }
    const kept = versionsOf(next).find((w) => w.version === old.version);
    if (next.version > old.version && kept !== undefined) {
      findings.push({
        severity: 'info',
        code: 'versioned',
        message: `workflow '${old.name}': version ${next.version} for new instances; instances in flight finish under version ${old.version}, kept as previous`,
      });
      findings.push(
        ...compareWorkflow(
          old,
          kept,
          `the version ${old.version} kept as previous differs from the one running: keep it exactly as deployed`,
        ),
      );
      continue;
    }
    if (next.version > old.version) {
      findings.push({
        severity: 'error',
        code: 'version-dropped',
        message: `workflow '${old.name}': version ${next.version} does not keep version ${old.version} as previous, so instances in flight cannot finish under it (their replay fails); add previous: <the version ${old.version} definition>`,
      });
      continue;
    }
    findings.push(...compareWorkflow(old, next));
  }
  for (const task of before.taskTypes) {
    const next = after.taskTypes.find((t) => t.name === task.name);
    if (next === undefined) {
      findings.push({
        severity: 'error',
        code: 'task-type-removed',
        message: `task type '${task.name}' is gone: deploying removes its queue and worker, so its pending tasks would never run; keep it until none is pending`,
      });
      continue;
    }
    const timing = (t: typeof task) =>
      `timeout ${formatDuration(t.timeoutMs)}, deadline ${t.deadlineMs === null ? 'none' : formatDuration(t.deadlineMs)}, ${t.retry.maxAttempts} attempts`;
    if (timing(task) !== timing(next)) {
      findings.push({
        severity: 'warning',
        code: 'task-type-changed',
        message: `task type '${task.name}' now has ${timing(next)} (was ${timing(task)}): pending tasks keep the deadline they were planned with; attempts follow the new timeout and retries`,
      });
    }
  }
  return findings;
}
