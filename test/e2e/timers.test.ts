import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { latenessBoundMs } from '../../local/demo-report';
import { TIMER_TASK_TYPE } from '../../shared/core';
import definitions from '../fixtures/checkout/definitions';

/**
 * Timers that need no worker, on the local cloud (DynamoDB Local, fauxqs, the Scheduler
 * emulator): the 45-minute timer rides a one-shot schedule to the ingest queue, arrives
 * early (schedules fire ahead of the due time), waits out the rest in SQS, and ingest
 * fires it in its instance's decision. No worker runs for it; the recovery mail it
 * schedules runs on its own worker.
 */

const SCALE = 120;
const BOUND_MS = latenessBoundMs(SCALE);
let cloud: LocalCloud;
beforeAll(async () => {
  cloud = await startLocalCloud({
    definitions,
    timeScale: SCALE,
    workerEntry: () =>
      fileURLToPath(new URL('../fixtures/checkout/send-recovery-mail.ts', import.meta.url)),
  });
}, 60_000);
afterAll(async () => {
  await cloud?.stop();
});

const MINUTE = 60_000;

/** Polls `condition` until it holds: at most 10 s of real time (the test clock is virtual). */
async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  const giveUpAt = performance.now() + 10_000;
  while (!(await condition())) {
    if (performance.now() > giveUpAt) throw new Error('the condition did not hold within 10 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a timer that needs no worker, on the local cloud', () => {
  it('moves the instance at its due time, never before, and what it schedules runs then', async () => {
    const t0 = cloud.clock.now();
    await cloud.emit([
      { source: 'shop', detailType: 'CheckoutStarted', detail: { userId: 'u1', cartId: 'c1' } },
      { source: 'shop', detailType: 'CheckoutStarted', detail: { userId: 'u2', cartId: 'c2' } },
    ]);
    // The order comes once u2's timer is armed (a row), so that it cancels a real timer.
    await waitFor(async () =>
      (await cloud.tasks()).some((t) => t.key === 'u2' && t.taskType === TIMER_TASK_TYPE),
    );
    await cloud.emit([
      { source: 'shop', detailType: 'OrderPlaced', detail: { userId: 'u2', orderId: 'o2' } },
    ]);
    await cloud.settle({ until: t0 + 60 * MINUTE });

    const tasks = await cloud.tasks();
    const timersOf = (key: string) =>
      tasks
        .filter((t) => t.key === key && t.taskType === TIMER_TASK_TYPE)
        .sort((a, b) => a.dueAt - b.dueAt);

    // u1 never ordered: the timer fired at its due time (45 minutes after the checkout),
    // within the local lateness bound and never early, and the mail ran after it.
    const [fired, nextWeek] = timersOf('u1');
    expect(fired).toMatchObject({ status: 'COMPLETED', attempt: 0 });
    // (The event's time is whole seconds, as EventBridge stamps it.)
    expect(fired!.dueAt - t0).toBeGreaterThanOrEqual(45 * MINUTE - 1_000);
    expect(fired!.dueAt - t0).toBeLessThan(46 * MINUTE);
    expect(fired!.finishedAt! - fired!.dueAt).toBeGreaterThanOrEqual(0);
    expect(fired!.finishedAt! - fired!.dueAt).toBeLessThanOrEqual(BOUND_MS);
    const mail = tasks.find((t) => t.key === 'u1' && t.taskType === 'send-recovery-mail');
    expect(mail).toMatchObject({
      status: 'COMPLETED',
      dueAt: fired!.dueAt,
      result: { sent: true },
    });
    expect(mail!.startedAt! - mail!.dueAt).toBeGreaterThanOrEqual(0);
    expect(mail!.startedAt! - mail!.dueAt).toBeLessThanOrEqual(2 * BOUND_MS);
    // Entering `abandoned` armed the week-long timer, due a week after the move.
    expect(nextWeek).toMatchObject({
      status: 'SCHEDULED',
      dueAt: fired!.dueAt + 7 * 24 * 60 * MINUTE,
    });

    // One schedule fired for it (into the ingest queue), and no worker but the mail's ran.
    const usage = cloud.usage();
    expect(usage.scheduleInvocations).toBeGreaterThanOrEqual(1);
    expect(Object.keys(usage.functions).filter((f) => f.startsWith('worker-'))).toEqual([
      'worker-send-recovery-mail',
    ]);

    // u2 ordered first: the timer was cancelled, and nothing else was scheduled.
    expect(timersOf('u2').map((t) => t.status)).toEqual(['CANCELLED']);
    expect(tasks.filter((t) => t.key === 'u2' && t.taskType !== TIMER_TASK_TYPE)).toEqual([]);

    const states = Object.fromEntries((await cloud.instances()).map((i) => [i.key, i.state]));
    expect(states).toEqual({ u1: 'abandoned', u2: 'ordered' });
  });
});
