import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  SchedulerClient,
} from '@aws-sdk/client-scheduler';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  memoryTelemetry,
  outboxBatch,
  type RelayDeps,
  relayBatch,
  type StreamRecord,
  scheduleName,
  type TaskItem,
} from '../../shared/aws';
import { days, minutes, T0 } from '../support/events';

const sqs = mockClient(SQSClient);
const scheduler = mockClient(SchedulerClient);
const eventBridge = mockClient(EventBridgeClient);
const dynamo = mockClient(DynamoDBDocumentClient);

function deps(): RelayDeps {
  return {
    dynamo: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
    tableName: 't',
    sqs: new SQSClient({ region: 'us-east-1' }),
    scheduler: new SchedulerClient({ region: 'us-east-1' }),
    eventBridge: new EventBridgeClient({ region: 'us-east-1' }),
    config: {
      taskQueue: (t) => ({
        url: `https://sqs/${t}`,
        arn: `arn:aws:sqs:us-east-1:123456789012:${t}`,
      }),
      scheduleGroup: 'hourglass',
      schedulerRoleArn: 'arn:aws:iam::123456789012:role/scheduler',
      schedulerDlqArn: 'arn:aws:sqs:us-east-1:123456789012:scheduler-dlq',
      scheduleLeadSeconds: 120,
      busName: 'bus',
    },
    clock: () => T0,
    telemetry: memoryTelemetry().telemetry,
  };
}

const task = (overrides: Partial<TaskItem> = {}): TaskItem => ({
  PK: 'I#w#k',
  SK: 'T#t1',
  type: 'task',
  GSI1PK: 'x',
  GSI1SK: 'y',
  taskId: 't1',
  workflow: 'w',
  key: 'k',
  taskType: 'send-discount-code',
  status: 'SCHEDULED',
  generation: 1,
  attempt: 0,
  dueAt: T0 + minutes(30),
  runAt: T0 + minutes(30),
  deadlineAt: null,
  input: {},
  createdBy: 'e1',
  lateCancels: [],
  updatedAt: T0,
  timeline: [],
  // A workflow consumes its outcomes (or all lifecycle events are asked for).
  publish: true,
  ...overrides,
});
let seq = 0;
const record = (before: TaskItem | undefined, after: TaskItem | undefined): StreamRecord => ({
  eventName: before ? 'MODIFY' : 'INSERT',
  dynamodb: {
    SequenceNumber: String(++seq),
    ...(before ? { OldImage: marshall(before, { removeUndefinedValues: true }) } : {}),
    ...(after ? { NewImage: marshall(after, { removeUndefinedValues: true }) } : {}),
  },
});

beforeEach(() => {
  sqs.reset();
  scheduler.reset();
  eventBridge.reset();
  dynamo.reset();
  dynamo.on(UpdateCommand).resolves({});
  eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
});

