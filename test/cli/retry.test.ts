import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { latenessBoundMs } from '../../local/demo-report';
import { bulkAct } from '../../shared/aws/bulk';
import { OperatorRefusal, retryTask } from '../../shared/aws/operator-actions';
import { getTask, type StoreDeps } from '../../shared/aws/store';
import definitions from '../../workflows';

/**
 * `hourglass retry` end to end on the local cloud: a publication whose every attempt fails
 * ends FAILED; the operator retries it; the new incarnation runs at once, on its own
 * attempts, and completes; the old one stays FAILED, and asking again is refused.
 */

const SCALE = 60;
const TASK = 'product-publish#p-retry#publish-product#1';
let cloud: LocalCloud;
let store: StoreDeps;
let failing = true;

beforeAll(async () => {
  cloud = await startLocalCloud({
    definitions,
    timeScale: SCALE,
    faults: { failAttempt: (taskId) => failing && taskId === TASK },
  });
  store = {
    dynamo: DynamoDBDocumentClient.from(
      new DynamoDBClient({
        endpoint: cloud.endpoints.dynamodb,
        region: 'us-east-1',
        credentials: { accessKeyId: 'l', secretAccessKey: 'l' },
      }),
    ),
    tableName: cloud.tableName,
    clock: () => cloud.clock.now(),
  };
}, 60_000);
afterAll(async () => {
  await cloud?.stop();
});

const row = (taskId: string) =>
  getTask(store, { workflow: 'product-publish', key: 'p-retry', taskId });

describe('retrying a failed task on the local cloud', () => {
  it('runs a new incarnation at once, on fresh attempts, and keeps the failed one as it was', async () => {
    const t0 = cloud.clock.now();
    await cloud.emit([
      {
        source: 'shop',
        detailType: 'ProductPublishScheduled',
        detail: { productId: 'p-retry', publishAt: new Date(t0 + 60_000).toISOString() },
      },
    ]);
    await cloud.settle({ until: t0 + 30 * 60_000 });
    const failed = await row(TASK);
    expect(failed?.status).toBe('FAILED');
    expect(failed?.attempt).toBe(3);

    failing = false; // the shop API is back
    const retriedAt = cloud.clock.now();
    // Through the local cloud's driver, which then knows something happened: it never
    // skips idle virtual time across an action it runs.
    const result = await new Promise((resolve, reject) =>
      cloud.at(retriedAt, () =>
        retryTask(store, definitions, TASK, { reason: 'shop API back', by: 'ops' }).then(
          resolve,
          reject,
        ),
      ),
    );
    expect(result).toMatchObject({ outcome: 'retried', newTaskId: `${TASK}#r2` });
    await cloud.settle({ until: retriedAt + 5 * 60_000 });

    const again = await row(`${TASK}#r2`);
    expect(again?.status).toBe('COMPLETED');
    expect(again?.attempt).toBe(1);
    // Its handler's result, kept on the row in DynamoDB.
    expect(again?.result).toEqual({ published: 'p-retry' });
    // Due at the retry, started within the local cloud's lateness bound (as the journeys).
    expect(again!.dueAt).toBeGreaterThanOrEqual(retriedAt);
    expect(again!.startedAt! - again!.dueAt).toBeLessThan(latenessBoundMs(SCALE));
    expect(again!.startedAt!).toBeGreaterThanOrEqual(again!.dueAt);
    const old = await row(TASK);
    expect(old?.status, JSON.stringify(old?.timeline)).toBe('FAILED');
  });

  it('refuses to retry the old incarnation again, naming the one to act on', async () => {
    await expect(
      retryTask(store, definitions, TASK, { reason: 'again', by: 'ops' }),
    ).rejects.toThrow(
      new OperatorRefusal(
        `task '${TASK}' was already run again as '${TASK}#r2' (COMPLETED): act on that one`,
      ),
    );
  });

  it('in bulk, never retries a task twice: a second run is refused with the reason', async () => {
    const report = await bulkAct(
      store,
      definitions,
      'retry',
      { workflow: 'product-publish' },
      { reason: 'again', by: 'ops' },
    );
    expect(report.matched.map((t) => t.taskId)).toEqual([TASK]);
    expect(report.done).toBe(0);
    expect(report.refused).toEqual([
      {
        taskId: TASK,
        reason: `task '${TASK}' was already run again as '${TASK}#r2' (COMPLETED): act on that one`,
      },
    ]);
  });
});
