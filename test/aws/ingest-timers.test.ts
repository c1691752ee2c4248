import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { type IngestDeps, ingestBatch, memoryTelemetry } from '../../shared/aws';
import { TIMER_TASK_TYPE } from '../../shared/core';
import definitions from '../../workflows';
import { T0 } from '../support/events';

/**
 * Ingest's side of timers that need no worker: their messages come to the ingest queue.
 * One due (or less than a second early) makes its instance decide, which fires it; one
 * more than a second early (a schedule fires minutes ahead, a long SQS timer in two legs)
 * goes back to the queue with the delay left, never fired early.
 */

const dynamo = mockClient(DynamoDBDocumentClient);
const sqs = mockClient(SQSClient);
const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));

const timer = (runAt: number, workflow = 'trial-conversion') => ({
  messageId: `m-${runAt}`,
  body: JSON.stringify({
    taskId: `${workflow}#a1#${TIMER_TASK_TYPE}#trialing~14d~1`,
    workflow,
    key: 'a1',
    taskType: TIMER_TASK_TYPE,
    generation: 1,
    runAt,
  }),
});

function deps(now: () => number, sleeps: number[] = []): IngestDeps {
  return {
    dynamo: documentClient,
    tableName: 't',
    clock: now,
    definitions,
    telemetry: memoryTelemetry().telemetry,
    timers: {
      sqs: new SQSClient({ region: 'us-east-1' }),
      queueUrl: 'https://sqs.local/ingest',
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    },
  };
}

beforeEach(() => {
  dynamo.reset();
  sqs.reset();
  dynamo.on(QueryCommand).resolves({ Items: [] });
  sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
});

describe('timers at ingest', () => {
  it('sends a timer more than a second early back to the ingest queue with the delay left, and decides nothing', async () => {
    const result = await ingestBatch(
      deps(() => T0 - 95_400),
      [timer(T0)],
    );
    expect(result.batchItemFailures).toEqual([]);
    const sent = sqs.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.QueueUrl).toBe('https://sqs.local/ingest');
    expect(sent[0]?.Entries?.map((e) => e.DelaySeconds)).toEqual([95]);
    expect(JSON.parse(sent[0]!.Entries![0]!.MessageBody!)).toMatchObject({ runAt: T0 });
    expect(dynamo.commandCalls(QueryCommand)).toEqual([]);
  });

  it('waits out a timer less than a second early, then has its instance decide', async () => {
    let now = T0 - 400;
    const sleeps: number[] = [];
    const d = { ...deps(() => now, sleeps) };
    const sleeping = d.timers!.sleep!;
    const waiting: IngestDeps = {
      ...d,
      timers: {
        ...d.timers!,
        sleep: async (ms) => {
          await sleeping(ms);
          now += ms;
        },
      },
    };
    await ingestBatch(waiting, [timer(T0)]);
    expect(sleeps).toEqual([401]);
    // The decision read its instance (and its task rows) at or after the due time.
    const queried = dynamo.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(queried.some((q) => JSON.stringify(q).includes('trial-conversion'))).toBe(true);
    expect(sqs.commandCalls(SendMessageBatchCommand)).toEqual([]);
  });

  it('returns an early timer to the queue when it cannot be sent back, and drops one for a workflow it does not know', async () => {
    sqs.on(SendMessageBatchCommand).rejects(new Error('throttled'));
    const result = await ingestBatch(
      deps(() => T0 - 60_000),
      [timer(T0), timer(T0 - 60_000, 'no-such-workflow')],
    );
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: `m-${T0}` }]);
  });
});
