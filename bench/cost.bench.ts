/**
 * `npm run bench:cost`: what Hourglass costs per million tasks on AWS, counted from the real
 * requests of each path run on the local cloud.
 *
 * Each path runs at low volume (one item at a time, so every step is its own batch) and at
 * high volume (many items at once, so batches fill). The run counts every AWS request the
 * handlers make (the SDK middleware in shared/aws/clients.ts, with DynamoDB asked for its
 * consumed capacity by index), what each event source mapping did (invocations, handler
 * time, receives, deletes), the bus's deliveries to the ingest queue, Scheduler's
 * invocations, the lifecycle events put on the bus, and the bytes the handlers logged;
 * bench/cost-model.ts prices them at bench/prices.ts.
 *
 * Where the local cloud's figures may differ from AWS's:
 * - DynamoDB Local reports capacity as AWS documents it (1 KB per write unit, 4 KB per
 *   strongly consistent read unit, transactions doubled); it also doubles the index writes
 *   of a transaction, which AWS may not, so transactional index writes may be overstated.
 * - Handler time is measured on this machine against DynamoDB Local and fauxqs, which are
 *   slower than the services; Lambda duration is overstated, and it is a small share.
 * - Empty receives of the event source mappings' long polling are left out: they cost the
 *   same whatever the traffic (about $0.26 a month per queue).
 *
 * Path (g) is a burst: `--burst N` tasks (default 10,000) created ahead and all due in the
 * same minute, run at real speed; it reports how long after the minute the last one started
 * (on this machine; docs/cost.md has the same on paper for AWS's default quotas). Cold starts
 * (bundle size and module initialisation per function) are measured by bench/cold-start.ts.
 *
 * Options: `--low=N` and `--high=N` items per path (default 5 and 100), `--path=a,b`,
 * `--burst=N` (0 to skip).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type LocalCloud, startLocalCloud } from '../local/cloud';
import { MEASURE_CAPACITY_ENV, requestCounts } from '../shared/aws/clients';
import { LIFECYCLE_SOURCE } from '../shared/aws/messages';
import { DEPLOYED_LOG_LEVEL, FUNCTION_MEMORY_MB, TRACING_BY_DEFAULT } from '../shared/aws/settings';
import type { TaskItem } from '../shared/aws/table';
import definitions from '../workflows';
import { inChild } from './child';
import { type ColdStart, measureColdStarts } from './cold-start';
import { type MeasuredRun, type PricedRun, priceRun } from './cost-model';
import { type CostPath, PATHS, type PathEvent } from './cost-paths';
import { ANCHORS } from './prices';

const MINUTE = 60_000;

/** Bytes written to stdout and stderr while a path runs: the handlers' logs and metrics. */
const logCapture = (() => {
  let bytes = 0;
  let capturing = false;
  const wrap = (stream: NodeJS.WriteStream) => {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      if (!capturing) return write(chunk, ...rest);
      bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      done?.();
      return true;
    }) as typeof stream.write;
  };
  wrap(process.stdout);
  wrap(process.stderr);
  return {
    start: () => {
      capturing = true;
    },
    stop: () => {
      capturing = false;
    },
    get bytes() {
      return bytes;
    },
  };
})();

/** The counters a run is measured by, copied. */
function snapshot(cloud: LocalCloud) {
  return {
    requests: { ...requestCounts.requests },
    capacityUnits: { ...requestCounts.capacityUnits },
    indexCapacityUnits: { ...requestCounts.indexCapacityUnits },
    usage: cloud.usage(),
    lifecycleEvents: cloud.busEvents.filter((e) => e.source === LIFECYCLE_SOURCE).length,
    logBytes: logCapture.bytes,
  };
}

const minus = (after: Record<string, number>, before: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(after)
      .map(([k, v]) => [k, v - (before[k] ?? 0)] as const)
      .filter(([, v]) => v !== 0),
  );

