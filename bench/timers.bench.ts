/**
 * Timer precision on the local cloud: how long after its due time each task starts.
 *
 * - SQS path: real time (scale 1, no idle skipping); tasks due 5 to 45 seconds after they
 *   are scheduled, so the relay arms them with SQS delays.
 * - Scheduler path: a compressed clock (scale 60, idle gaps skipped) with the schedule
 *   pump; tasks due 20 minutes to 3 hours ahead, so the relay creates one-shot schedules
 *   that fire their lead time early (anywhere in their minute, as Scheduler does) and the
 *   worker re-delays the message to the due time.
 *
 * On both, a fifth of the timers are moved before they fall due and a tenth are cancelled,
 * through J4's product-publish workflow. Prints p50/p95/p99/max start lateness per path
 * and writes bench/results/timers.json. The scheduler path's figures are virtual time.
 *
 * Run: npm run bench:timers   (BENCH_TIMERS=<tasks per path>, default 200)
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { type LocalCloud, startLocalCloud } from '../local/cloud';
import { seededRandom, startLateness } from '../local/demo';
import definitions from '../workflows';
import { inChild } from './child';

const TASKS = Number(process.env.BENCH_TIMERS ?? 200);
const SECOND = 1_000;
const MINUTE = 60 * SECOND;

/** One path's run: the spread of due times after scheduling, and the clock. */
interface PathRun {
  readonly path: 'sqs' | 'schedule';
  readonly timeScale: number;
  /** Virtual ms over which the first schedulings are spread. */
  readonly spreadMs: number;
  /** Virtual ms between scheduling and due time: [min, max]. */
  readonly dueAfterMs: readonly [number, number];
}

const RUNS: readonly PathRun[] = [
  { path: 'sqs', timeScale: 1, spreadMs: 20 * SECOND, dueAfterMs: [5 * SECOND, 45 * SECOND] },
  {
    path: 'schedule',
    timeScale: 60,
    spreadMs: 30 * MINUTE,
    dueAfterMs: [20 * MINUTE, 180 * MINUTE],
  },
];

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function measure(run: PathRun) {
  const origin = Math.ceil(Date.now() / MINUTE) * MINUTE;
  const cloud = await startLocalCloud({ definitions, timeScale: run.timeScale, origin });
  const started = performance.now();
  try {
    const plan = planLaunches(cloud, run, origin + 5 * SECOND);
    const ticker = setInterval(() => {
      const done = cloud.busEvents.filter((e) => e['detail-type'] === 'TaskCompleted').length;
      process.stderr.write(
        `[bench:timers] ${run.path}: ${((performance.now() - started) / 1000).toFixed(0)}s real, ${done} tasks completed\n`,
      );
    }, 5_000);
    try {
      // Long enough after the last due time for a late start to show, short of the sweeper's grace.
      await cloud.settle({ until: plan.lastDue + 10 * SECOND * run.timeScale, timeoutMs: 600_000 });
    } finally {
      clearInterval(ticker);
    }
    const tasks = (await cloud.tasks()).filter((t) => t.taskType === 'publish-product');
    const lateness = tasks
      .filter((t) => t.status === 'COMPLETED')
      .map((t) => startLateness(t)!)
      .sort((a, b) => a - b);
    return {
      path: run.path,
      tasks: lateness.length,
      p50: Math.round(percentile(lateness, 50)),
      p95: Math.round(percentile(lateness, 95)),
      p99: Math.round(percentile(lateness, 99)),
      max: Math.round(lateness.at(-1) ?? 0),
      timeScale: run.timeScale,
      moved: plan.moved,
      cancelled: tasks.filter((t) => t.status === 'CANCELLED').length,
      cancelsSent: plan.cancelled,
      startedEarly: tasks.filter((t) => t.startedAt !== undefined && t.startedAt < t.dueAt).length,
      onOtherPath: tasks.filter(
        (t) =>
          t.status === 'COMPLETED' &&
          cloud.firedBySchedule.has(t.taskId) !== (run.path === 'schedule'),
      ).length,
      realSeconds: Math.round((performance.now() - started) / 1000),
    };
  } finally {
    await cloud.stop();
  }
}

