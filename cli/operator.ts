import { BULK_LIMIT, type BulkAction, bulkAct } from '../shared/aws/bulk';
import {
  checkTaskFilter,
  type InstanceReport,
  inspectInstance,
  type ListedTask,
  listRejected,
  listTasks,
  type RejectedEvent,
  type TaskPage,
} from '../shared/aws/operator';
import { cancelTask, rescheduleTask, retryTask } from '../shared/aws/operator-actions';
import { redrive } from '../shared/aws/redrive';
import {
  findTaskType,
  findWorkflow,
  formatDuration,
  formatInstant,
  parseDuration,
  parseInstant,
  TaskStatus,
} from '../shared/core';
import {
  type Args,
  type CliIo,
  ExitCode,
  one,
  operatorName,
  parseTime,
  runningDefinitions,
  UsageError,
} from './args';
import { resolveTarget } from './target';

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
    const rejected = report.history.map((h) => `! ${h.at}  ${h.kind.padEnd(8)} ${h.text}`);
    return `${report.workflow} / ${report.key}: no instance (no event for this key was accepted, or it expired)\n${rejected.length > 0 ? `Rejected events of this key:\n${rejected.join('\n')}\n` : ''}`;
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
    t.status === TaskStatus.SCHEDULED || t.status === TaskStatus.RUNNING
      ? relative(formatInstant(t.runAt), now)
      : '-',
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
    ? `\n(more tasks match: narrow the filter, or page on with --due-after ${formatInstant(page.tasks.at(-1)!.runAt - 1)}, which repeats tasks due at the same instant as the last)\n`
    : '';
  return `${[line(header), ...rows.map(line)].join('\n')}\n${more}`;
}

/** Where the operator commands point, said on stderr so `--json` output stays clean. */
async function target(args: Args, io: CliIo) {
  const chosen = await resolveTarget({
    local: args.flags.has('--local'),
    ...(one(args, '--stack') === undefined ? {} : { stack: one(args, '--stack') }),
  });
  io.err(`(${chosen.description})\n`);
  return chosen;
}

export async function runInspect(args: Args, rest: readonly string[], io: CliIo): Promise<number> {
  const [workflow, key] = rest;
  if (workflow === undefined || key === undefined) {
    throw new UsageError(
      'inspect needs WORKFLOW and KEY, e.g. hourglass inspect welcome-discount u1',
    );
  }
  const definitions = await runningDefinitions(args, io);
  const { store } = await target(args, io);
  const report = await inspectInstance(store, definitions, workflow, key);
  io.out(
    args.flags.has('--json')
      ? `${JSON.stringify(report, null, 2)}\n`
      : renderInstance(report, store.clock()),
  );
  return ExitCode.ok;
}

/**
 * The task filter of `tasks` and of bulk `cancel`/`retry`, from the command line; names
 * checked against the definitions, so a typo is refused rather than matching nothing.
 */
async function taskFilterFrom(args: Args, io: CliIo) {
  const status = one(args, '--status')?.toUpperCase();
  if (status !== undefined && !(Object.values(TaskStatus) as string[]).includes(status)) {
    throw new UsageError(
      `--status must be one of ${Object.values(TaskStatus).join(', ')}, got '${status}'`,
    );
  }
  const limit = positive(args, '--limit');
  const before = one(args, '--due-before');
  const after = one(args, '--due-after');
  const filter = {
    ...optional('workflow', one(args, '--workflow')),
    ...optional('key', one(args, '--key')),
    ...optional('taskType', one(args, '--type')),
    ...optional('status', status as TaskStatus | undefined),
    ...optional('dueBefore', before === undefined ? undefined : parseTime(before, '--due-before')),
    ...optional('dueAfter', after === undefined ? undefined : parseTime(after, '--due-after')),
    ...optional('limit', limit),
  };
  checkTaskFilter(filter);
  const definitions = await runningDefinitions(args, io);
  if (filter.workflow !== undefined) findWorkflow(definitions, filter.workflow);
  if (filter.taskType !== undefined) findTaskType(definitions, filter.taskType);
  return { filter, definitions };
}

export async function runTasks(args: Args, io: CliIo): Promise<number> {
  const { filter } = await taskFilterFrom(args, io);
  const { store } = await target(args, io);
  const page = await listTasks(store, filter);
  const iso = (t: ListedTask) => ({
    ...t,
    runAt: formatInstant(t.runAt),
    dueAt: formatInstant(t.dueAt),
  });
  io.out(
    args.flags.has('--json')
      ? `${JSON.stringify({ ...page, tasks: page.tasks.map(iso) }, null, 2)}\n`
      : renderTasks(page, store.clock()),
  );
  return ExitCode.ok;
}