/** What happened between two snapshots, as a measured run of `units`. */
function measured(
  before: ReturnType<typeof snapshot>,
  after: ReturnType<typeof snapshot>,
  units: number,
  tracedFraction: number,
): MeasuredRun {
  const functions = Object.fromEntries(
    Object.entries(after.usage.functions).map(([name, f]) => {
      const b = before.usage.functions[name];
      return [
        name,
        {
          invocations: f.invocations - (b?.invocations ?? 0),
          handlerMs: f.handlerMs - (b?.handlerMs ?? 0),
          receives: f.receives - (b?.receives ?? 0),
          deletes: f.deletes - (b?.deletes ?? 0),
        },
      ];
    }),
  );
  return {
    units,
    requests: minus(after.requests, before.requests),
    capacityUnits: minus(after.capacityUnits, before.capacityUnits),
    indexCapacityUnits: minus(after.indexCapacityUnits, before.indexCapacityUnits),
    functions,
    ruleDeliveries: after.usage.ruleDeliveries - before.usage.ruleDeliveries,
    scheduleInvocations: after.usage.scheduleInvocations - before.usage.scheduleInvocations,
    lifecycleEvents: after.lifecycleEvents - before.lifecycleEvents,
    logBytes: after.logBytes - before.logBytes,
    memoryMb: FUNCTION_MEMORY_MB,
    tracedFraction,
  };
}

type Volume = 'low' | 'high';

/** Task types whose workers the paths run: bench/workers/ has one that does nothing for each. */
const BENCH_WORKERS = ['publish-product', 'send-discount-code', 'discount-reminder'];

/** The worker entry of a task type: the bench's do-nothing worker where there is one. */
const benchWorkerEntry = (taskType: string) =>
  BENCH_WORKERS.includes(taskType)
    ? fileURLToPath(new URL(`./workers/${taskType}.ts`, import.meta.url))
    : fileURLToPath(new URL(`../functions/workers/${taskType}.ts`, import.meta.url));

/**
 * X-Ray's default sampling rule records the first request each second and 5% of the rest:
 * at low volume that is every invocation, at high volume about 5%.
 */
const tracedFraction = (volume: Volume) => (!TRACING_BY_DEFAULT ? 0 : volume === 'low' ? 1 : 0.05);

/** Runs `count` items of a path (one after another at low volume, all at once at high) and measures them. */
async function runPath(cloud: LocalCloud, path: CostPath, volume: Volume, count: number) {
  const keys = Array.from({ length: count }, (_, i) => `cost-${path.id}-${volume}-${i}`);
  const items = volume === 'low' ? keys.map((k) => [k]) : [keys];
  const before = snapshot(cloud);
  logCapture.start();
  try {
    for (const batch of items) {
      const t0 = cloud.clock.now();
      const byTime = new Map<number, PathEvent[]>();
      for (const key of batch)
        for (const e of path.events(key, t0)) byTime.set(e.at, [...(byTime.get(e.at) ?? []), e]);
      for (const [at, events] of byTime)
        cloud.at(t0 + at, () =>
          cloud.emit(
            events.map((e) => ({
              source: 'shop',
              detailType: e.detailType,
              detail: e.detail,
              time: new Date(t0 + at),
            })),
          ),
        );
      await cloud.settle({ until: t0 + path.lastsMs, timeoutMs: 600_000 });
    }
  } finally {
    logCapture.stop();
  }
  const after = snapshot(cloud);
  const tasks = (await cloud.tasks()).filter((t) => keys.includes(t.key));
  return {
    run: measured(before, after, count, tracedFraction(volume)),
    tasks,
    problems: check(path, keys, tasks),
  };
}

/** Every item's tasks ended as the path says, none started before it was due. */
function check(path: CostPath, keys: readonly string[], tasks: readonly TaskItem[]): string[] {
  const problems: string[] = [];
  for (const key of keys) {
    const mine = tasks.filter((t) => t.key === key).sort((a, b) => a.dueAt - b.dueAt);
    const statuses = mine.map((t) => t.status);
    if (statuses.join() !== path.outcome.join())
      problems.push(
        `${key}: tasks ended ${statuses.join(', ') || 'none'}, expected ${path.outcome.join(', ') || 'none'}`,
      );
    for (const t of mine)
      if (t.startedAt !== undefined && t.startedAt < t.dueAt)
        problems.push(`${t.taskId} started ${t.dueAt - t.startedAt} ms before it was due`);
  }
  return problems;
}

/** Start lateness of the tasks that ran, p50 and max, virtual ms. */
function lateness(tasks: readonly TaskItem[]) {
  const late = tasks
    .filter((t) => t.startedAt !== undefined)
    .map((t) => t.startedAt! - t.dueAt)
    .sort((a, b) => a - b);
  return { p50: late[Math.floor(late.length / 2)] ?? null, max: late.at(-1) ?? null };
}

