import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { latenessBoundMs } from '../../local/demo-report';
import definitions from '../fixtures/marketing/definitions';

/**
 * Journey controls on the local cloud: two promotions for one user at 07:00 Paris time,
 * inside the quiet hours (21:00–08:00), both move to 08:00; the cap (one per two hours)
 * then lets the first run and defers the second to 10:00, through the real worker, its
 * cap row in DynamoDB Local and a new timer.
 */

const SCALE = 600;
const BOUND_MS = latenessBoundMs(SCALE);
const HOUR = 3_600_000;
// Monday 12 January 2026, 06:00 UTC: 07:00 in Paris.
const ORIGIN = Date.parse('2026-01-12T06:00:00.000Z');
let cloud: LocalCloud;
beforeAll(async () => {
  cloud = await startLocalCloud({
    definitions,
    timeScale: SCALE,
    origin: ORIGIN,
    workerEntry: () =>
      fileURLToPath(new URL('../fixtures/marketing/send-promo.ts', import.meta.url)),
  });
}, 60_000);
afterAll(async () => {
  await cloud?.stop();
});

describe('journey controls, on the local cloud', () => {
  it('moves tasks out of the quiet hours, then defers the one over the cap', async () => {
    await cloud.emit(
      ['p1', 'p2'].map((promoId) => ({
        source: 'crm',
        detailType: 'Promoted',
        detail: { userId: 'u1', promoId },
      })),
    );
    await cloud.settle({ until: ORIGIN + 5 * HOUR });

    const tasks = (await cloud.tasks()).sort((a, b) => (a.startedAt ?? 0) - (b.startedAt ?? 0));
    expect(tasks.map((t) => t.status)).toEqual(['COMPLETED', 'COMPLETED']);
    const eight = ORIGIN + HOUR; // 08:00 in Paris
    for (const task of tasks) {
      expect(task.dueAt).toBe(eight);
      expect(
        task.timeline.some((e) => e.cause.includes('quiet hours 21:00–08:00 Europe/Paris')),
      ).toBe(true);
    }
    const [first, second] = tasks;
    expect(first!.startedAt! - eight).toBeGreaterThanOrEqual(0);
    expect(first!.startedAt! - eight).toBeLessThanOrEqual(BOUND_MS);
    // Deferred to two hours after the first started, never earlier.
    expect(second!.startedAt! - first!.startedAt!).toBeGreaterThanOrEqual(2 * HOUR);
    expect(second!.startedAt! - (first!.startedAt! + 2 * HOUR)).toBeLessThanOrEqual(BOUND_MS);
    expect(second!.timeline.some((e) => e.cause.startsWith('deferred to '))).toBe(true);
    expect(second!.attempt).toBe(1);
  });
});