/**
 * Plans the run's product launches on the cloud's clock from `t0`: each due a random while
 * after it is announced, one in five moved and one in ten called off before it is due.
 */
function planLaunches(cloud: LocalCloud, run: PathRun, t0: number) {
  const random = seededRandom(run.path === 'sqs' ? 11 : 13);
  const between = ([min, max]: readonly [number, number]) => min + random() * (max - min);
  let lastDue = t0;
  let moved = 0;
  let cancelled = 0;
  const emitAt = (at: number, detailType: string, detail: Record<string, unknown>) =>
    cloud.at(at, () => cloud.emit([{ source: 'shop', detailType, detail, time: new Date(at) }]));
  const publish = (productId: string, at: number, publishAt: number) =>
    emitAt(at, 'ProductPublishScheduled', {
      productId,
      publishAt: new Date(publishAt).toISOString(),
    });
  for (let i = 0; i < TASKS; i++) {
    const productId = `bench-${run.path}-${i}`;
    const at = Math.round(t0 + random() * run.spreadMs);
    const dueAt = Math.round(at + between(run.dueAfterMs));
    publish(productId, at, dueAt);
    lastDue = Math.max(lastDue, dueAt);
    const fate = random();
    const changeAt = Math.round(at + (dueAt - at) * 0.3);
    if (fate < 0.2) {
      const movedTo = Math.round(changeAt + between(run.dueAfterMs));
      publish(productId, changeAt, movedTo);
      lastDue = Math.max(lastDue, movedTo);
      moved += 1;
    } else if (fate < 0.3) {
      emitAt(changeAt, 'ProductPublishCancelled', { productId });
      cancelled += 1;
    }
  }
  return { lastDue, moved, cancelled };
}

/**
 * Each path runs in a process of its own: the Lambda handlers read their configuration
 * once, at cold start, as on AWS, so one process serves one local cloud.
 */
async function measureInChild(run: PathRun): Promise<Awaited<ReturnType<typeof measure>>> {
  return inChild<Awaited<ReturnType<typeof measure>>>(
    import.meta.url,
    `--path=${run.path}`,
    `the ${run.path} path's run`,
  );
}

const only = process.argv.find((a) => a.startsWith('--path='))?.slice('--path='.length);
if (only !== undefined) {
  const run = RUNS.find((r) => r.path === only);
  if (run === undefined)
    throw new Error(`--path must be one of ${RUNS.map((r) => r.path).join(', ')}, got ${only}`);
  process.stdout.write(`${JSON.stringify(await measure(run))}\n`);
  process.exit(0);
}

const paths = [];
for (const run of RUNS) paths.push(await measureInChild(run));

const ms = (v: number) => (v < 10_000 ? `${v} ms` : `${(v / 1000).toFixed(1)} s`);
const header = [
  'path',
  'clock',
  'tasks',
  'p50',
  'p95',
  'p99',
  'max',
  'moved',
  'cancelled',
  'early',
];
const rows = paths.map((p) => [
  p.path === 'sqs' ? 'SQS delay' : 'Scheduler',
  `${p.timeScale}×`,
  String(p.tasks),
  ms(p.p50),
  ms(p.p95),
  ms(p.p99),
  ms(p.max),
  String(p.moved),
  String(p.cancelled),
  String(p.startedEarly),
]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
console.log(`\nstart lateness after the due time (virtual time; at 1× that is real time)`);
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const r of rows) console.log(line(r));
const sqs = paths.find((p) => p.path === 'sqs')!;
console.log(
  `\ngoal on the local cloud: p99 ≤ 1 s on the SQS path: ${sqs.p99 <= 1_000 ? 'met' : 'NOT met'} (${ms(sqs.p99)})`,
);
for (const p of paths)
  if (p.onOtherPath > 0 || p.startedEarly > 0)
    console.log(
      `warning: ${p.path}: ${p.onOtherPath} tasks took the other timer path, ${p.startedEarly} started before their due time`,
    );

await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(
  new URL('./results/timers.json', import.meta.url),
  `${JSON.stringify(
    {
      paths,
      machine: { cpus: cpus().length, node: process.version },
      measuredAt: new Date().toISOString(),
    },
    null,
    2,
  )}\n`,
);
console.log('wrote bench/results/timers.json');