const option = (name: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];

async function main() {
  process.env[MEASURE_CAPACITY_ENV] = 'INDEXES';
  const counts = { low: Number(option('low') ?? 5), high: Number(option('high') ?? 100) };
  const only = option('path')?.split(',');
  const paths = PATHS.filter((p) => only === undefined || only.includes(p.id));
  const cloud = await startLocalCloud({
    definitions,
    timeScale: 60,
    workerEntry: benchWorkerEntry,
    handlerEnvironment: {
      POWERTOOLS_LOG_LEVEL: DEPLOYED_LOG_LEVEL,
      POWERTOOLS_METRICS_DISABLED: 'false',
    },
  });
  const results: {
    path: string;
    name: string;
    unit: string;
    volume: Volume;
    items: number;
    usdPerMillion: number;
    priced: PricedRun;
    requests: Record<string, number>;
    run: MeasuredRun;
    latenessMs: ReturnType<typeof lateness>;
  }[] = [];
  const problems: string[] = [];
  try {
    for (const path of paths) {
      for (const volume of ['low', 'high'] as const) {
        const started = performance.now();
        const { run, tasks, problems: found } = await runPath(cloud, path, volume, counts[volume]);
        problems.push(...found.map((p) => `(${path.id}, ${volume}) ${p}`));
        const priced = priceRun(run);
        results.push({
          path: path.id,
          name: path.name,
          unit: path.unit,
          volume,
          items: counts[volume],
          usdPerMillion: Math.round(priced.usdPerMillion.total * 100) / 100,
          priced,
          requests: run.requests,
          run,
          latenessMs: lateness(tasks),
        });
        process.stderr.write(
          `[bench:cost] (${path.id}) ${volume}: $${priced.usdPerMillion.total.toFixed(2)} per million ${path.unit}s, ${((performance.now() - started) / 1000).toFixed(0)} s real\n`,
        );
      }
    }
  } finally {
    await cloud.stop();
  }
  const burstSize = Number(option('burst') ?? 10_000);
  const burst = burstSize > 0 ? await burstInChild(burstSize) : null;
  const coldStarts = await measureColdStarts();
  print(results);
  printExtras(burst, coldStarts);
  const out = fileURLToPath(new URL('./results/cost.json', import.meta.url));
  await mkdir(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
  await writeFile(
    out,
    `${JSON.stringify({ measuredAt: new Date().toISOString(), paths: results, anchors: ANCHORS, burst, coldStarts }, null, 2)}\n`,
  );
  process.stdout.write(`\nwrote ${out}\n`);
  if (problems.length > 0) {
    process.stdout.write(
      `\nPROBLEMS (the figures above do not describe a correct run):\n${problems.join('\n')}\n`,
    );
    process.exitCode = 1;
  }
}

function print(
  results: readonly {
    path: string;
    volume: Volume;
    unit: string;
    usdPerMillion: number;
    priced: PricedRun;
    latenessMs: { p50: number | null; max: number | null };
  }[],
) {
  const fmt = (n: number, digits = 2) => n.toFixed(digits);
  const header = [
    'path',
    'volume',
    '$/M',
    'per',
    'Lambda',
    'SQS',
    'WRU (index)',
    'RRU',
    'events',
    'sched',
    'log KB',
    'DynamoDB $',
    'late p50/max',
  ];
  const rows = results.map((r) => {
    const u = r.priced.perUnit;
    const late = (v: number | null) => (v === null ? '-' : `${(v / 1000).toFixed(0)}s`);
    return [
      r.path,
      r.volume,
      fmt(r.usdPerMillion),
      r.unit,
      fmt(u.lambdaInvocations),
      fmt(u.sqsRequests),
      `${fmt(u.writeUnits, 1)} (${fmt(u.indexWriteUnits, 1)})`,
      fmt(u.readUnits, 1),
      fmt(u.lifecycleEvents),
      fmt(u.scheduleInvocations),
      fmt(u.logBytes / 1024, 1),
      fmt(r.priced.usdPerMillion.dynamodb),
      `${late(r.latenessMs.p50)}/${late(r.latenessMs.max)}`,
    ];
  });
  for (const a of ANCHORS)
    rows.push([a.name, '', fmt(a.usdPerMillion), 'task', '', '', '', '', '', '', '', '', '']);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  process.stdout.write(
    `\n${line(header)}\n${line(widths.map((w) => '-'.repeat(w)))}\n${rows.map(line).join('\n')}\n`,
  );
  process.stdout.write(
    '\nPer unit: Lambda invocations, SQS requests, DynamoDB write units (of which index writes) and read units, lifecycle events put, Scheduler invocations, log KB; $ per million units at us-east-1 list prices (bench/prices.ts).\n',
  );
  for (const a of ANCHORS) process.stdout.write(`${a.name}: ${a.assumption}\n`);
}

/** What path (g) measured. */
interface Burst {
  readonly path: 'g';
  readonly tasks: number;
  /** Ms from the start of the due minute until the last task started (real time: the clock ran at 1×). */
  readonly lastStartedAfterMs: number;
  readonly p50StartedAfterMs: number;
  readonly completed: number;
}

/**
 * Path (g): `count` tasks scheduled ahead and all due in the same minute. The clock runs at
 * real speed once they are due (idle time before is skipped), so the lateness is what this
 * machine, running every service and function, takes to start them all.
 */
async function runBurst(count: number): Promise<Burst> {
  const cloud = await startLocalCloud({
    definitions,
    timeScale: 1,
    skipIdle: true,
    workerEntry: benchWorkerEntry,
  });
  try {
    const t0 = cloud.clock.now();
    const due = Math.ceil((t0 + 30 * MINUTE) / MINUTE) * MINUTE;
    const started = performance.now();
    const ticker = setInterval(
      () =>
        process.stderr.write(
          `[bench:cost] (g) ${((performance.now() - started) / 1000).toFixed(0)} s real\n`,
        ),
      15_000,
    );
    try {
      for (let i = 0; i < count; i += 100) {
        await cloud.emit(
          Array.from({ length: Math.min(100, count - i) }, (_, j) => ({
            source: 'shop',
            detailType: 'ProductPublishScheduled',
            detail: { productId: `burst-${i + j}`, publishAt: new Date(due).toISOString() },
          })),
        );
      }
      await cloud.settle({ until: due + 2 * MINUTE, timeoutMs: 3_600_000 });
    } finally {
      clearInterval(ticker);
    }
    const tasks = (await cloud.tasks()).filter((t) => t.key.startsWith('burst-'));
    const starts = tasks
      .filter((t) => t.startedAt !== undefined)
      .map((t) => t.startedAt! - due)
      .sort((a, b) => a - b);
    return {
      path: 'g',
      tasks: tasks.length,
      lastStartedAfterMs: starts.at(-1) ?? Number.NaN,
      p50StartedAfterMs: starts[Math.floor(starts.length / 2)] ?? Number.NaN,
      completed: tasks.filter((t) => t.status === 'COMPLETED').length,
    };
  } finally {
    await cloud.stop();
  }
}

function printExtras(burst: Burst | null, coldStarts: readonly ColdStart[]) {
  if (burst !== null) {
    process.stdout.write(
      `\n(g) burst: ${burst.tasks} tasks due in one minute, ${burst.completed} completed; half had started ${(burst.p50StartedAfterMs / 1000).toFixed(0)} s after the minute began, the last ${(burst.lastStartedAfterMs / 1000).toFixed(0)} s after (this machine, every service and function on 2 cores; AWS on paper: docs/cost.md).\n`,
    );
  }
  process.stdout.write(
    '\nCold starts (bundled as deployed; import time, median of 5 fresh processes):\n',
  );
  for (const c of coldStarts)
    process.stdout.write(
      `  ${c.function.padEnd(8)} ${(c.bundleBytes / 1024).toFixed(0).padStart(4)} KB  ${String(c.initMs).padStart(4)} ms\n`,
    );
}

/**
 * Runs path (g) in a process of its own: the handlers read their configuration once, at
 * cold start, as on AWS, so one process serves one local cloud.
 */
async function burstInChild(count: number): Promise<Burst> {
  return inChild<Burst>(import.meta.url, `--burst-only=${count}`, 'the burst run');
}

const burstOnly = option('burst-only');
if (burstOnly !== undefined) {
  process.stdout.write(`${JSON.stringify(await runBurst(Number(burstOnly)))}\n`);
  process.exit(0);
}
await main();
