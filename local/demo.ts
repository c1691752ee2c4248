import type { TaskItem } from '../shared/aws/table';
import { TERMINAL_STATUSES } from '../shared/core/definitions';
import definitions from '../workflows';
import { type Faults, type LocalCloud, startLocalCloud } from './cloud';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** The demo's default time scale: a virtual minute per real second (idle gaps are skipped besides). */
export const DEFAULT_TIME_SCALE = 60;

/** One event the demo sends, and when it arrives (virtual ms). */
export interface DemoEvent {
  readonly arriveAt: number;
  readonly source: string;
  readonly detailType: string;
  readonly time: number;
  readonly detail: Record<string, unknown>;
}

/** A small seeded random source, so a demo run can be repeated exactly. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4_294_967_296;
  };
}

/**
 * A realistic stream through J1–J5 starting at `t0`: users registering, ordering or not;
 * checkouts abandoned and paid; images uploaded and sometimes deleted; products and
 * campaigns scheduled days ahead, moved and called off; discounts applied and removed;
 * and a few malformed events, which must be rejected with a reason.
 */
export function demoStream(
  t0: number,
  options: { users: number; random: () => number },
): DemoEvent[] {
  const { users, random } = options;
  const between = (from: number, to: number) => Math.round(from + random() * (to - from));
  const pick = (p: number) => random() < p;
  const events: DemoEvent[] = [];
  const push = (
    detailType: string,
    detail: Record<string, unknown>,
    time: number,
    arriveAt = time,
  ) => events.push({ arriveAt, source: 'shop', detailType, time, detail });
  const window = 20 * MIN;

  for (let i = 1; i <= users; i++) {
    const userId = `user-${i}`;
    const registered = t0 + between(0, window);
    push('UserRegistered', { userId, email: `${userId}@example.com` }, registered);
    if (pick(0.35))
      push(
        'OrderPlaced',
        { userId, orderId: `order-${i}`, total: between(10, 200) },
        registered + between(1, 25) * MIN,
      );
    else if (pick(0.2))
      push(
        'OrderPlaced',
        { userId, orderId: `order-${i}`, total: between(10, 200) },
        registered + between(40, 90) * MIN,
      );
    if (pick(0.4)) {
      const carts = between(1, 3);
      let at = registered + between(1, 5) * MIN;
      for (let c = 1; c <= carts; c++) {
        push('CheckoutStarted', { userId, cartId: `cart-${i}-${c}` }, at);
        if (pick(0.55))
          push('PaymentSucceeded', { userId, cartId: `cart-${i}-${c}` }, at + between(1, 15) * MIN);
        at += between(1, 6) * MIN;
      }
    }
  }
  for (let i = 1; i <= Math.ceil(users / 3); i++) {
    const imageId = `image-${i}`;
    const uploaded = t0 + between(0, window);
    push(
      'ImageUploaded',
      { imageId, url: `s3://uploads/${imageId}.png`, bytes: between(10_000, 5_000_000) },
      uploaded,
    );
    if (pick(0.3)) push('ImageDeleted', { imageId }, uploaded + between(0, 90) * 1000);
  }
  const days = () => t0 + between(1, 3) * DAY + between(0, 23) * HOUR;
  for (let i = 1; i <= Math.ceil(users / 8); i++) {
    const productId = `product-${i}`;
    const at = t0 + between(0, window);
    push('ProductPublishScheduled', { productId, publishAt: new Date(days()).toISOString() }, at);
    if (pick(0.25))
      push(
        'ProductPublishScheduled',
        { productId, publishAt: new Date(days()).toISOString() },
        at + between(1, 10) * MIN,
      );
    else if (pick(0.15)) push('ProductPublishCancelled', { productId }, at + between(1, 10) * MIN);
  }
  for (let i = 1; i <= Math.ceil(users / 10); i++) {
    const discountId = `discount-${i}`;
    const at = t0 + between(0, window);
    push(
      'DiscountApplied',
      {
        productId: `product-${i}`,
        discountId,
        endsAt: new Date(t0 + between(1, 2) * DAY + between(0, 23) * HOUR).toISOString(),
      },
      at,
    );
    if (pick(0.2)) push('DiscountRemoved', { discountId }, at + between(1, 10) * MIN);
  }
  for (let i = 1; i <= Math.ceil(users / 15); i++) {
    const campaignId = `campaign-${i}`;
    const at = t0 + between(0, window);
    push(
      'GroupEmailScheduled',
      { campaignId, groupId: `group-${between(1, 5)}`, sendAt: new Date(days()).toISOString() },
      at,
    );
    if (pick(0.2)) push('GroupEmailCancelled', { campaignId }, at + between(1, 10) * MIN);
  }
  for (let i = 1; i <= 5; i++) {
    push('UserRegistered', { email: `nobody-${i}@example.com` }, t0 + between(0, window)); // no userId: rejected
  }
  return events.sort((a, b) => a.arriveAt - b.arriveAt);
}

