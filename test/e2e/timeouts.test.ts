import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import definitions from '../fixtures/shipping/definitions';

/**
 * The total timeout on the local cloud (DynamoDB Local, fauxqs, the real worker
 * middleware): a carrier notification whose every attempt fails is retried on its backoff
 * until the next attempt would start after two minutes, then FAILED saying why.
 */

const SCALE = 60;
let cloud: LocalCloud;
beforeAll(async () => {
  cloud = await startLocalCloud({
    definitions,
    timeScale: SCALE,
    workerEntry: () =>
      fileURLToPath(new URL('../fixtures/shipping/notify-carrier.ts', import.meta.url)),
  });
}, 60_000);
afterAll(async () => {
  await cloud?.stop();
});

describe('a task type with a total timeout, on the local cloud', () => {
  it('stops retrying when the next attempt would start after it, and fails saying why', async () => {
    const t0 = cloud.clock.now();
    await cloud.emit([{ source: 'shop', detailType: 'OrderShipped', detail: { orderId: 'o1' } }]);
    await cloud.settle({ until: t0 + 10 * 60_000 });
    const [task] = (await cloud.tasks()).filter((t) => t.key === 'o1');
    expect(task).toMatchObject({ status: 'FAILED' });
    expect(task!.lastError).toBe(
      'Error: carrier API down; total timeout (ScheduleToClose) of 2m passed, retries included',
    );
    // Attempts 10 s, 20 s and 40 s apart fit in two minutes; the fifth would not. Local
    // lateness can delay an attempt, never make one start after the limit.
    expect(task!.attempt).toBeGreaterThanOrEqual(3);
    expect(task!.attempt).toBeLessThanOrEqual(4);
    const starts = task!.timeline
      .filter((e) => e.status === 'RUNNING')
      .map((e) => Date.parse(e.at) - task!.dueAt);
    expect(starts.every((ms) => ms >= 0 && ms <= 2 * 60_000)).toBe(true);
    expect(task!.finishedAt! - task!.dueAt).toBeLessThanOrEqual(2 * 60_000 + 30_000 * 2);
  });
});
