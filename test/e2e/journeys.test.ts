import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { latenessBoundMs } from '../../local/demo';
import definitions from '../../workflows';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const SCALE = 60;
/** Tasks that fail on purpose in scenario 7b: their first two attempts. */
const failing = new Set<string>();

let cloud: LocalCloud;
beforeAll(async () => {
  cloud = await startLocalCloud({
    definitions,
    timeScale: SCALE,
    origin: Date.parse('2026-11-02T08:00:00Z'),
    faults: { failAttempt: (taskId, attempt) => failing.has(taskId) && attempt <= 2 },
    onError: (where, error) =>
      console.log('ONERROR', where, (error as Error).name, (error as Error).message),
  });
}, 60_000);
afterAll(async () => {
  await cloud?.stop();
});

/** A fresh t0 for a scenario: the next whole minute, a minute ahead of the virtual clock. */
const nextT0 = () => Math.ceil((Date.now() + MIN) / MIN) * MIN;
const iso = (ms: number) => new Date(ms).toISOString();
let ids = 0;

/** An EventBridge event as the bus rule would deliver it, with a stable id. */
function event(
  detailType: string,
  detail: Record<string, unknown>,
  time: number,
  id = `e2e-${++ids}`,
) {
  return {
    version: '0',
    id,
    source: 'shop',
    'detail-type': detailType,
    account: '000000000000',
    time: iso(time),
    region: 'us-east-1',
    resources: [],
    detail,
  };
}

/** Delivers an event when the virtual clock reaches `arrival` (default: its own time). */
function arrive(e: ReturnType<typeof event>, arrival = Date.parse(e.time)) {
  cloud.at(arrival, () => cloud.deliverRaw([e]));
}

const effectsOf = async (taskId: string) =>
  (await cloud.effects()).filter((e) => e.taskId === taskId);
const taskOf = async (taskId: string) => (await cloud.tasks()).find((t) => t.taskId === taskId);
const stateOf = async (workflow: string, key: string) =>
  (await cloud.instances()).find((i) => i.workflow === workflow && i.key === key)?.state;
const code = (user: string) => `welcome-discount#${user}#send-discount-code#1`;

/**
 * How late a task may start after its due time here, in virtual time: the design's half
 * second at most (SQS delays are whole seconds, rounded to the nearest) plus the local
 * cloud's own latency, a few real seconds at most, multiplied by the time scale.
 */
const TOLERANCE_MS = latenessBoundMs(SCALE);

/** Asserts that a task started at its due time, within {@link TOLERANCE_MS}, never before. */
function expectStartedOnTime(
  task: { startedAt?: number; dueAt: number } | undefined,
  dueAt: number,
) {
  expect(task?.dueAt).toBe(dueAt);
  expect(task?.startedAt).toBeGreaterThanOrEqual(dueAt);
  expect(task!.startedAt! - dueAt).toBeLessThanOrEqual(TOLERANCE_MS);
}

