import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { HourglassDefinitions } from '../shared/core';
import { LIFECYCLE_SOURCE } from '../shared/core/lifecycle';
import { ingestPatterns } from '../shared/core/patterns';
import { scheduledLine } from './activity';
import { type LocalCloud, startLocalCloud } from './cloud';
import { type DevState, devStateFile } from './dev-state';
import { matches } from './emulators/eventbridge';
import { loadDefinitions, readProject, workerEntries } from './project';

/**
 * Serves the dashboard on the local cloud (`hourglass ui --local` in the same process), on
 * HOURGLASS_UI_PORT or 4680; when the port is taken, says so and runs on without it.
 */
async function serveDashboard(
  cloud: LocalCloud,
  definitions: HourglassDefinitions,
): Promise<() => Promise<void>> {
  const { dashboardApi } = await import('../cli/ui/api');
  const { startDashboard } = await import('../cli/ui/server');
  const { DEFAULT_UI_PORT, dashboardOperator } = await import('../cli/ui/command');
  const local = {
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
  const dynamo = DynamoDBDocumentClient.from(
    new DynamoDBClient({ ...local, endpoint: cloud.endpoints.dynamodb }),
  );
  const target = {
    description: `the local cloud of npm run dev, table ${cloud.tableName}`,
    store: { dynamo, tableName: cloud.tableName, clock: () => cloud.clock.now() },
    deadLetterQueues: {
      sqs: new SQSClient({ ...local, endpoint: cloud.endpoints.sqs }),
      queues: cloud.deadLetterQueues,
    },
  };
  try {
    const dashboard = await startDashboard(
      dashboardApi(target, definitions, dashboardOperator()),
      Number(process.env.HOURGLASS_UI_PORT ?? DEFAULT_UI_PORT),
    );
    process.stdout.write(`  Dashboard               ${dashboard.url}\n\n`);
    return () => dashboard.close();
  } catch (error) {
    process.stderr.write(
      `The dashboard did not start (${(error as Error).message}); set HOURGLASS_UI_PORT to serve it on another port.\n`,
    );
    return async () => {};
  }
}

/** Real ms a Ctrl-C waits for the local cloud to stop cleanly before exiting anyway. */
const STOP_GRACE_MS = 5_000;

/** The clock's speed-up from HOURGLASS_TIME_SCALE (1 when unset). */
function timeScaleFromEnv(): number {
  const scaleText = process.env.HOURGLASS_TIME_SCALE;
  const timeScale = scaleText === undefined ? 1 : Number(scaleText);
  if (!(timeScale >= 1))
    throw new Error(`HOURGLASS_TIME_SCALE must be a number ≥ 1, got "${scaleText}"`);
  return timeScale;
}

/** `--workflows MODULE`, `--workers DIR` and `--persist`, wherever they are in the command line. */
function devOptions(argv: readonly string[]) {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      workflows: { type: 'string' },
      workers: { type: 'string' },
      persist: { type: 'boolean' },
    },
    strict: false,
    allowPositionals: true,
  });
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return {
    workflows: text(values.workflows),
    workers: text(values.workers),
    persist: values.persist === true,
  };
}