/** Per task type figures of the summary. */
export interface TaskTypeSummary {
  readonly scheduled: number;
  readonly cancelled: number;
  readonly completed: number;
  readonly failed: number;
  readonly expired: number;
  readonly lateCancels: number;
  readonly latenessMs: { readonly p50: number; readonly p99: number };
}

/** The demo's summary, as printed with `--json` on the last line. */
export interface DemoSummary {
  readonly events: number;
  readonly tasks: {
    COMPLETED: number;
    CANCELLED: number;
    EXPIRED: number;
    FAILED: number;
    SCHEDULED: number;
  };
  readonly lost: number;
  readonly duplicateRuns: number;
  readonly lateCancels: number;
  readonly latenessMs: { readonly p50: number; readonly p99: number };
}

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!);
}

/** When a task's first attempt started, relative to its due time (virtual ms). */
function lateness(task: TaskItem): number | null {
  return task.startedAt === undefined ? null : Math.max(0, task.startedAt - task.dueAt);
}

/**
 * Checks the invariants on a finished run and sums it up: every task terminal, every
 * domain event applied or rejected with a reason, no task's effect written twice, no effect
 * for a task that did not complete.
 */
export async function summarize(
  cloud: LocalCloud,
): Promise<{ summary: DemoSummary; byType: Record<string, TaskTypeSummary>; problems: string[] }> {
  const [tasks, effects, instances, rejected] = await Promise.all([
    cloud.tasks(),
    cloud.effects(),
    cloud.instances(),
    cloud.rejected(),
  ]);
  const problems: string[] = [];
  const notFinished = tasks.filter((t) => !TERMINAL_STATUSES.has(t.status));
  for (const t of notFinished)
    problems.push(`task ${t.taskId} is still ${t.status} (due ${new Date(t.dueAt).toISOString()})`);
  const domainEvents = cloud.busEvents.filter((e) => e.source !== 'hourglass');
  const applied = new Set(instances.flatMap((i) => i.events.map((e) => e.id)));
  const rejectedIds = new Set(rejected.map((r) => r.eventId));
  const unaccounted = domainEvents.filter((e) => !applied.has(e.id) && !rejectedIds.has(e.id));
  for (const e of unaccounted)
    problems.push(`event ${e.id} (${e['detail-type']}) was neither applied nor rejected`);
  const statusOf = new Map(tasks.map((t) => [t.taskId, t.status]));
  let duplicateRuns = 0;
  for (const effect of effects) {
    duplicateRuns += effect.duplicates;
    if (effect.duplicates > 0)
      problems.push(`task ${effect.taskId} had its effect written ${effect.duplicates + 1} times`);
    if (statusOf.get(effect.taskId) !== 'COMPLETED') {
      duplicateRuns += 1;
      problems.push(`task ${effect.taskId} has an effect but is ${statusOf.get(effect.taskId)}`);
    }
  }
  for (const t of tasks) {
    // Transitions into COMPLETED are caused by an attempt; a late cancel only annotates the timeline.
    const completions = t.timeline.filter(
      (e) => e.status === 'COMPLETED' && e.cause.startsWith('attempt'),
    ).length;
    if (completions > 1) problems.push(`task ${t.taskId} completed ${completions} times`);
  }
  const byType: Record<string, TaskTypeSummary> = {};
  for (const type of definitions.taskTypes) {
    const ofType = tasks.filter((t) => t.taskType === type.name);
    const count = (status: string) => ofType.filter((t) => t.status === status).length;
    const late = ofType.map(lateness).filter((v): v is number => v !== null);
    byType[type.name] = {
      scheduled: ofType.length,
      cancelled: count('CANCELLED'),
      completed: count('COMPLETED'),
      failed: count('FAILED'),
      expired: count('EXPIRED'),
      lateCancels: ofType.reduce((n, t) => n + t.lateCancels.length, 0),
      latenessMs: { p50: percentile(late, 50), p99: percentile(late, 99) },
    };
  }
  const allLate = tasks.map(lateness).filter((v): v is number => v !== null);
  const statusCount = (status: string) => tasks.filter((t) => t.status === status).length;
  return {
    summary: {
      events: domainEvents.length,
      tasks: {
        COMPLETED: statusCount('COMPLETED'),
        CANCELLED: statusCount('CANCELLED'),
        EXPIRED: statusCount('EXPIRED'),
        FAILED: statusCount('FAILED'),
        SCHEDULED: statusCount('SCHEDULED'),
      },
      lost: notFinished.length + unaccounted.length,
      duplicateRuns,
      lateCancels: tasks.reduce((n, t) => n + t.lateCancels.length, 0),
      latenessMs: { p50: percentile(allLate, 50), p99: percentile(allLate, 99) },
    },
    byType,
    problems,
  };
}

/** Options of {@link runDemo}. */
export interface DemoOptions {
  readonly users?: number;
  readonly timeScale?: number;
  readonly seed?: number;
  readonly faults?: Faults;
  /** Where progress lines go. @default stderr */
  readonly progress?: (line: string) => void;
}

/**
 * Starts the local cloud, drives the demo stream through it over the real EventBridge wire
 * protocol, lets every task come due, and returns the summary. Stops the cloud at the end.
 */