describe('the ten journey scenarios on the local cloud', () => {
  it('1: sends the discount code once for u1, 30 minutes after registration', async () => {
    const t0 = nextT0();
    arrive(event('UserRegistered', { userId: 'u1', email: 'u1@x.io' }, t0));
    await cloud.settle({ until: t0 + 40 * MIN });

    expect(await effectsOf(code('u1'))).toEqual([
      expect.objectContaining({ attempt: 1, duplicates: 0 }),
    ]);
    const task = await taskOf(code('u1'));
    expect(task?.status).toBe('COMPLETED');
    expectStartedOnTime(task, t0 + 30 * MIN);
  });

  it('2: sends nothing to u2, who ordered after 10 minutes; the task is CANCELLED and u2 converted', async () => {
    const t0 = nextT0();
    arrive(event('UserRegistered', { userId: 'u2', email: 'u2@x.io' }, t0));
    arrive(event('OrderPlaced', { userId: 'u2', orderId: 'o2', total: 10 }, t0 + 10 * MIN));
    await cloud.settle({ until: t0 + 40 * MIN });

    expect(await effectsOf(code('u2'))).toEqual([]);
    expect((await taskOf(code('u2')))?.status).toBe('CANCELLED');
    expect(await stateOf('welcome-discount', 'u2')).toBe('converted');
  });

  it('3: sends nothing when OrderPlaced(t0+5m) arrives before UserRegistered(t0)', async () => {
    const t0 = nextT0();
    arrive(event('OrderPlaced', { userId: 'u3', orderId: 'o3', total: 10 }, t0 + 5 * MIN));
    arrive(event('UserRegistered', { userId: 'u3', email: 'u3@x.io' }, t0), t0 + 6 * MIN);
    await cloud.settle({ until: t0 + 40 * MIN });

    expect(await effectsOf(code('u3'))).toEqual([]);
    expect(await stateOf('welcome-discount', 'u3')).toBe('converted');
  });

  it('4: makes one task and one send when UserRegistered(u4) is delivered three times', async () => {
    const t0 = nextT0();
    const once = event('UserRegistered', { userId: 'u4', email: 'u4@x.io' }, t0, 'u4-registered');
    arrive(once, t0);
    arrive(once, t0 + MIN);
    arrive(once, t0 + 2 * MIN);
    await cloud.settle({ until: t0 + 40 * MIN });

    expect(
      (await cloud.tasks()).filter((t) => t.key === 'u4' && t.taskType === 'send-discount-code'),
    ).toHaveLength(1);
    expect(await effectsOf(code('u4'))).toEqual([expect.objectContaining({ duplicates: 0 })]);
    expectStartedOnTime(await taskOf(code('u4')), t0 + 30 * MIN);
  });

  it('5: sends one cart reminder at t0+32m listing c1, c2 and c3', async () => {
    const t0 = nextT0();
    for (const [cart, offset] of [
      ['c1', 0],
      ['c2', 5],
      ['c3', 12],
    ] as const) {
      arrive(event('CheckoutStarted', { userId: 'u5', cartId: cart }, t0 + offset * MIN));
    }
    await cloud.settle({ until: t0 + 40 * MIN });

    const reminders = (await cloud.tasks()).filter(
      (t) => t.key === 'u5' && t.taskType === 'send-cart-reminder',
    );
    expect(reminders).toEqual([
      expect.objectContaining({
        status: 'COMPLETED',
        dueAt: t0 + 32 * MIN,
        input: { cartIds: ['c1', 'c2', 'c3'] },
      }),
    ]);
    expect(await effectsOf(reminders[0]!.taskId)).toHaveLength(1);
    expectStartedOnTime(reminders[0], t0 + 32 * MIN);
  });

  it('6: sends no reminder when c1, c2 and c3 are all paid before t0+32m', async () => {
    const t0 = nextT0();
    for (const [cart, offset] of [
      ['c1', 0],
      ['c2', 5],
      ['c3', 12],
    ] as const) {
      arrive(event('CheckoutStarted', { userId: 'u6', cartId: cart }, t0 + offset * MIN));
    }
    for (const [cart, offset] of [
      ['c1', 20],
      ['c2', 25],
      ['c3', 30],
    ] as const) {
      arrive(event('PaymentSucceeded', { userId: 'u6', cartId: cart }, t0 + offset * MIN));
    }
    await cloud.settle({ until: t0 + 40 * MIN });

    const reminders = (await cloud.tasks()).filter(
      (t) => t.key === 'u6' && t.taskType === 'send-cart-reminder',
    );
    expect(reminders.map((t) => t.status)).toEqual(['CANCELLED']);
    expect(await effectsOf(reminders[0]!.taskId)).toEqual([]);
  });

  it('7a: cancels compress-image when the image is deleted before it runs', async () => {
    const t0 = nextT0();
    cloud.down('compress-image', t0, t0 + 5 * MIN); // the compression workers are busy elsewhere
    arrive(event('ImageUploaded', { imageId: 'i1', url: 's3://b/i1', bytes: 100 }, t0));
    arrive(event('ImageDeleted', { imageId: 'i1' }, t0 + MIN));
    await cloud.settle({ until: t0 + 10 * MIN });

    const task = (await cloud.tasks()).find((t) => t.key === 'i1');
    expect(task?.status).toBe('CANCELLED');
    expect(await effectsOf(task!.taskId)).toEqual([]);
  });

  it('7b: compresses an image on attempt 3 when its worker fails twice', async () => {
    const t0 = nextT0();
    failing.add('image-compression#i2#compress-image#1');
    arrive(event('ImageUploaded', { imageId: 'i2', url: 's3://b/i2', bytes: 100 }, t0));
    await cloud.settle({ until: t0 + 10 * MIN });

    const task = await taskOf('image-compression#i2#compress-image#1');
    expect(task).toMatchObject({ status: 'COMPLETED', attempt: 3 });
    expectStartedOnTime(task, t0); // due at once; the retries come after the first start
    expect(await effectsOf(task!.taskId)).toEqual([
      expect.objectContaining({ attempt: 3, duplicates: 0 }),
    ]);
  });

  it('8: publishes once, at +3 days, when a second schedule replaces the first', async () => {
    const t0 = nextT0();
    arrive(event('ProductPublishScheduled', { productId: 'p1', publishAt: iso(t0 + 2 * DAY) }, t0));
    arrive(
      event('ProductPublishScheduled', { productId: 'p1', publishAt: iso(t0 + 3 * DAY) }, t0 + MIN),
    );
    await cloud.settle({ until: t0 + 3 * DAY + 10 * MIN });

    const tasks = (await cloud.tasks()).filter((t) => t.key === 'p1');
    expect(tasks).toEqual([expect.objectContaining({ status: 'COMPLETED' })]);
    expectStartedOnTime(tasks[0], t0 + 3 * DAY);
    expect(await effectsOf(tasks[0]!.taskId)).toHaveLength(1);
  });

  it('9: sends the group email at +3 days, through the scheduler', async () => {
    const t0 = nextT0();
    const firedBefore = cloud.schedules.delivered;
    arrive(
      event(
        'GroupEmailScheduled',
        { campaignId: 'cmp9', groupId: 'g', sendAt: iso(t0 + 3 * DAY) },
        t0,
      ),
    );
    await cloud.settle({ until: t0 + 3 * DAY + 10 * MIN });

    const task = (await cloud.tasks()).find((t) => t.key === 'cmp9')!;
    expect(task.status).toBe('COMPLETED');
    expectStartedOnTime(task, t0 + 3 * DAY);
    expect(cloud.schedules.delivered).toBeGreaterThan(firedBefore);
    expect(await effectsOf(task.taskId)).toHaveLength(1);
  });

  it('10: expires send-discount-code, never sent, when its workers are down past the deadline', async () => {
    const t0 = nextT0();
    cloud.down('send-discount-code', t0, t0 + 3 * HOUR);
    arrive(event('UserRegistered', { userId: 'u10', email: 'u10@x.io' }, t0));
    await cloud.settle({ until: t0 + 4 * HOUR });

    const task = await taskOf(code('u10'));
    expect(task?.status).toBe('EXPIRED');
    // Expired once the workers were back, after its deadline (due + 2 h), never before it.
    expect(task!.finishedAt!).toBeGreaterThan(task!.deadlineAt!);
    expect(task!.finishedAt! - (t0 + 3 * HOUR)).toBeLessThanOrEqual(TOLERANCE_MS);
    expect(await effectsOf(code('u10'))).toEqual([]);
  });

  it('reported no errors from the handlers or pollers', () => {
    expect(cloud.errors).toEqual({});
  });
});