async function main() {
  const timeScale = timeScaleFromEnv();
  const options = devOptions(process.argv.slice(2));
  // The project's own workflows and workers (package.json "hourglass", or the flags), else
  // this repository's examples.
  const cwd = process.cwd();
  const settings = await readProject(cwd);
  const project = {
    workflows:
      options.workflows === undefined ? settings.workflows : resolve(cwd, options.workflows),
    workers: options.workers === undefined ? settings.workers : resolve(cwd, options.workers),
  };
  const definitions = await loadDefinitions(project.workflows, cwd);
  const workerEntry = workerEntries(project, definitions);
  const dataDir = options.persist
    ? resolve(import.meta.dirname, '..', '.hourglass', 'data')
    : undefined;
  if (dataDir) await mkdir(dataDir, { recursive: true });
  process.stdout.write('Starting the Hourglass local cloud…\n');
  let stopping = false;
  const cloud = await startLocalCloud({
    definitions,
    timeScale,
    dataDir,
    workerEntry,
    lifecycleEvents: 'all', // every task's outcome shows in the terminal, consumed or not
    // Once stopping, services going away are expected, not news.
    onError: (where, error) => {
      if (!stopping) process.stderr.write(`[${where}] ${(error as Error).message}\n`);
    },
  });
  const state: DevState = {
    eventbridge: cloud.endpoints.eventbridge,
    busName: cloud.busName,
    dynamodb: cloud.endpoints.dynamodb,
    tableName: cloud.tableName,
    workflows: project.workflows,
    sqs: cloud.endpoints.sqs,
    deadLetterQueues: cloud.deadLetterQueues,
    redrive: cloud.redrive,
    pid: process.pid,
  };
  await mkdir(join(devStateFile(), '..'), { recursive: true });
  await writeFile(devStateFile(), JSON.stringify(state, null, 2));

  process.stdout.write(banner(cloud, definitions, project, timeScale, dataDir));
  const stopPrinting = printActivity(cloud, definitions);
  const stopDashboard = await serveDashboard(cloud, definitions);
  // Ctrl-C stops within a few seconds, whatever a poller is waiting on; a second Ctrl-C at
  // once. DynamoDB Local, a child process, is killed when this process exits.
  const stop = async () => {
    if (stopping) {
      await rm(devStateFile(), { force: true }).catch(() => {});
      process.exit(130);
    }
    stopping = true;
    stopPrinting();
    await stopDashboard();
    process.stdout.write('\nStopping the local cloud… (Ctrl-C again to stop at once)\n');
    const grace = new Promise((resolve) => setTimeout(resolve, STOP_GRACE_MS).unref());
    await Promise.race([cloud.stop().catch(() => {}), grace]);
    await rm(devStateFile(), { force: true }).catch(() => {});
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** What `npm run dev` prints once the cloud is up: where everything is, and what to do next. */
function banner(
  cloud: LocalCloud,
  definitions: HourglassDefinitions,
  project: { readonly workflows: string; readonly workers: string },
  timeScale: number,
  dataDir: string | undefined,
): string {
  return [
    '',
    'Hourglass local cloud is running (all on 127.0.0.1):',
    `  DynamoDB Local          ${cloud.endpoints.dynamodb}   table ${cloud.tableName}`,
    `  SQS (fauxqs)            ${cloud.endpoints.sqs}`,
    `  EventBridge (emulated)  ${cloud.endpoints.eventbridge}   bus ${cloud.busName}`,
    `  Scheduler (emulated)    ${cloud.endpoints.scheduler}`,
    `  time scale ${timeScale}×${timeScale > 1 ? ', idle gaps skipped' : ' (real time; HOURGLASS_TIME_SCALE=120 runs it 120× faster)'}${dataDir ? `; data kept in ${dataDir}` : '; data in memory'}`,
    '',
    `Workflows: ${definitions.workflows.map((w) => w.name).join(', ')} (${project.workflows})`,
    `Workers:   ${project.workers}`,
    '',
    'From another terminal (checked against these workflows first):',
    `  npx hourglass emit ${definitions.workflows[0]?.events[0]?.detailType ?? 'DETAIL_TYPE'} '{…}'`,
    `  npx hourglass inspect ${definitions.workflows[0]?.name ?? 'WORKFLOW'} KEY      (state, pending tasks, history)`,
    '',
    'Events on the bus, tasks scheduled and rejections are printed below. Ctrl-C stops everything.',
    '',
  ].join('\n');
}

/** Prints every event on the bus, every task scheduled and every rejection as they happen; returns how to stop. */
function printActivity(cloud: LocalCloud, definitions: HourglassDefinitions): () => void {
  let printed = 0;
  const patterns = ingestPatterns(definitions);
  const reported = new Set<string>();
  const rejections = setInterval(async () => {
    const stamp = () => new Date(Date.now()).toISOString();
    for (const r of await cloud.rejected().catch(() => [])) {
      if (reported.has(`${r.eventId}/${r.workflow}`)) continue;
      reported.add(`${r.eventId}/${r.workflow}`);
      process.stdout.write(`${stamp()}  REJECTED ${r.eventId}: ${r.reason}\n`);
    }
    for (const task of await cloud.scheduledTasks().catch(() => [])) {
      if (task.attempt > 0) continue; // a retry, not a new or moved task
      const seen = `${task.taskId}#${task.generation}`;
      if (reported.has(seen)) continue;
      reported.add(seen);
      process.stdout.write(`${stamp()}  ${scheduledLine(task, cloud.clock.now())}\n`);
    }
  }, 1_000);
  const ticker = setInterval(() => {
    for (const event of cloud.busEvents.slice(printed)) {
      const detail = event.detail as Record<string, unknown>;
      const what =
        event.source === LIFECYCLE_SOURCE
          ? `${detail.taskType} ${detail.taskId} (attempt ${detail.attempt})`
          : JSON.stringify(detail);
      // As on AWS, an event no rule matches never reaches Hourglass: say so, since nothing else will.
      const unrouted =
        event.source !== LIFECYCLE_SOURCE && !patterns.some((p) => matches(p, event))
          ? '  (no rule matched: no workflow consumes this detail-type from this source)'
          : '';
      process.stdout.write(
        `${new Date(Date.now()).toISOString()}  ${event.source}  ${event['detail-type']}  ${what}${unrouted}\n`,
      );
    }
    printed = cloud.busEvents.length;
  }, 250);
  return () => {
    clearInterval(ticker);
    clearInterval(rejections);
  };
}

main().catch((error) => {
  process.stderr.write(`hourglass dev: ${(error as Error).message}\n`);
  process.exit(1);
});