describe('relayBatch', () => {
  it('arms one SQS delay for a task due within 15 minutes', async () => {
    await relayBatch(deps(), [record(undefined, task({ runAt: T0 + minutes(10) }))]);
    expect(sqs.commandCalls(SendMessageBatchCommand)[0]!.args[0].input).toMatchObject({
      QueueUrl: 'https://sqs/send-discount-code',
      Entries: [{ DelaySeconds: 600 }],
    });
  });

  it("sends a task's tenant as its message group (SQS fair queues), and none for a task without one", async () => {
    await relayBatch(deps(), [
      record(undefined, task({ runAt: T0 + minutes(10), tenant: 'acme' })),
      record(undefined, task({ taskId: 't2', SK: 'T#t2', runAt: T0 + minutes(10) })),
    ]);
    const entries = sqs.commandCalls(SendMessageBatchCommand)[0]!.args[0].input.Entries!;
    expect(entries.map((e) => [JSON.parse(e.MessageBody!).tenant, e.MessageGroupId])).toEqual([
      ['acme', 'acme'],
      [undefined, undefined],
    ]);
  });

  it("sends a timer that needs no worker to the ingest queue, the timer type's queue", async () => {
    const routed = deps();
    const config = {
      ...routed.config,
      taskQueue: (t: string) =>
        t === '@timer'
          ? { url: 'https://sqs/ingest', arn: 'arn:aws:sqs:us-east-1:123456789012:ingest' }
          : routed.config.taskQueue(t),
    };
    await relayBatch({ ...routed, config }, [
      record(undefined, task({ taskType: '@timer', runAt: T0 + minutes(10), publish: undefined })),
    ]);
    expect(sqs.commandCalls(SendMessageBatchCommand)[0]!.args[0].input.QueueUrl).toBe(
      'https://sqs/ingest',
    );
  });

  it('deletes the schedule of a timer that needs no worker when its instance fires it first', async () => {
    const armed = task({ taskType: '@timer', runAt: T0 + days(1), publish: undefined });
    await relayBatch(deps(), [
      record(armed, { ...armed, status: 'COMPLETED', generation: 2, finishedAt: T0 }),
    ]);
    expect(scheduler.commandCalls(DeleteScheduleCommand)[0]!.args[0].input.Name).toBe(
      scheduleName('t1', 1),
    );
  });

  it('arms the longest SQS delay for a task due in 15 to 30 minutes, which the worker re-sends once', async () => {
    await relayBatch(deps(), [record(undefined, task({ runAt: T0 + minutes(30) }))]);
    expect(scheduler.commandCalls(CreateScheduleCommand)).toHaveLength(0);
    expect(sqs.commandCalls(SendMessageBatchCommand)[0]!.args[0].input).toMatchObject({
      Entries: [{ DelaySeconds: 900 }],
    });
  });

  it('creates a schedule for a task due more than 30 minutes ahead', async () => {
    await relayBatch(deps(), [record(undefined, task({ runAt: T0 + minutes(30) + 1_000 }))]);
    expect(scheduler.commandCalls(CreateScheduleCommand)).toHaveLength(1);
    expect(sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
  });

  it('creates a one-shot schedule a lead time early for a task due later', async () => {
    await relayBatch(deps(), [record(undefined, task({ runAt: T0 + days(3) }))]);
    const input = scheduler.commandCalls(CreateScheduleCommand)[0]!.args[0].input;
    expect(input).toMatchObject({
      Name: scheduleName('t1', 1),
      ClientToken: scheduleName('t1', 1),
      GroupName: 'hourglass',
      ScheduleExpression: `at(${new Date(T0 + days(3) - 120_000).toISOString().slice(0, 19)})`,
      ScheduleExpressionTimezone: 'UTC',
      ActionAfterCompletion: 'DELETE',
      Target: {
        RoleArn: 'arn:aws:iam::123456789012:role/scheduler',
        RetryPolicy: { MaximumRetryAttempts: 185 },
      },
    });
    expect(scheduleName('a'.repeat(500), 12)).toMatch(/^[0-9A-Za-z_.-]{1,64}$/);
  });

  it('schedules a minute-precision task for the first whole minute at or after its due time, with no lead', async () => {
    const due = T0 + days(3) + 25_000;
    await relayBatch(deps(), [record(undefined, task({ runAt: due, precision: 'minute' }))]);
    const input = scheduler.commandCalls(CreateScheduleCommand)[0]!.args[0].input;
    const expected = Math.ceil(due / 60_000) * 60_000;
    expect(expected).toBeGreaterThanOrEqual(due);
    expect(input.ScheduleExpression).toBe(`at(${new Date(expected).toISOString().slice(0, 19)})`);
  });

  it('deletes the schedule of a far task when it is cancelled, and takes not-found as done', async () => {
    scheduler
      .on(DeleteScheduleCommand)
      .rejects(new ResourceNotFoundException({ Message: 'gone', message: 'gone', $metadata: {} }));
    const before = task({ runAt: T0 + days(3) });
    const result = await relayBatch(deps(), [
      record(before, task({ status: 'CANCELLED', generation: 2, finishedAt: T0 })),
    ]);
    expect(result.batchItemFailures).toEqual([]);
    expect(scheduler.commandCalls(DeleteScheduleCommand)[0]!.args[0].input).toEqual({
      Name: scheduleName('t1', 1),
      GroupName: 'hourglass',
    });
    expect(eventBridge.commandCalls(PutEventsCommand)[0]!.args[0].input.Entries?.[0]).toMatchObject(
      { Source: 'hourglass', DetailType: 'TaskCancelled' },
    );
  });

  it('moves the timer when a task is moved: the old schedule goes, a new one comes', async () => {
    await relayBatch(deps(), [
      record(task({ runAt: T0 + days(2) }), task({ runAt: T0 + days(3), generation: 2 })),
    ]);
    expect(scheduler.commandCalls(DeleteScheduleCommand)).toHaveLength(1);
    expect(scheduler.commandCalls(CreateScheduleCommand)[0]!.args[0].input.Name).toBe(
      scheduleName('t1', 2),
    );
  });

  it('ignores rows that are not tasks and changes that need no timer', async () => {
    const instance: StreamRecord = {
      eventName: 'INSERT',
      dynamodb: {
        SequenceNumber: '9',
        NewImage: marshall({ PK: 'I#w#k', SK: 'I', type: 'instance', context: {} }),
      },
    };
    const running = task({ status: 'RUNNING', attempt: 1 });
    await relayBatch(deps(), [instance, record(task(), running)]);
    expect(sqs.commandCalls(SendMessageBatchCommand)).toEqual([]);
    expect(eventBridge.commandCalls(PutEventsCommand)).toEqual([]);
  });

  it('publishes lifecycle events in batches of ten', async () => {
    const records = Array.from({ length: 12 }, (_, i) =>
      record(
        task({ taskId: `t${i}`, status: 'RUNNING' }),
        task({ taskId: `t${i}`, status: 'COMPLETED', attempt: 1, finishedAt: T0 }),
      ),
    );
    await relayBatch(deps(), records);
    expect(
      eventBridge.commandCalls(PutEventsCommand).map((c) => c.args[0].input.Entries?.length),
    ).toEqual([10, 2]);
  });

  it('publishes no lifecycle event for a task whose outcome nothing consumes', async () => {
    const quiet = task({ publish: undefined });
    await relayBatch(deps(), [
      record(quiet, { ...quiet, status: 'COMPLETED', finishedAt: T0 }),
      record(quiet, { ...quiet, taskId: 't2', status: 'CANCELLED', finishedAt: T0 }),
    ]);
    expect(eventBridge.commandCalls(PutEventsCommand)).toEqual([]);
  });

  it('sends the queue timers of a whole batch together, ten to a request', async () => {
    const tasks = Array.from({ length: 12 }, (_, i) =>
      task({ taskId: `t${i}`, SK: `T#t${i}`, runAt: T0 + minutes(5 + i) }),
    );
    await relayBatch(
      deps(),
      tasks.map((t) => record(undefined, t)),
    );
    const calls = sqs.commandCalls(SendMessageBatchCommand);
    expect(calls.map((c) => c.args[0].input.Entries!.length)).toEqual([10, 2]);
    expect(calls.flatMap((c) => c.args[0].input.Entries!.map((e) => e.DelaySeconds))).toEqual(
      tasks.map((_, i) => Math.min(900, (5 + i) * 60)),
    );
  });

  it("counts a queue timer's delay from when it is sent, not from when its record was read", async () => {
    // Creating the far task's schedule takes a minute (a throttled Scheduler, say).
    let now = T0;
    scheduler.on(CreateScheduleCommand).callsFake(() => {
      now += 60_000;
      return {};
    });
    await relayBatch({ ...deps(), clock: () => now }, [
      record(undefined, task({ taskId: 'near', runAt: T0 + minutes(10) })),
      record(undefined, task({ taskId: 'far', runAt: T0 + days(1) })),
    ]);
    const [entry] = sqs.commandCalls(SendMessageBatchCommand)[0]!.args[0].input.Entries!;
    expect(entry!.DelaySeconds).toBe(540);
  });

  it('retries the stream from the first record whose queue timer was not sent', async () => {
    sqs.on(SendMessageBatchCommand).resolves({
      Successful: [{ Id: '0', MessageId: 'a', MD5OfMessageBody: '' }],
      Failed: [{ Id: '1', SenderFault: false, Code: 'InternalError' }],
    });
    const records = [
      record(undefined, task({ taskId: 'a', runAt: T0 + minutes(5) })),
      record(undefined, task({ taskId: 'b', runAt: T0 + minutes(6) })),
    ];
    expect(await relayBatch(deps(), records)).toEqual({
      batchItemFailures: [{ itemIdentifier: records[1]!.dynamodb!.SequenceNumber }],
    });
  });

  it('reports the first failed record by sequence number', async () => {
    sqs.on(SendMessageBatchCommand).rejectsOnce(new Error('throttled')).resolves({});
    const first = record(undefined, task({ taskId: 'a', runAt: T0 }));
    const second = record(undefined, task({ taskId: 'b', runAt: T0 }));
    const result = await relayBatch(deps(), [first, second]);
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: first.dynamodb!.SequenceNumber }]);
  });

  it('reports the record whose lifecycle event EventBridge refused', async () => {
    eventBridge.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ EventId: '1' }, { ErrorCode: 'InternalFailure' }],
    });
    const a = record(
      task({ taskId: 'a', status: 'RUNNING' }),
      task({ taskId: 'a', status: 'COMPLETED', finishedAt: T0 }),
    );
    const b = record(
      task({ taskId: 'b', status: 'RUNNING' }),
      task({ taskId: 'b', status: 'FAILED', finishedAt: T0 }),
    );
    expect((await relayBatch(deps(), [a, b])).batchItemFailures).toEqual([
      { itemIdentifier: b.dynamodb!.SequenceNumber },
    ]);
  });
});

