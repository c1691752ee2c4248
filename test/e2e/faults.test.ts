import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { demoStream, latenessBoundMs, RULES, seededRandom, summarize } from '../../local/demo';
import definitions from '../../workflows';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const T0 = Date.parse('2026-11-02T08:00:00Z');
const SCALE = 60;
const iso = (ms: number) => new Date(ms).toISOString();
/** The injected Scheduler lateness: schedules fire this much after their minute. */
const SCHEDULER_LATE_MS = 90_000;

/**
 * How late a task that no fault touched may still start: the healthy bound, plus one
 * timeout of its type (a hung attempt of another task holds its batch and one of the
 * type's concurrency slots that long, because a batch's records run one after another),
 * plus the injected Scheduler lateness when its timer came through a schedule.
 */
function lateAllowance(taskType: string, bySchedule: boolean): number {
  const type = definitions.taskTypes.find((t) => t.name === taskType)!;
  return latenessBoundMs(SCALE) + type.timeoutMs + (bySchedule ? SCHEDULER_LATE_MS : 0);
}
const random = seededRandom(20261122);

let cloud: LocalCloud;
let result: Awaited<ReturnType<typeof summarize>>;
const sentIds = new Set<string>();
/** When each event first reached the ingest queue (virtual ms), by event id. */
const firstArrival = new Map<string, number>();
const malformed: string[] = [];

beforeAll(async () => {
  cloud = await startLocalCloud({
    definitions,
    timeScale: SCALE,
    origin: T0,
    faults: {
      random,
      seed: 20261122,
      workerErrorRate: 0.15,
      workerTimeoutRate: 0.03,
      crashAfterClaimRate: 0.04,
      duplicateMessageRate: 0.1,
      duplicateStreamBatchRate: 0.1,
      relayFailureRate: 0.05,
      schedulerLateByMs: SCHEDULER_LATE_MS,
    },
  });
  // Spread over two hours, so that a 2-core machine with another CPU-heavy process beside
  // it keeps up with the stream at 60× (see demoStream).
  const stream = demoStream(T0 + MIN, { users: 420, random, windowMs: 120 * MIN });
  const deliveries: { at: number; event: unknown }[] = [];
  stream.forEach((e, i) => {
    const event = {
      version: '0',
      id: `fault-${i}`,
      source: e.source,
      'detail-type': e.detailType,
      account: '000000000000',
      time: new Date(e.time).toISOString(),
      region: 'us-east-1',
      resources: [],
      detail: e.detail,
    };
    sentIds.add(event.id);
    // Reordered: each event arrives up to 3 minutes late; duplicated: 10% arrive twice.
    deliveries.push({ at: e.arriveAt + Math.round(random() * 3 * MIN), event });
    if (random() < 0.1) deliveries.push({ at: e.arriveAt + Math.round(random() * 5 * MIN), event });
  });
  for (let i = 0; i < 10; i++) {
    const id = `malformed-${i}`;
    malformed.push(id);
    const event =
      i % 2 === 0
        ? {
            id,
            source: 'shop',
            'detail-type': 'OrderPlaced',
            time: new Date(T0 + 2 * MIN).toISOString(),
            detail: { userId: 'user-1', orderId: 'o', total: 'lots' },
          }
        : {
            id,
            source: 'shop',
            'detail-type': 'ProductPublishScheduled',
            time: 'yesterday',
            detail: { productId: 'p', publishAt: 'soon' },
          };
    deliveries.push({ at: T0 + 2 * MIN + i * 1_000, event });
  }
  for (const d of deliveries) {
    const id = (d.event as { id: string }).id;
    firstArrival.set(id, Math.min(firstArrival.get(id) ?? Number.POSITIVE_INFINITY, d.at));
    cloud.at(d.at, () => cloud.deliverRaw([d.event]));
  }
  await cloud.settle({ until: T0 + 5 * DAY, timeoutMs: 420_000 });
  result = await summarize(cloud, {
    // Lateness is judged per task below, from when each event arrived: this test delivers
    // events minutes late on purpose, which a due-time bound cannot know.
    latenessBoundMs: Number.POSITIVE_INFINITY,
    explained: (task) => cloud.injectedFaults.has(task.taskId),
  });
}, 480_000);

afterAll(async () => {
  await cloud?.stop();
});