export async function runCancel(args: Args, rest: readonly string[], io: CliIo): Promise<number> {
  const [taskId] = rest;
  if (taskId === undefined && filtered(args)) return runBulk('cancel', args, io);
  oneTaskOnly(args, 'cancel');
  if (taskId === undefined) {
    throw new UsageError(
      "cancel needs TASK_ID and --reason, e.g. hourglass cancel 'welcome-discount#u1#send-discount-code#1' --reason 'asked by support'",
    );
  }
  const { reason, by } = why(args, 'cancel');
  const definitions = await runningDefinitions(args, io);
  const { store } = await target(args, io);
  const result = await cancelTask(store, definitions, taskId, { reason, by });
  io.out(
    result.outcome === 'cancelled'
      ? `cancelled ${taskId} (recorded as ${result.eventId}, by ${by}: ${reason})\n`
      : `too late: a worker claimed ${taskId} first; the cancel is recorded as a late cancel (${result.eventId})\n`,
  );
  return result.outcome === 'cancelled' ? ExitCode.ok : ExitCode.findings;
}

export async function runRetry(args: Args, rest: readonly string[], io: CliIo): Promise<number> {
  const [taskId] = rest;
  if (taskId === undefined && filtered(args)) return runBulk('retry', args, io);
  oneTaskOnly(args, 'retry');
  if (taskId === undefined) {
    throw new UsageError(
      "retry needs TASK_ID and --reason, e.g. hourglass retry 'welcome-discount#u1#send-discount-code#1' --reason 'mailer fixed'",
    );
  }
  const { reason, by } = why(args, 'retry');
  const definitions = await runningDefinitions(args, io);
  const { store } = await target(args, io);
  const result = await retryTask(store, definitions, taskId, { reason, by });
  io.out(
    `retried ${taskId} as ${result.newTaskId}, due now with its attempts counted afresh (recorded as ${result.eventId}, by ${by}: ${reason})\n`,
  );
  return ExitCode.ok;
}

/** `{ [name]: value }`, or nothing when the value is undefined. */
const optional = <K extends string, V>(name: K, value: V | undefined) =>
  (value === undefined ? {} : { [name]: value }) as { [P in K]?: V };

/** `hourglass rejected`'s text: newest first, one event per line with its reason. */
export function renderRejected(page: {
  readonly events: readonly RejectedEvent[];
  readonly more: boolean;
}): string {
  if (page.events.length === 0) return 'No rejected events.\n';
  const lines = page.events.map(
    (e) => `${e.receivedAt}  ${e.eventId}  ${e.workflow ?? '(no workflow)'}  ${e.reason}`,
  );
  const more = page.more
    ? '\n(more rejected events: raise --limit, or narrow with --workflow)'
    : '';
  return `${lines.join('\n')}${more}\n`;
}

/** A whole number above 0 from an option, or undefined when it was not given. */
function positive(args: Args, name: string): number | undefined {
  const text = one(args, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!(Number.isInteger(value) && value > 0)) {
    throw new UsageError(`${name} must be a whole number above 0, got '${text}'`);
  }
  return value;
}

export async function runRejected(args: Args, io: CliIo): Promise<number> {
  const workflow = one(args, '--workflow');
  // A typo would list nothing and read as "no rejections": refuse it.
  if (workflow !== undefined) findWorkflow(await runningDefinitions(args, io), workflow);
  const options = {
    ...optional('workflow', one(args, '--workflow')),
    ...optional('days', positive(args, '--days')),
    ...optional('limit', positive(args, '--limit')),
  };
  const { store } = await target(args, io);
  const page = await listRejected(store, options);
  io.out(args.flags.has('--json') ? `${JSON.stringify(page, null, 2)}\n` : renderRejected(page));
  return ExitCode.ok;
}

/** The reason and the operator of an action: `--reason` is required, `--by` defaults to $USER. */
function why(args: Args, command: string) {
  const reason = one(args, '--reason');
  if (reason === undefined || reason.trim() === '') {
    throw new UsageError(`${command} needs --reason TEXT: it is recorded in the task's history`);
  }
  return { reason, by: one(args, '--by') ?? operatorName() };
}

