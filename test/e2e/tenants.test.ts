import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { latenessBoundMs } from '../../local/demo-report';
import { runtime } from '../../shared/aws/runtime';
import definitions from '../fixtures/reports/definitions';

/**
 * Fairness between tenants on the local cloud: a task type that names a tenant path sends
 * every task message with that tenant as its SQS message group, which SQS fair queues use
 * to tell tenants apart. Both timer paths: a report due in 10 s rides an SQS delay the
 * relay sends; one due in 40 minutes rides a schedule, which cannot carry a group on a
 * standard queue, and arrives early, so the worker sends it back with the group.
 *
 * The local SQS (fauxqs) keeps no message group on a standard queue, so the test watches
 * what Hourglass sends (the requests leaving its SQS client), which is what SQS receives.
 */

const SCALE = 120;
const MINUTE = 60_000;
let cloud: LocalCloud;
const sent: {
  queueUrl: string;
  group: string | undefined;
  body: { taskId: string; tenant?: string };
}[] = [];
beforeAll(async () => {
  cloud = await startLocalCloud({
    definitions,
    timeScale: SCALE,
    workerEntry: () =>
      fileURLToPath(new URL('../fixtures/reports/build-report.ts', import.meta.url)),
  });
  // Every function of the local cloud runs in this process, on the runtime's one SQS client.
  runtime().clients.sqs.middlewareStack.add(
    (next) => async (args) => {
      const input = args.input as {
        QueueUrl?: string;
        Entries?: { MessageBody?: string; MessageGroupId?: string }[];
      };
      for (const entry of input.Entries ?? [])
        sent.push({
          queueUrl: input.QueueUrl ?? '',
          group: entry.MessageGroupId,
          body: JSON.parse(entry.MessageBody ?? '{}'),
        });
      return next(args);
    },
    { step: 'initialize', name: 'recordSentGroups' },
  );
}, 60_000);
afterAll(async () => {
  await cloud?.stop();
});

describe('a task type with a tenant, on the local cloud', () => {
  it('sends every task message with its tenant as the message group, on both timer paths', async () => {
    const t0 = cloud.clock.now();
    const soon = new Date(t0 + 10_000).toISOString();
    const later = new Date(t0 + 40 * MINUTE).toISOString();
    const requests = [
      ...Array.from({ length: 4 }, (_, i) => ({
        reportId: `a-${i}`,
        accountId: 'acme',
        runAt: soon,
      })),
      { reportId: 'a-late', accountId: 'acme', runAt: later },
      { reportId: 'b-0', accountId: 'globex', runAt: soon },
      { reportId: 'b-late', accountId: 'globex', runAt: later },
    ];
    await cloud.emit(
      requests.map((detail) => ({ source: 'reports', detailType: 'ReportRequested', detail })),
    );
    await cloud.settle({ until: t0 + 45 * MINUTE });

    const tasks = await cloud.tasks();
    expect(tasks).toHaveLength(7);
    for (const task of tasks) {
      expect(task).toMatchObject({ status: 'COMPLETED' });
      expect(task.tenant).toBe(task.key.startsWith('a-') ? 'acme' : 'globex');
      expect(task.startedAt! - task.dueAt).toBeGreaterThanOrEqual(0);
      expect(task.startedAt! - task.dueAt).toBeLessThanOrEqual(latenessBoundMs(SCALE));
    }

    const toTaskQueue = sent.filter((s) => s.queueUrl.endsWith('build-report'));
    // The relay's five SQS timers, and the worker's re-send of each of the two schedules
    // (they fire a few minutes early, without a group); the schedules' own sends are
    // Scheduler's, not Hourglass's.
    expect(toTaskQueue.length).toBeGreaterThanOrEqual(7);
    for (const s of toTaskQueue) expect(s.group).toBe(s.body.tenant);
    expect(new Set(toTaskQueue.map((s) => s.group))).toEqual(new Set(['acme', 'globex']));
    const late = toTaskQueue.filter((s) => s.body.taskId.includes('-late#'));
    expect(late.length).toBeGreaterThanOrEqual(2);
    expect(cloud.firedBySchedule.size).toBe(2);
  });
});
