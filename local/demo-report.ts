import { LIFECYCLE_SOURCE } from '../shared/aws/messages';
import type { TaskItem } from '../shared/aws/table';
import { TERMINAL_STATUSES } from '../shared/core/definitions';
import definitions from '../workflows';
import type { LocalCloud } from './cloud';
import type { BusEvent } from './emulators/eventbridge';

/**
 * The demo's report: what it measures on a finished run (lateness by task type and timer
 * path) and the rules its verdict checks, each named with the tasks that broke it.
 */

/** An ISO-8601 UTC time. */
export const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The domain events a run sent, once each: those the bus accepted and those delivered
 * straight to the ingest queue. Lifecycle events (source "hourglass") are Hourglass's own.
 */
export function sentEvents(cloud: LocalCloud): BusEvent[] {
  const byId = new Map<string, BusEvent>();
  const candidates = [...cloud.busEvents, ...(cloud.delivered as BusEvent[])];
  for (const e of candidates) {
    if (typeof e !== 'object' || e === null || typeof e.id !== 'string') continue;
    if (e.source !== LIFECYCLE_SOURCE && !byId.has(e.id)) byId.set(e.id, e);
  }
  return [...byId.values()];
}

export function formatMs(ms: number): string {
  if (ms < 1_000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60)
    return `${minutes}m${String(Math.round((ms % 60_000) / 1_000)).padStart(2, '0')}s`;
  return `${(ms / 3_600_000).toFixed(1)}h`;
}

/** Start lateness of the tasks that started (virtual ms after their due time). */
export interface Lateness {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** Per task type figures of the summary. */
export interface TaskTypeSummary {
  readonly scheduled: number;
  readonly cancelled: number;
  readonly completed: number;
  readonly failed: number;
  readonly expired: number;
  readonly lateCancels: number;
  readonly latenessMs: Lateness;
}

/** How a task's timer reached its worker: an SQS delay, or an EventBridge Scheduler schedule. */
export type TimerPath = 'sqs' | 'schedule';

/** The rules a run is judged by, named as `verdict.failed` lists them. */
export const RULES = {
  lost: 'nothing lost',
  ranTwice: 'nothing ran twice',
  expired: 'nothing expired unexplained',
  chained: 'every discount reminder scheduled',
  lateness: 'timer lateness p99 within bound',
  latest: 'no task started more than 10× the bound late',
} as const;

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
  /** Over every task that started, with the bound its p99 is held to (virtual ms). */
  readonly latenessMs: Lateness & { readonly bound: number };
  readonly byType: Record<string, TaskTypeSummary>;
  readonly byPath: Record<TimerPath, Lateness & { readonly tasks: number }>;
  readonly verdict: { readonly ok: boolean; readonly failed: string[] };
}

/** Options of {@link summarize}. */
export interface SummaryOptions {
  /** The p99 start lateness a healthy run stays within (virtual ms). */
  readonly latenessBoundMs: number;
  /**
   * Tasks whose expiry or lateness an injected fault explains; they are left out of the
   * expiry and lateness rules. @default none
   */
  readonly explained?: (task: TaskItem) => boolean;
}

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!);
}

function latenessOf(values: readonly number[]): Lateness {
  return {
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max: values.length === 0 ? 0 : Math.max(...values),
  };
}

/** When a task's first attempt started, relative to its due time (virtual ms); null if it never started. */
export function startLateness(task: TaskItem): number | null {
  return task.startedAt === undefined ? null : Math.max(0, task.startedAt - task.dueAt);
}

/**
 * The p99 start lateness a run at `timeScale` is held to, in virtual ms. By design a timer
 * starts at most half a second late (SQS delays are whole seconds, rounded to the nearest;
 * see docs/timers.md), and 1 s covers that with room;
 * everything else is the local cloud's own latency in real time (polls, DynamoDB Local,
 * the stream), which the compressed clock multiplies by the scale. 3 s of real latency at
 * p99 leaves room for a loaded laptop and is still far below any outage or clock fault.
 */
export function latenessBoundMs(timeScale: number): number {
  return 1_000 + 3_000 * timeScale;
}

/**
 * J1's chain: every completed send-discount-code of a user who had not bought by then
 * must have scheduled that user's discount-reminder. Returns the users missing one.
 */
