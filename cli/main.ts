import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadDefinitions } from '../local/project';
import {
  type Args,
  type CliIo,
  ExitCode,
  one,
  parseArgs,
  parseTime,
  runningDefinitions,
  UsageError,
} from './args';
import { checkEmit, devCloudBus, emitTargets, emitToBus } from './emit';
import { stackBus } from './target';

export { type CliIo, ExitCode, UsageError } from './args';

import {
  runCancel,
  runInspect,
  runRedrive,
  runRejected,
  runReschedule,
  runRetry,
  runTasks,
} from './operator';

export { loadDefinitions } from '../local/project';

import {
  check,
  compareDefinitions,
  diagram,
  findWorkflow,
  formatInstant,
  type HourglassDefinitions,
  HourglassError,
  MS,
  type Outage,
  parseInstant,
  type SimulationInput,
  type SimulationResult,
  simulate,
} from '../shared/core';

const USAGE = `usage:
  hourglass check [--workflows MODULE] [--against PREVIOUS_MODULE]
  hourglass graph WORKFLOW [--workflows MODULE]
  hourglass simulate --events FILE.jsonl [--workflows MODULE] [--until ISO]
                     [--fail TASKTYPE=N]... [--down TASKTYPE@FROM..TO]... [--json]
  hourglass dev [--workflows MODULE] [--workers DIR] [--persist]
                     (the local cloud, as npm run dev)
  hourglass emit DETAIL_TYPE 'DETAIL_JSON' [--source SOURCE] [--force] [--workflows MODULE]
                     [--stack NAME]
                     (to the bus of \`npm run dev\`, or of a deployed stack with --stack;
                     checked against the workflows first)

operator commands (against --local, the npm run dev cloud, or --stack NAME, a deployed
stack found by its outputs; with neither, the dev cloud if one is running):
  hourglass inspect WORKFLOW KEY [--json]         state, pending tasks and what cancels them, history
  hourglass tasks [--workflow W] [--key K] [--type T] [--status S]
                  [--due-before ISO] [--due-after ISO] [--limit N] [--json]
  hourglass cancel TASK_ID --reason TEXT [--by NAME]  cancels a pending task, recorded in its history
  hourglass reschedule TASK_ID (--at ISO | --after DURATION) --reason TEXT [--by NAME]
  hourglass retry TASK_ID --reason TEXT [--by NAME]   runs a FAILED or EXPIRED task again
  hourglass cancel|retry (--workflow W | --type T) [--key K] [--status S] [--due-before ISO]
                  [--due-after ISO] --reason TEXT [--dry-run]   in bulk, by filter
  hourglass redrive ingest|tasks [--dry-run] [--limit N]   moves a DLQ's messages back
  hourglass rejected [--workflow W] [--days N] [--limit N] [--json]   rejected events and why
  hourglass ui [--port N]                          the dashboard, on 127.0.0.1 (default port 4680)

MODULE defaults to the project's: "hourglass.workflows" in package.json, else
workflows/index.ts (the module exports defineHourglass(...) as default). DIR, the folder
of one <task type>.ts worker per task type, defaults to "hourglass.workers", else
functions/workers.`;

