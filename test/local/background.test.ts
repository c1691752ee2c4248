import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { startBackground } from '../../local/background';

// Nothing listens on port 9: every request fails at once, and the loops report it.
const nowhere = {
  endpoint: 'http://127.0.0.1:9',
  region: 'us-east-1',
  credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  maxAttempts: 1,
};

describe('the background loops', () => {
  it('stop at once, even in real time, when the sweeper sleeps 5 minutes between passes', async () => {
    const errors: string[] = [];
    let swept = false;
    const background = startBackground({
      scheduler: new SchedulerClient(nowhere),
      schedules: new Map(),
      eventBridge: new EventBridgeClient(nowhere),
      sqs: new SQSClient(nowhere),
      storeDeps: {
        dynamo: DynamoDBDocumentClient.from(new DynamoDBClient(nowhere)),
        tableName: 't',
        clock: () => Date.now(),
      },
      taskQueues: {},
      scale: 1,
      touch: () => {},
      report: (where) => () => {
        errors.push(where);
        swept = true;
      },
    });
    // Wait until the first sweep has run and the loop is asleep.
    await expect.poll(() => swept, { timeout: 10_000 }).toBe(true);
    const started = performance.now();
    await background.stop();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(errors).toContain('sweeper');
  });
});