function missingReminders(tasks: readonly TaskItem[], orders: ReadonlyMap<string, number>) {
  const reminded = new Set(
    tasks.filter((t) => t.taskType === 'discount-reminder').map((t) => t.key),
  );
  return tasks
    .filter((t) => t.taskType === 'send-discount-code' && t.status === 'COMPLETED')
    .filter((t) => !((orders.get(t.key) ?? Number.POSITIVE_INFINITY) <= t.finishedAt!))
    .filter((t) => !reminded.has(t.key))
    .map((t) => t.key);
}

/** Reports a broken rule and the task or event that broke it. */
type Broken = (rule: string, problem: string) => void;

/**
 * Checks the invariants on a finished run and sums it up: every task terminal, every
 * domain event applied or rejected with a reason, no task's effect written twice, no effect
 * for a task that did not complete, no expiry and no lateness beyond the bound that a fault
 * does not explain, and J1's reminders chained. `verdict.failed` names the rules broken;
 * `problems` says which task or event broke them.
 */
export async function summarize(
  cloud: LocalCloud,
  options: SummaryOptions,
): Promise<{ summary: DemoSummary; problems: string[] }> {
  const [tasks, effects, instances, rejected] = await Promise.all([
    cloud.tasks(),
    cloud.effects(),
    cloud.instances(),
    cloud.rejected(),
  ]);
  const explained = options.explained ?? (() => false);
  const problems: string[] = [];
  const failed = new Set<string>();
  const broken: Broken = (rule, problem) => {
    failed.add(rule);
    problems.push(problem);
  };

  const domainEvents = sentEvents(cloud);
  const lost = checkNothingLost(tasks, domainEvents, instances, rejected, broken);
  const duplicateRuns = checkRanOnce(tasks, effects, broken);
  for (const t of tasks.filter((t) => t.status === 'EXPIRED' && !explained(t)))
    broken(
      RULES.expired,
      `task ${t.taskId} EXPIRED (due ${iso(t.dueAt)}, deadline ${t.deadlineAt === null ? 'none' : iso(t.deadlineAt)}) and no injected fault explains it`,
    );
  checkRemindersChained(tasks, domainEvents, broken);
  const started = tasks.filter((t) => startLateness(t) !== null);
  checkOnTime(
    started.filter((t) => !explained(t)),
    options.latenessBoundMs,
    broken,
  );

  const statusCount = (status: string) => tasks.filter((t) => t.status === status).length;
  const failedRules = Object.values(RULES).filter((rule) => failed.has(rule));
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
      lost,
      duplicateRuns,
      lateCancels: tasks.reduce((n, t) => n + t.lateCancels.length, 0),
      latenessMs: {
        ...latenessOf(started.map((t) => startLateness(t)!)),
        bound: options.latenessBoundMs,
      },
      byType: summaryByType(tasks),
      byPath: summaryByPath(started, (t) =>
        cloud.firedBySchedule.has(t.taskId) ? 'schedule' : 'sqs',
      ),
      verdict: { ok: failedRules.length === 0, failed: failedRules },
    },
    problems,
  };
}

/** Every task reached a final status, and every domain event was applied or rejected. Returns how many were not. */
function checkNothingLost(
  tasks: readonly TaskItem[],
  domainEvents: readonly BusEvent[],
  instances: readonly { events: readonly { id: string }[] }[],
  rejected: readonly { eventId: string }[],
  broken: Broken,
): number {
  const notFinished = tasks.filter((t) => !TERMINAL_STATUSES.has(t.status));
  for (const t of notFinished)
    broken(RULES.lost, `task ${t.taskId} is still ${t.status} (due ${iso(t.dueAt)})`);
  const applied = new Set(instances.flatMap((i) => i.events.map((e) => e.id)));
  const rejectedIds = new Set(rejected.map((r) => r.eventId));
  const unaccounted = domainEvents.filter((e) => !applied.has(e.id) && !rejectedIds.has(e.id));
  for (const e of unaccounted)
    broken(RULES.lost, `event ${e.id} (${e['detail-type']}) was neither applied nor rejected`);
  return notFinished.length + unaccounted.length;
}

