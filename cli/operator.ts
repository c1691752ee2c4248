import type { InstanceReport, TaskPage } from '../shared/aws/operator';
import { formatDuration, formatInstant, parseInstant } from '../shared/core';

/**
 * How the operator commands print: `hourglass inspect` and `hourglass tasks` as readable
 * text (with `--json`, the operator API's result as it is). Pure: tests read the same text.
 */

/** When `iso` is, seen from `now`: "in 2h30m", "3m ago" or "now". */
export function relative(iso: string, now: number): string {
  const ms = parseInstant(iso, 'time') - now;
  const rounded = Math.round(Math.abs(ms) / 1_000) * 1_000;
  if (rounded === 0) return 'now';
  return ms > 0 ? `in ${formatDuration(rounded)}` : `${formatDuration(rounded)} ago`;
}

/** `hourglass inspect`'s text: state, pending tasks with what would change them, history. */
export function renderInstance(report: InstanceReport, now: number): string {
  const lines: string[] = [];
  if (!report.found) {
    return `${report.workflow} / ${report.key}: no instance (no event for this key was accepted, or it expired)\n`;
  }
  lines.push(
    `${report.workflow} / ${report.key}: state ${report.state}${report.final ? ' (final)' : ''}`,
    `context ${JSON.stringify(report.context)}`,
    '',
  );
  if (report.pending.length === 0) lines.push('No pending tasks.');
  else lines.push('Pending tasks:');
  for (const task of report.pending) {
    const deadline = task.deadlineAt === null ? '' : `, deadline ${task.deadlineAt}`;
    const retry = task.runAt === task.dueAt ? '' : `, next attempt ${task.runAt}`;
    lines.push(
      `  ${task.taskType} ${task.taskId}  ${task.status}  due ${task.dueAt} (${relative(task.dueAt, now)})${retry}${deadline}, ${task.attempt} attempt${task.attempt === 1 ? '' : 's'} so far`,
    );
    if (task.influences.length === 0) {
      lines.push('    nothing in this state cancels or changes it');
    }
    for (const i of task.influences) {
      lines.push(
        `    ${i.effect} by ${i.trigger}${i.guarded ? ' (when its guard holds)' : ''}, moving to ${i.target}`,
      );
    }
  }
  lines.push('', 'History (! marks a late cancel or a rejection):');
  if (report.foldedEvents) lines.push('  (older events are folded into a snapshot)');
  for (const h of report.history) {
    lines.push(`${h.marked ? '! ' : '  '}${h.at}  ${h.kind.padEnd(8)} ${h.text}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `hourglass tasks`'s table, earliest first, with a note when the limit cut it. */
export function renderTasks(page: TaskPage, now: number): string {
  if (page.tasks.length === 0) return 'No tasks match.\n';
  const rows = page.tasks.map((t) => [
    formatInstant(t.runAt),
    relative(formatInstant(t.runAt), now),
    t.status,
    t.taskType,
    `${t.workflow}/${t.key}`,
    String(t.attempt),
    t.taskId,
  ]);
  const header = ['RUNS AT', 'WHEN', 'STATUS', 'TYPE', 'INSTANCE', 'ATTEMPTS', 'TASK'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const more = page.more
    ? `\n(more tasks match: narrow the filter, or page on with --due-after ${formatInstant(page.tasks.at(-1)!.runAt)})\n`
    : '';
  return `${[line(header), ...rows.map(line)].join('\n')}\n${more}`;
}