describe('outboxBatch', () => {
  const outboxDeps = () => ({
    eventBridge: new EventBridgeClient({ region: 'us-east-1' }),
    busName: 'shop-bus',
    telemetry: memoryTelemetry().telemetry,
  });
  const insert = (item: Record<string, unknown>): StreamRecord => ({
    eventName: 'INSERT',
    dynamodb: { SequenceNumber: String(++seq), NewImage: marshall(item) },
  });

  it('publishes inserted items that carry an outbox event, and nothing else', async () => {
    await outboxBatch(outboxDeps(), [
      insert({
        PK: 'ORDER#1',
        outboxEvent: {
          source: 'shop',
          detailType: 'OrderPlaced',
          detail: { userId: 'u1' },
          time: '2026-11-02T09:00:00Z',
        },
      }),
      insert({ PK: 'ORDER#2' }),
      {
        eventName: 'MODIFY',
        dynamodb: {
          SequenceNumber: '0',
          NewImage: marshall({
            PK: 'ORDER#1',
            outboxEvent: { source: 's', detailType: 'd', detail: {} },
          }),
        },
      },
    ]);
    expect(eventBridge.commandCalls(PutEventsCommand)[0]!.args[0].input.Entries).toEqual([
      {
        Source: 'shop',
        DetailType: 'OrderPlaced',
        Detail: '{"userId":"u1"}',
        EventBusName: 'shop-bus',
        Time: new Date('2026-11-02T09:00:00Z'),
      },
    ]);
  });

  it('skips a malformed outbox attribute with an error log, and reports a failed publish', async () => {
    const telemetry = memoryTelemetry();
    const bad = insert({ PK: 'X', outboxEvent: { source: 'shop' } });
    await outboxBatch({ ...outboxDeps(), telemetry: telemetry.telemetry }, [bad]);
    expect(telemetry.logs[0]?.message).toContain(
      'outboxEvent must have source, detailType and an object detail',
    );

    eventBridge.on(PutEventsCommand).rejects(new Error('down'));
    const good = insert({ PK: 'Y', outboxEvent: { source: 's', detailType: 'd', detail: {} } });
    expect((await outboxBatch(outboxDeps(), [good])).batchItemFailures).toEqual([
      { itemIdentifier: good.dynamodb!.SequenceNumber },
    ]);
  });
});