/** No effect written twice, none for a task that did not complete, no task completed twice. Returns the extra runs. */
function checkRanOnce(
  tasks: readonly TaskItem[],
  effects: readonly { taskId: string; duplicates: number }[],
  broken: Broken,
): number {
  const statusOf = new Map(tasks.map((t) => [t.taskId, t.status]));
  let duplicateRuns = 0;
  for (const effect of effects) {
    duplicateRuns += effect.duplicates;
    if (effect.duplicates > 0)
      broken(
        RULES.ranTwice,
        `task ${effect.taskId} had its effect written ${effect.duplicates + 1} times`,
      );
    if (statusOf.get(effect.taskId) !== 'COMPLETED') {
      duplicateRuns += 1;
      broken(
        RULES.ranTwice,
        `task ${effect.taskId} has an effect but is ${statusOf.get(effect.taskId)}`,
      );
    }
  }
  for (const t of tasks) {
    // Transitions into COMPLETED are caused by an attempt; a late cancel only annotates the timeline.
    const completions = t.timeline.filter(
      (e) => e.status === 'COMPLETED' && e.cause.startsWith('attempt'),
    ).length;
    if (completions > 1) broken(RULES.ranTwice, `task ${t.taskId} completed ${completions} times`);
  }
  return duplicateRuns;
}

/** J1: a user who got a discount code and did not buy has a reminder. */
function checkRemindersChained(
  tasks: readonly TaskItem[],
  domainEvents: readonly BusEvent[],
  broken: Broken,
): void {
  const orders = new Map<string, number>();
  for (const e of domainEvents) {
    const userId = (e.detail as { userId?: unknown } | undefined)?.userId;
    if (e['detail-type'] !== 'OrderPlaced' || typeof userId !== 'string') continue;
    orders.set(
      userId,
      Math.min(orders.get(userId) ?? Number.POSITIVE_INFINITY, Date.parse(e.time)),
    );
  }
  for (const user of missingReminders(tasks, orders))
    broken(
      RULES.chained,
      `user ${user} got a discount code, did not buy, and has no discount-reminder`,
    );
}

/** The p99 start lateness of tasks no fault explains is within the bound, and no task is ten times past it. */
function checkOnTime(judged: readonly TaskItem[], boundMs: number, broken: Broken): void {
  const p99 = percentile(
    judged.map((t) => startLateness(t)!),
    99,
  );
  if (p99 > boundMs) {
    const worst = [...judged].sort((a, b) => startLateness(b)! - startLateness(a)!).slice(0, 5);
    broken(
      RULES.lateness,
      `timer lateness p99 ${formatMs(p99)} is over the bound of ${formatMs(boundMs)}; latest: ${worst
        .map((t) => `${t.taskId} started ${formatMs(startLateness(t)!)} after ${iso(t.dueAt)}`)
        .join('; ')}`,
    );
  }
  for (const t of judged) {
    if (startLateness(t)! > 10 * boundMs)
      broken(
        RULES.latest,
        `task ${t.taskId} started ${formatMs(startLateness(t)!)} after it was due (${iso(t.dueAt)})`,
      );
  }
}

/** Counts and lateness per task type. */
function summaryByType(tasks: readonly TaskItem[]): Record<string, TaskTypeSummary> {
  const byType: Record<string, TaskTypeSummary> = {};
  for (const type of definitions.taskTypes) {
    const ofType = tasks.filter((t) => t.taskType === type.name);
    const count = (status: string) => ofType.filter((t) => t.status === status).length;
    byType[type.name] = {
      scheduled: ofType.length,
      cancelled: count('CANCELLED'),
      completed: count('COMPLETED'),
      failed: count('FAILED'),
      expired: count('EXPIRED'),
      lateCancels: ofType.reduce((n, t) => n + t.lateCancels.length, 0),
      latenessMs: latenessOf(ofType.map(startLateness).filter((v): v is number => v !== null)),
    };
  }
  return byType;
}

/** Lateness by the path a timer took: an SQS delay or a Scheduler schedule. */
function summaryByPath(
  started: readonly TaskItem[],
  pathOf: (t: TaskItem) => TimerPath,
): DemoSummary['byPath'] {
  return Object.fromEntries(
    (['sqs', 'schedule'] as const).map((path) => {
      const onPath = started.filter((t) => pathOf(t) === path);
      return [path, { tasks: onPath.length, ...latenessOf(onPath.map((t) => startLateness(t)!)) }];
    }),
  ) as DemoSummary['byPath'];
}