export async function runDemo(options: DemoOptions = {}) {
  const progress = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  const timeScale = options.timeScale ?? DEFAULT_TIME_SCALE;
  const t0 = Date.parse('2026-11-02T08:00:00Z');
  const cloud = await startLocalCloud({
    definitions,
    timeScale,
    origin: t0,
    faults: options.faults,
  });
  const started = performance.now();
  try {
    const events = demoStream(t0 + MIN, {
      users: options.users ?? 300,
      random: seededRandom(options.seed ?? 7),
    });
    let sent = 0;
    for (const [arriveAt, batch] of groupByArrival(events)) {
      cloud.at(arriveAt, async () => {
        await cloud.emit(
          batch.map((e) => ({
            source: e.source,
            detailType: e.detailType,
            detail: e.detail,
            time: new Date(e.time),
          })),
        );
        sent += batch.length;
      });
    }
    const lastDue = t0 + 5 * DAY;
    const ticker = setInterval(async () => {
      const tasks = await cloud.tasks().catch(() => []);
      const by = (s: string) => tasks.filter((t) => t.status === s).length;
      progress(
        `[demo] ${((performance.now() - started) / 1000).toFixed(0).padStart(3)}s real | virtual ${new Date(Date.now()).toISOString().slice(0, 16)} | events ${sent}/${events.length} | tasks ${tasks.length}: ${by('COMPLETED')} completed, ${by('CANCELLED')} cancelled, ${by('SCHEDULED')} scheduled, ${by('RUNNING')} running`,
      );
    }, 2_000);
    try {
      await cloud.settle({ until: lastDue, timeoutMs: 170_000 });
    } finally {
      clearInterval(ticker);
    }
    const result = await summarize(cloud);
    return {
      ...result,
      timeScale,
      realSeconds: (performance.now() - started) / 1000,
      skippedVirtualMs: cloud.clock.skippedMs,
      errors: cloud.errors,
    };
  } finally {
    await cloud.stop();
  }
}

function groupByArrival(events: readonly DemoEvent[]): Map<number, DemoEvent[]> {
  const groups = new Map<number, DemoEvent[]>();
  for (const e of events) {
    const key = Math.floor(e.arriveAt / 1000) * 1000;
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  return groups;
}

/** Renders the summary table. */
export function renderSummary(result: Awaited<ReturnType<typeof runDemo>>): string {
  const header = [
    'task type',
    'scheduled',
    'cancelled',
    'completed',
    'failed',
    'expired',
    'late cancels',
    'lateness p50',
    'lateness p99',
  ];
  const rows = Object.entries(result.byType).map(([type, s]) =>
    [
      type,
      s.scheduled,
      s.cancelled,
      s.completed,
      s.failed,
      s.expired,
      s.lateCancels,
      formatMs(s.latenessMs.p50),
      formatMs(s.latenessMs.p99),
    ].map(String),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const s = result.summary;
  return [
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    `events ${s.events} | tasks ${Object.entries(s.tasks)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')} | late cancels ${s.lateCancels}`,
    `timer lateness (virtual time) p50 ${formatMs(s.latenessMs.p50)}, p99 ${formatMs(s.latenessMs.p99)}`,
    `time scale ${result.timeScale}× (a virtual minute per ${(60 / result.timeScale).toFixed(2)} real seconds) with idle gaps skipped: ${(result.skippedVirtualMs / DAY).toFixed(1)} virtual days skipped; ran ${result.realSeconds.toFixed(0)} real seconds`,
    `lost ${s.lost}, ran twice ${s.duplicateRuns}: ${s.lost === 0 && s.duplicateRuns === 0 ? 'OK' : 'FAILED'}`,
    ...result.problems.slice(0, 20).map((p) => `  problem: ${p}`),
  ].join('\n');
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${(ms / 1000).toFixed(1)}s`;
}

async function main(argv: readonly string[]) {
  const json = argv.includes('--json');
  const scaleText = process.env.HOURGLASS_TIME_SCALE;
  const timeScale = scaleText === undefined ? DEFAULT_TIME_SCALE : Number(scaleText);
  if (!(timeScale >= 1)) {
    process.stderr.write(
      `hourglass demo: HOURGLASS_TIME_SCALE must be a number ≥ 1, got "${scaleText}"\n`,
    );
    return 2;
  }
  const usersArg = argv.find((a) => a.startsWith('--users='));
  const users = usersArg ? Number(usersArg.slice('--users='.length)) : 300;
  process.stderr.write(
    `[demo] starting the local cloud (DynamoDB Local, fauxqs, EventBridge and Scheduler emulators) at time scale ${timeScale}×…\n`,
  );
  const result = await runDemo({ users, timeScale });
  process.stdout.write(`${renderSummary(result)}\n`);
  if (json) process.stdout.write(`${JSON.stringify(result.summary)}\n`);
  return result.summary.lost === 0 && result.summary.duplicateRuns === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error) => {
      process.stderr.write(`hourglass demo: ${(error as Error).message}\n`);
      process.exit(1);
    },
  );
}