describe('the local cloud under faults (1,000+ tasks)', () => {
  it('handled more than a thousand tasks', () => {
    const total = Object.values(result.summary.tasks).reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(1_000);
  });

  // Which tasks exist depends on which cancels came in time (a code that ran chains a
  // reminder). The faults that change outcomes are chosen per task and attempt from the
  // seed, and events arrive on the virtual clock, so the only way the machine's speed could
  // change the tasks is an event that arrived before a task started yet was applied after
  // it: a late cancel that a fast machine would have made in time. There must be none
  // beyond the lateness bound.
  it('let no cancel be decided by the speed of the machine, so the same seed makes the same tasks', async () => {
    const bound = latenessBoundMs(SCALE);
    const decidedBySpeed = (await cloud.tasks()).flatMap((task) =>
      task.lateCancels
        .filter(
          (id) => (firstArrival.get(id) ?? Number.POSITIVE_INFINITY) < task.startedAt! - bound,
        )
        .map(
          (id) =>
            `${id} arrived ${iso(firstArrival.get(id)!)}, before ${task.taskId} started at ${iso(task.startedAt!)}`,
        ),
    );
    expect(decidedBySpeed).toEqual([]);
  });

  it('lost nothing: every task reached a terminal state and every event was applied or rejected', async () => {
    expect(result.problems).toEqual([]);
    expect(result.summary.lost).toBe(0);
    expect(result.summary.tasks.SCHEDULED).toBe(0);
    const instances = await cloud.instances();
    const applied = new Set(instances.flatMap((i) => i.events.map((e) => e.id)));
    const rejected = new Set((await cloud.rejected()).map((r) => r.eventId));
    const unaccounted = [...sentIds].filter((id) => !applied.has(id) && !rejected.has(id));
    expect(unaccounted).toEqual([]);
  });

  it('completed nothing twice, despite duplicated messages, stream records and crashes', async () => {
    expect(result.summary.duplicateRuns).toBe(0);
    const effects = await cloud.effects();
    expect(effects.every((e) => e.duplicates === 0)).toBe(true);
    expect(effects.length).toBe(result.summary.tasks.COMPLETED);
  });

  it('ran nothing after a cancel that was written before its claim', async () => {
    const tasks = await cloud.tasks();
    const withEffect = new Set((await cloud.effects()).map((e) => e.taskId));
    for (const task of tasks.filter((t) => t.status === 'CANCELLED')) {
      expect(withEffect.has(task.taskId)).toBe(false);
      expect(task.timeline.some((e) => e.status === 'RUNNING')).toBe(false);
    }
  });

  it('recovered from the injected faults: retries, re-claims after crashes, and expiries or failures only where attempts ran out', async () => {
    const tasks = await cloud.tasks();
    expect(tasks.some((t) => t.timeline.some((e) => e.cause.includes('re-claimed')))).toBe(true);
    expect(tasks.some((t) => t.status === 'COMPLETED' && t.attempt > 1)).toBe(true);
    for (const t of tasks.filter((t) => t.status === 'FAILED')) {
      const maxAttempts = definitions.taskTypes.find((type) => type.name === t.taskType)!.retry
        .maxAttempts;
      expect(t.attempt).toBeGreaterThanOrEqual(maxAttempts);
    }
  });

  it('expired only tasks whose attempts an injected fault hit', async () => {
    const expired = (await cloud.tasks()).filter((t) => t.status === 'EXPIRED');
    for (const task of expired) expect(cloud.injectedFaults.get(task.taskId)).toBeDefined();
    expect(result.summary.verdict.failed).not.toContain(RULES.expired);
  });

  it('started every task no fault touched within the lateness bound of its due time', async () => {
    const untouched = (await cloud.tasks()).filter(
      (t) => t.startedAt !== undefined && !cloud.injectedFaults.has(t.taskId),
    );
    expect(untouched.length).toBeGreaterThan(500);
    // This test delivers events up to minutes late on purpose: a task cannot start before
    // the event that made it arrived, so lateness counts from the later of the two.
    const lateness = (t: (typeof untouched)[number]) =>
      t.startedAt! - Math.max(t.dueAt, firstArrival.get(t.createdBy) ?? t.dueAt);
    const late = untouched.filter(
      (t) => lateness(t) > lateAllowance(t.taskType, cloud.firedBySchedule.has(t.taskId)),
    );
    expect(late.map((t) => `${t.taskId}: ${lateness(t)} ms late`)).toEqual([]);
  });

  it('scheduled every discount reminder that J1 chains from a sent code', () => {
    expect(result.summary.verdict.failed).not.toContain(RULES.chained);
  });

  it('recorded every malformed event with a reason that names the field', async () => {
    const rejected = await cloud.rejected();
    for (const id of malformed) {
      const row = rejected.find((r) => r.eventId === id);
      expect(row?.reason).toMatch(/detail\.total|time must be/);
    }
  });
});
