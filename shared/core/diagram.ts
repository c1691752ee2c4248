import type { ScheduleAction, Transition, Workflow } from './definitions';
import { formatDuration } from './time';

function stateId(name: string): string {
  return `s_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/** Describes when a scheduled task falls due and when it expires, e.g. `in 30m, deadline due+2h`. */
export function describeSchedule(action: ScheduleAction): string {
  const c = action.collapse;
  let when: string;
  if (action.every !== null) {
    const policy = c.kind === 'replace' ? ', replace' : '';
    return `every ${action.every.recurrence.label}${policy}`;
  }
  if (c.kind === 'debounce') {
    when = `debounce ${formatDuration(c.periodMs)}${c.maxWaitMs === null ? '' : ` max ${formatDuration(c.maxWaitMs)}`}`;
  } else if (action.atPath !== null) {
    const offset = action.offsetMs;
    when =
      offset === 0
        ? `at ${action.atPath}`
        : `${formatDuration(Math.abs(offset))} ${offset < 0 ? 'before' : 'after'} ${action.atPath}`;
  } else {
    when = action.afterMs === 0 ? 'now' : `in ${formatDuration(action.afterMs ?? 0)}`;
  }
  let deadline = '';
  if (action.deadline?.afterMs !== undefined)
    deadline = `, deadline event+${formatDuration(action.deadline.afterMs)}`;
  else if (action.deadline?.atPath !== undefined) deadline = `, deadline ${action.deadline.atPath}`;
  else if (action.task.deadlineMs !== null)
    deadline = `, deadline due+${formatDuration(action.task.deadlineMs)}`;
  const policy = c.kind === 'keep-first' || c.kind === 'debounce' ? '' : `, ${c.kind}`;
  return `${when}${deadline}${policy}`;
}

function label(transition: Transition): string {
  const parts = [transition.trigger];
  if (transition.guard !== null) parts[0] += ` [${transition.guard.name}]`;
  const actions = [
    ...transition.cancels.map((t) => `cancel ${t.name}`),
    ...transition.schedules.map((s) => `schedule ${s.task.name} ${describeSchedule(s)}`),
    ...transition.updates.map((u) => `update ${u.task.name}`),
  ];
  if (transition.assign !== null) actions.unshift('assign');
  if (actions.length > 0) parts.push(actions.join('; '));
  // Mermaid ends a label at a colon or a line break; keep labels on one line without them.
  return parts.join(' / ').replace(/[:\n]/g, ' ');
}

/**
 * Draws a workflow as a Mermaid `stateDiagram-v2`: states, the initial and final states,
 * and every transition labelled with its trigger, guard and the tasks it schedules (with
 * their timers), cancels or updates; a final state's `startOverOn` events lead back to the
 * initial state. With `current`, that state is highlighted (an instance's state, as the
 * dashboard shows it).
 *
 * @example
 * console.log(diagram(welcomeDiscount)); // paste into any Markdown that renders Mermaid
 */
export function diagram(workflow: Workflow, options: { readonly current?: string } = {}): string {
  const lines = ['stateDiagram-v2', `  %% workflow ${workflow.name}, key ${workflow.keyPath}`];
  for (const state of Object.values(workflow.states)) {
    lines.push(`  state "${state.name}" as ${stateId(state.name)}`);
  }
  lines.push(`  [*] --> ${stateId(workflow.initial)}`);
  for (const t of workflow.transitions) {
    lines.push(`  ${stateId(t.source)} --> ${stateId(t.target)} : ${label(t)}`);
  }
  for (const state of Object.values(workflow.states)) {
    if (!state.final) continue;
    lines.push(`  ${stateId(state.name)} --> [*]`);
    for (const trigger of workflow.startOverOn ?? []) {
      lines.push(
        `  ${stateId(state.name)} --> ${stateId(workflow.initial)} : ${trigger} (starts over)`,
      );
    }
  }
  if (options.current !== undefined && workflow.states[options.current] !== undefined) {
    lines.push(
      '  classDef current fill:#ffe08a,stroke:#b26a00,stroke-width:3px,font-weight:bold',
      `  class ${stateId(options.current)} current`,
    );
  }
  return `${lines.join('\n')}\n`;
}