/** Reads a JSON Lines file of EventBridge events, each with an optional `arrivedAt`. */
export async function readEvents(file: string, cwd: string): Promise<SimulationInput[]> {
  let text: string;
  try {
    text = await readFile(resolve(cwd, file), 'utf8');
  } catch (error) {
    throw new UsageError(
      `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  const inputs: SimulationInput[] = [];
  let previousArrival: number | undefined;
  const lines = text.split('\n');
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') continue;
    const where = `${file}:${index + 1}`;
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(line);
    } catch (error) {
      throw new UsageError(`${where}: not valid JSON (${(error as Error).message})`);
    }
    if (event === null || typeof event !== 'object' || Array.isArray(event)) {
      throw new UsageError(`${where}: each line must be one JSON object (an EventBridge event)`);
    }
    let arrivedAt: number | undefined;
    if (event.arrivedAt !== undefined) {
      try {
        arrivedAt = parseInstant(event.arrivedAt, 'arrivedAt');
      } catch (error) {
        throw new UsageError(`${where}: ${(error as Error).message}`);
      }
    } else {
      // An unreadable `time` is the event's problem (it is rejected with a reason), not
      // the file's: it arrives with the line before it.
      try {
        arrivedAt = parseInstant(event.time, 'time');
      } catch {
        arrivedAt = previousArrival;
      }
    }
    const { arrivedAt: _ignored, ...raw } = event;
    inputs.push({ event: raw, arrivedAt: arrivedAt ?? Number.NaN });
    previousArrival = arrivedAt ?? previousArrival;
  }
  const first = inputs.find((i) => !Number.isNaN(i.arrivedAt))?.arrivedAt ?? 0;
  return inputs.map((i) => (Number.isNaN(i.arrivedAt) ? { ...i, arrivedAt: first } : i));
}

function parseFailures(values: readonly string[], definitions: HourglassDefinitions) {
  const failures: Record<string, number> = {};
  for (const value of values) {
    const match = /^([^=]+)=(\d+)$/.exec(value);
    if (!match)
      throw new UsageError(`--fail must be TASKTYPE=N with N a whole number, got "${value}"`);
    assertTaskType(match[1]!, definitions, '--fail');
    failures[match[1]!] = Number(match[2]);
  }
  return failures;
}

function parseOutages(values: readonly string[], definitions: HourglassDefinitions): Outage[] {
  return values.map((value) => {
    const match = /^([^@]+)@(.+)\.\.(.+)$/.exec(value);
    if (!match)
      throw new UsageError(`--down must be TASKTYPE@FROM..TO with ISO times, got "${value}"`);
    assertTaskType(match[1]!, definitions, '--down');
    const from = parseTime(match[2]!, '--down FROM');
    const to = parseTime(match[3]!, '--down TO');
    if (to <= from) throw new UsageError(`--down ${value}: TO must be after FROM`);
    return { taskType: match[1]!, from, to };
  });
}

function assertTaskType(name: string, definitions: HourglassDefinitions, flag: string) {
  if (!definitions.taskTypes.some((t) => t.name === name)) {
    throw new UsageError(
      `${flag}: unknown task type '${name}'; the task types are: ${definitions.taskTypes.map((t) => t.name).join(', ')}`,
    );
  }
}

/** The `--json` output: exactly the documented fields. */
export function toJson(result: SimulationResult) {
  return {
    tasks: result.tasks.map((t) => ({
      taskId: t.taskId,
      workflow: t.workflow,
      key: t.key,
      taskType: t.taskType,
      status: t.status,
      dueAt: t.dueAt,
      startedAt: t.startedAt,
      finishedAt: t.finishedAt,
      attempts: t.attempts,
      input: t.input,
      lateCancel: t.lateCancel,
    })),
    instances: result.instances.map((i) => ({
      workflow: i.workflow,
      key: i.key,
      state: i.state,
      context: i.context,
    })),
    rejected: result.rejected,
  };
}

/** A readable timeline: every task state change in time order, then the totals. */
export function toTimeline(result: SimulationResult): string {
  const rows = result.tasks.flatMap((t) => t.timeline.map((entry) => ({ ...entry, task: t })));
  rows.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  // A SCHEDULED line also says when the task is due: that is the point of scheduling it.
  const lines = rows.map(
    (r) =>
      `${r.at}  ${r.status.padEnd(9)}  ${r.task.taskType.padEnd(20)} ${r.task.workflow}/${r.task.key}  (${r.cause})${r.status === 'SCHEDULED' && !r.cause.startsWith('retry') ? `  due ${r.task.dueAt}` : ''}`,
  );
  const counts = new Map<string, number>();
  for (const t of result.tasks) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
  lines.push(
    '',
    `tasks: ${result.tasks.length}${[...counts].map(([s, n]) => `, ${n} ${s}`).join('')}; late cancels: ${result.tasks.filter((t) => t.lateCancel).length}`,
  );
  for (const i of result.instances) lines.push(`instance ${i.workflow}/${i.key}: ${i.state}`);
  for (const r of result.rejected) lines.push(`rejected ${r.eventId}: ${r.reason}`);
  return `${lines.join('\n')}\n`;
}

async function runSimulate(args: Args, io: CliIo): Promise<number> {
  const file = one(args, '--events');
  if (file === undefined) throw new UsageError('simulate needs --events FILE.jsonl');
  const definitions = await loadDefinitions(one(args, '--workflows'), io.cwd);
  const events = await readEvents(file, io.cwd);
  const untilText = one(args, '--until');
  const lastEvent = Math.max(0, ...events.map((e) => e.arrivedAt));
  const until = untilText === undefined ? lastEvent + 30 * MS.day : parseTime(untilText, '--until');
  const result = await simulate({
    definitions,
    events,
    until,
    failures: parseFailures(args.flags.get('--fail') ?? [], definitions),
    outages: parseOutages(args.flags.get('--down') ?? [], definitions),
  });
  if (args.flags.has('--json')) {
    io.out(`${JSON.stringify(toJson(result))}\n`);
  } else {
    io.out(`simulated until ${formatInstant(until)}\n`);
    io.out(toTimeline(result));
  }
  return ExitCode.ok;
}

/**
 * Puts one event on the local cloud's bus (the one `npm run dev` started), after checking
 * that a workflow consumes it and its detail fits the schema (unless `--force`).
 */
async function runEmit(args: Args, rest: readonly string[], io: CliIo): Promise<number> {
  const [detailType, detailText] = rest;
  if (detailType === undefined || detailText === undefined) {
    throw new UsageError(
      `emit needs DETAIL_TYPE and DETAIL_JSON, e.g. hourglass emit UserRegistered '{"userId":"u1","email":"a@b.c"}'`,
    );
  }
  let detail: unknown;
  try {
    detail = JSON.parse(detailText);
  } catch (error) {
    throw new UsageError(`DETAIL_JSON is not valid JSON (${(error as Error).message})`);
  }
  const given = one(args, '--source');
  const definitions = await runningDefinitions(args, io);
  let source = given;
  if (args.flags.has('--force')) {
    // Unchecked, but still from the source the workflows consume it from, unless told.
    source ??= definitions.workflows
      .flatMap((w) => w.events)
      .find((e) => e.detailType === detailType)?.source;
    if (source === undefined)
      throw new UsageError(
        `--force: no workflow consumes '${detailType}', so there is no source to send it from; add --source SOURCE`,
      );
  } else {
    const event = await checkEmit(definitions, detailType, given, detail);
    source = event.source;
    io.out(`→ ${emitTargets(definitions, event, detail).join('; ')}\n`);
  }
  const stack = one(args, '--stack');
  const bus = stack === undefined ? await devCloudBus() : await stackBus(stack);
  const eventId = await emitToBus(bus, source, detailType, detail);
  io.out(`sent ${detailType} from ${source} to ${bus.description} as event ${eventId}\n`);
  return ExitCode.ok;
}

/**
 * Runs the `hourglass` command line and returns its exit code.
 *
 * @example
 * process.exitCode = await main(process.argv.slice(2), { cwd: process.cwd(), out, err });
 */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const args = parseArgs(argv);
    const [command, ...rest] = args.positional;
    if (command === undefined || args.flags.has('--help') || command === 'help') {
      io.out(`${USAGE}\n`);
      return command === undefined && !args.flags.has('--help') ? ExitCode.badInput : ExitCode.ok;
    }
    switch (command) {
      case 'check': {
        const definitions = await loadDefinitions(one(args, '--workflows'), io.cwd);
        const against = one(args, '--against');
        // With --against: also what deploying these over the running ones does in flight.
        const findings = [
          ...check(definitions),
          ...(against === undefined
            ? []
            : compareDefinitions(await loadDefinitions(against, io.cwd), definitions)),
        ];
        for (const f of findings) io.out(`${f.severity.padEnd(7)} ${f.code}: ${f.message}\n`);
        const errors = findings.filter((f) => f.severity === 'error').length;
        const warnings = findings.filter((f) => f.severity === 'warning').length;
        const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
        const timers = definitions.workflows.flatMap((w) =>
          Object.values(w.states).flatMap((s) =>
            s.timers.map((t) => `${w.name}.${s.name} ${t.trigger}`),
          ),
        );
        const timed =
          timers.length === 0
            ? ''
            : `, ${plural(timers.length, 'timer')} that need no worker (${timers.join(', ')})`;
        io.out(
          `${plural(definitions.workflows.length, 'workflow')}, ${plural(definitions.taskTypes.length, 'task type')}${timed}: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}\n`,
        );
        return errors > 0 ? ExitCode.findings : ExitCode.ok;
      }
      case 'graph': {
        const name = rest[0];
        if (name === undefined) throw new UsageError('graph needs a WORKFLOW name');
        const definitions = await loadDefinitions(one(args, '--workflows'), io.cwd);
        try {
          io.out(diagram(findWorkflow(definitions, name)));
        } catch (error) {
          throw new UsageError((error as Error).message);
        }
        return ExitCode.ok;
      }
      case 'simulate':
        return await runSimulate(args, io);
      case 'emit':
        return await runEmit(args, rest, io);
      case 'inspect':
        return await runInspect(args, rest, io);
      case 'tasks':
        return await runTasks(args, io);
      case 'cancel':
        return await runCancel(args, rest, io);
      case 'reschedule':
        return await runReschedule(args, rest, io);
      case 'rejected':
        return await runRejected(args, io);
      case 'retry':
        return await runRetry(args, rest, io);
      case 'redrive':
        return await runRedrive(args, rest, io);
      case 'ui':
        return await (await import('./ui/command')).runUi(args, io);
      case 'dev':
        // The same as `npm run dev`: the local cloud on the project's workflows, until Ctrl-C.
        await import('../local/dev');
        return ExitCode.ok;
      default:
        throw new UsageError(
          `unknown command '${command}'; the commands are check, graph, simulate, emit, dev, inspect, tasks, cancel, reschedule, retry, redrive, rejected, ui`,
        );
    }
  } catch (error) {
    if (error instanceof HourglassError) {
      io.err(`hourglass: ${error.message.split('\n')[0]}\n`);
      return ExitCode.badInput;
    }
    throw error;
  }
}
