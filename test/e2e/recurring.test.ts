import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { latenessBoundMs } from '../../local/demo-report';
import { TIMER_TASK_TYPE } from '../../shared/core';
import definitions from '../fixtures/digest/definitions';

/**
 * A recurring task on the local cloud: a digest every quarter of an hour of the user's
 * local time. Each occurrence is a task row of its own that a worker runs at its due time;
 * the timer that plans the next one needs no worker (ingest fires it); an unsubscribe
 * cancels the pending occurrence and stops the chain.
 */

const SCALE = 240;
const MINUTE = 60_000;
let cloud: LocalCloud;
beforeAll(async () => {
  cloud = await startLocalCloud({
    definitions,
    timeScale: SCALE,
    workerEntry: () => fileURLToPath(new URL('../fixtures/digest/send-digest.ts', import.meta.url)),
  });
}, 60_000);
afterAll(async () => {
  await cloud?.stop();
});

describe('a recurring task, on the local cloud', () => {
  it('runs each occurrence at its quarter hour until the unsubscribe, then stops', async () => {
    const t0 = cloud.clock.now();
    await cloud.emit([
      {
        source: 'mail',
        detailType: 'Subscribed',
        detail: { userId: 'u1', timeZone: 'Asia/Kolkata' },
      },
    ]);
    const stopAt = t0 + 50 * MINUTE;
    cloud.at(stopAt, () =>
      cloud.emit([{ source: 'mail', detailType: 'Unsubscribed', detail: { userId: 'u1' } }]),
    );
    await cloud.settle({ until: t0 + 70 * MINUTE });

    const tasks = await cloud.tasks();
    const digests = tasks
      .filter((t) => t.taskType === 'send-digest')
      .sort((a, b) => a.dueAt - b.dueAt);
    const ran = digests.filter((t) => t.status === 'COMPLETED');
    // Three or four quarter hours fall in the 50 minutes, depending on where t0 falls.
    expect(ran.length).toBeGreaterThanOrEqual(3);
    for (const [i, task] of ran.entries()) {
      expect(task.dueAt % (15 * MINUTE)).toBe(0);
      if (i > 0) expect(task.dueAt - ran[i - 1]!.dueAt).toBe(15 * MINUTE);
      expect(task.startedAt! - task.dueAt).toBeGreaterThanOrEqual(0);
      expect(task.startedAt! - task.dueAt).toBeLessThanOrEqual(latenessBoundMs(SCALE));
      expect(task.dueAt).toBeLessThan(stopAt);
    }
    // The occurrence due after the unsubscribe was cancelled; nothing was planned past it.
    const after = digests.filter((t) => t.dueAt > stopAt);
    expect(after.map((t) => t.status)).toEqual(['CANCELLED']);
    const chain = tasks.filter((t) => t.taskType === TIMER_TASK_TYPE);
    expect(chain.filter((t) => t.status === 'SCHEDULED')).toEqual([]);
    expect(chain.filter((t) => t.status === 'COMPLETED').length).toBe(ran.length);
  });
});