export async function runReschedule(
  args: Args,
  rest: readonly string[],
  io: CliIo,
): Promise<number> {
  const [taskId] = rest;
  oneTaskOnly(args, 'reschedule');
  const at = one(args, '--at');
  const after = one(args, '--after');
  if (taskId === undefined || (at === undefined) === (after === undefined)) {
    throw new UsageError(
      "reschedule needs TASK_ID and one of --at ISO or --after DURATION, e.g. hourglass reschedule 'welcome-discount#u1#send-discount-code#1' --after 2h --reason 'asked by support'",
    );
  }
  const reason = why(args, 'reschedule');
  const definitions = await runningDefinitions(args, io);
  const { store } = await target(args, io);
  let dueAt: number;
  try {
    dueAt =
      at !== undefined ? parseInstant(at, '--at') : store.clock() + parseDuration(after, '--after');
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const result = await rescheduleTask(store, definitions, taskId, dueAt, reason);
  io.out(
    result.outcome === 'moved'
      ? `moved ${taskId} to ${result.dueAt} (recorded as ${result.eventId}, by ${reason.by}: ${reason.reason})\n`
      : `too late: a worker claimed ${taskId} first; it was not moved (${result.eventId})\n`,
  );
  return result.outcome === 'moved' ? ExitCode.ok : ExitCode.findings;
}

/**
 * `hourglass redrive ingest|tasks [--dry-run] [--limit N]`: moves a dead-letter queue's
 * messages back (the task DLQ's each to its own task type's queue), printing progress.
 */
export async function runRedrive(args: Args, rest: readonly string[], io: CliIo): Promise<number> {
  const [source] = rest;
  if (source !== 'ingest' && source !== 'tasks') {
    throw new UsageError(
      'redrive needs the DLQ to move back: ingest (events ingest gave up on) or tasks (timer messages the workers gave up on), e.g. hourglass redrive tasks --dry-run',
    );
  }
  const limit = positive(args, '--limit');
  const { redrive: queues } = await target(args, io);
  if (queues === null) {
    throw new UsageError(
      'this target does not name its queues: redeploy the stack (its outputs HourglassIngestQueueUrl and HourglassTaskQueueUrlPrefix are new), or restart npm run dev',
    );
  }
  const dryRun = args.flags.has('--dry-run');
  const report = await redrive(queues, source, {
    dryRun,
    ...(limit === undefined ? {} : { limit }),
    onProgress: (moved, waiting) => io.err(`moved ${moved} of about ${waiting}\n`),
  });
  if (dryRun) {
    io.out(
      report.waiting === 0
        ? `nothing waits in the ${source} DLQ\n`
        : `${report.waiting} message(s) wait in the ${source} DLQ; run again without --dry-run to move them back\n`,
    );
    return ExitCode.ok;
  }
  const where = Object.entries(report.byDestination)
    .map(([url, n]) => `${n} to ${url.slice(url.lastIndexOf('/') + 1)}`)
    .join(', ');
  io.out(
    `moved ${report.moved} message(s) back${where ? ` (${where})` : ''}${report.left > 0 ? `; left ${report.left} that are not timer messages in the DLQ` : ''}\n`,
  );
  return report.left > 0 ? ExitCode.findings : ExitCode.ok;
}

/**
 * Refuses the bulk-only flags on a one-task command, so `--dry-run` or a filter is never
 * silently ignored while the task is changed for real.
 */
function oneTaskOnly(args: Args, command: string): void {
  if (args.flags.has('--dry-run')) {
    throw new UsageError(
      `--dry-run is for the bulk form (hourglass ${command} with a filter such as --workflow or --type); for one task, hourglass inspect shows what would change`,
    );
  }
  if (filtered(args)) {
    throw new UsageError(
      `give ${command} either a TASK_ID or a filter (--workflow, --type, --status, --due-before, --due-after), not both`,
    );
  }
}

/** True when the command line names a task filter (a bulk action) rather than one task. */
function filtered(args: Args): boolean {
  return ['--workflow', '--key', '--type', '--status', '--due-before', '--due-after'].some((f) =>
    args.flags.has(f),
  );
}

/**
 * `hourglass cancel|retry --workflow … [--type …] --reason … [--dry-run]`: says how many
 * tasks match before acting, shows progress while acting, and sums up what it did.
 */
async function runBulk(action: BulkAction, args: Args, io: CliIo): Promise<number> {
  const { filter, definitions } = await taskFilterFrom(args, io);
  const reason = why(args, action);
  const { store } = await target(args, io);
  const dryRun = args.flags.has('--dry-run');
  const verb = action === 'cancel' ? 'cancel' : 'retry';
  const report = await bulkAct(store, definitions, action, filter, reason, {
    dryRun,
    onProgress: (acted, of) => {
      if (acted === 1)
        io.err(`${of} task(s) match; ${verb === 'cancel' ? 'cancelling' : 'retrying'}…\n`);
      if (acted % 25 === 0 || acted === of) io.err(`${acted} of ${of}\n`);
    },
  });
  const more = report.more ? ` (more than ${BULK_LIMIT} match: run it again for the rest)` : '';
  if (report.matched.length === 0) {
    io.out(`no task matches: nothing to ${verb}\n`);
    return ExitCode.ok;
  }
  if (dryRun) {
    io.out(
      `would ${verb} ${report.matched.length} task(s)${more}:\n${report.matched.map((t) => `  ${t.taskId}  ${t.status}  due ${formatInstant(t.runAt)}`).join('\n')}\n`,
    );
    return ExitCode.ok;
  }
  const past = action === 'cancel' ? 'cancelled' : 'retried';
  const lines = [
    `${past} ${report.done} of ${report.matched.length} task(s)${more}`,
    ...(report.tooLate > 0 ? [`${report.tooLate} too late: a worker claimed them first`] : []),
    ...report.refused.map((r) => `refused ${r.taskId}: ${r.reason}`),
  ];
  io.out(`${lines.join('\n')}\n`);
  return report.done === report.matched.length ? ExitCode.ok : ExitCode.findings;
}
