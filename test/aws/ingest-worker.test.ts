import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  decisionWrites,
  dynamoTaskStore,
  ingestBatch,
  isPermanent,
  memoryTelemetry,
  NonRetryableError,
  processTaskBatch,
  publishedTaskTypes,
  RetryAfterError,
  type TaskItem,
  tasksDueBefore,
  type WorkerDeps,
} from '../../shared/aws';
import { ConflictError } from '../../shared/aws/errors';
import {
  type Command,
  defineEvent,
  defineTaskType,
  defineWorkflow,
  newInstance,
  taskRowEffect,
} from '../../shared/core';
import { HourglassError } from '../../shared/core/errors';
import definitions, {
  compressImage,
  imageCompression,
  productPublish,
  welcomeDiscount,
} from '../../workflows';
import { days, shopEvent, T0 } from '../support/events';
import { taskItem } from '../support/tasks';

const dynamo = mockClient(DynamoDBDocumentClient);
const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
beforeEach(() => dynamo.reset());

describe('ingestBatch with a mocked table', () => {
  const deps = () => ({
    dynamo: documentClient,
    tableName: 't',
    clock: () => T0,
    definitions,
    telemetry: memoryTelemetry().telemetry,
  });
  const message = (body: unknown, id = 'm1') => ({
    messageId: id,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

  it('returns the messages of an instance as failures when its writes keep conflicting', async () => {
    dynamo.on(QueryCommand).resolves({ Items: [] });
    dynamo
      .on(TransactWriteCommand)
      .rejects(Object.assign(new Error('conflict'), { name: 'TransactionCanceledException' }));
    const result = await ingestBatch(deps(), [
      message(shopEvent('UserRegistered', { userId: 'u1', email: 'a@b.co' })),
    ]);
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect(dynamo.commandCalls(TransactWriteCommand)).toHaveLength(5);
  });

  it('writes a decision that touches only its instance as one plain conditional Put, not a transaction', async () => {
    dynamo.on(QueryCommand).resolves({ Items: [] });
    dynamo.on(PutCommand).resolves({});
    // An order from a user who never registered: J1 keeps it in history and schedules nothing.
    const result = await ingestBatch(deps(), [
      message(shopEvent('OrderPlaced', { userId: 'u9', orderId: 'o', total: 1 })),
    ]);
    expect(result.batchItemFailures).toEqual([]);
    expect(dynamo.commandCalls(TransactWriteCommand)).toHaveLength(0);
    const puts = dynamo.commandCalls(PutCommand).map((c) => c.args[0].input);
    expect(puts).toEqual([
      expect.objectContaining({
        Item: expect.objectContaining({ type: 'instance', key: 'u9' }),
        ConditionExpression: 'attribute_not_exists(PK)',
      }),
    ]);
  });

  it('re-reads and decides again when a plain write of the instance loses to another writer', async () => {
    dynamo.on(QueryCommand).resolves({ Items: [] });
    dynamo
      .on(PutCommand)
      .rejectsOnce(Object.assign(new Error('lost'), { name: 'ConditionalCheckFailedException' }))
      .resolves({});
    const result = await ingestBatch(deps(), [
      message(shopEvent('OrderPlaced', { userId: 'u9', orderId: 'o', total: 1 })),
    ]);
    expect(result.batchItemFailures).toEqual([]);
    expect(dynamo.commandCalls(QueryCommand)).toHaveLength(2);
  });

  it('returns a message when its rejection cannot be recorded', async () => {
    dynamo
      .on(PutCommand)
      .rejects(Object.assign(new Error('slow down'), { name: 'ThrottlingException' }));
    const result = await ingestBatch(deps(), [message('not json', 'm9')]);
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: 'm9' }]);
  });

  it('records the events of an instance as rejected, not retried, when deciding fails for good', async () => {
    dynamo.on(QueryCommand).resolves({ Items: [] });
    dynamo.on(TransactWriteCommand).rejects(
      Object.assign(new Error('Item size has exceeded the maximum allowed size'), {
        name: 'ValidationException',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    dynamo.on(PutCommand).resolves({});
    const event = shopEvent('UserRegistered', { userId: 'u1', email: 'a@b.co' }, 0, 'e-big');

    const result = await ingestBatch(deps(), [message(event), message(event, 'm2')]);

    expect(result.batchItemFailures).toEqual([]);
    const rows = dynamo.commandCalls(PutCommand).map((c) => c.args[0].input.Item!);
    expect(rows.map((r) => [r.eventId, r.workflow])).toEqual([['e-big', 'welcome-discount']]);
    expect(rows[0]!.reason).toMatch(
      /^could not be applied to workflow 'welcome-discount' key 'u1': ValidationException: Item size has exceeded/,
    );
  });

  it('records an item too large for a transaction as rejected: a cancellation that is not a conflict', async () => {
    dynamo.on(QueryCommand).resolves({ Items: [] });
    dynamo.on(TransactWriteCommand).rejects(
      Object.assign(new Error('Transaction cancelled'), {
        name: 'TransactionCanceledException',
        CancellationReasons: [
          {
            Code: 'ValidationError',
            Message: 'Item size to update has exceeded the maximum allowed size',
          },
          { Code: 'None' },
        ],
      }),
    );
    dynamo.on(PutCommand).resolves({});

    const result = await ingestBatch(deps(), [
      message(shopEvent('UserRegistered', { userId: 'u1', email: 'a@b.co' })),
    ]);

    expect(result.batchItemFailures).toEqual([]);
    expect(dynamo.commandCalls(TransactWriteCommand)).toHaveLength(1);
    expect(dynamo.commandCalls(PutCommand)[0]!.args[0].input.Item!.reason).toContain(
      'TransactionCanceledException',
    );
  });

  it('tells permanent failures from those worth retrying', () => {
    expect(isPermanent(new ConflictError('w', 'k', 5))).toBe(false);
    expect(isPermanent(new HourglassError('bad definition'))).toBe(true);
    expect(isPermanent(Object.assign(new Error('x'), { name: 'ValidationException' }))).toBe(true);
    for (const name of [
      'ProvisionedThroughputExceededException',
      'AccessDeniedException',
      'ResourceNotFoundException',
      'KMSAccessDeniedException',
    ])
      expect(isPermanent(Object.assign(new Error('x'), { name }))).toBe(false);
    expect(isPermanent(Object.assign(new Error('x'), { $metadata: { httpStatusCode: 503 } }))).toBe(
      false,
    );
    expect(
      isPermanent(
        Object.assign(new Error('x'), {
          name: 'TransactionCanceledException',
          CancellationReasons: [{ Code: 'ConditionalCheckFailed' }],
        }),
      ),
    ).toBe(false);
  });
});

describe('the worker with a mocked table', () => {
  const sqs = mockClient(SQSClient);
  const item = (overrides: Partial<TaskItem> = {}) =>
    taskItem({
      workflow: 'image-compression',
      key: 'i1',
      taskType: 'compress-image',
      ...overrides,
    });
  const event = (...bodies: unknown[]): SQSEvent => ({
    Records: bodies.map((body, i) => ({
      messageId: `m${i}`,
      body: typeof body === 'string' ? body : JSON.stringify(body),
    })) as SQSEvent['Records'],
  });
  const timer = {
    taskId: 't1',
    workflow: 'image-compression',
    key: 'i1',
    taskType: 'compress-image',
    generation: 1,
    runAt: T0,
  };
  const deps = (): WorkerDeps => ({
    tasks: dynamoTaskStore({ dynamo: documentClient, tableName: 't', clock: () => T0 }),
    clock: () => T0,
    sqs: new SQSClient({ region: 'us-east-1' }),
    queueUrl: 'q',
    telemetry: memoryTelemetry().telemetry,
  });
  const updates = () =>
    dynamo.commandCalls(UpdateCommand).map((c) => c.args[0].input.ExpressionAttributeValues);

  beforeEach(() => {
    sqs.reset();
    dynamo.on(GetCommand).resolves({ Item: item() });
    dynamo.on(UpdateCommand).resolves({});
  });

  it('waits out a message that arrives less than a second early, then starts the task at its run time', async () => {
    let now = T0 - 400;
    const waits: number[] = [];
    let startedAt: number | null = null;
    const early: WorkerDeps = {
      ...deps(),
      clock: () => now,
      sleep: async (ms) => {
        waits.push(ms);
        now += ms;
      },
    };

    await processTaskBatch(
      early,
      compressImage,
      async () => {
        startedAt = now;
      },
      event(timer),
    );

    expect(waits).toHaveLength(1);
    expect(startedAt).toBeGreaterThanOrEqual(T0);
    expect(startedAt! - T0).toBeLessThanOrEqual(1);
    expect(sqs.commandCalls(SendMessageBatchCommand)).toEqual([]);
  });

  it('sends a message more than a second early back to the queue, delayed to the nearest second', async () => {
    let ran = false;
    const early: WorkerDeps = { ...deps(), clock: () => T0 - 7_400 };

    await processTaskBatch(
      early,
      compressImage,
      async () => {
        ran = true;
      },
      event(timer),
    );

    expect(ran).toBe(false);
    expect(
      sqs
        .commandCalls(SendMessageBatchCommand)
        .map((c) => c.args[0].input.Entries?.[0]?.DelaySeconds),
    ).toEqual([7]);
  });

  it('leaves a message that is not a timer, or is for another task type, to the DLQ', async () => {
    const result = await processTaskBatch(
      deps(),
      compressImage,
      async () => {},
      event('garbage', { ...timer, taskType: 'other' }),
    );
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }, { itemIdentifier: 'm1' }]);
  });

  it('returns a message to the queue when the table cannot be read', async () => {
    dynamo.on(GetCommand).rejects(new Error('network down'));
    expect(
      (await processTaskBatch(deps(), compressImage, async () => {}, event(timer)))
        .batchItemFailures,
    ).toEqual([{ itemIdentifier: 'm0' }]);
  });

  it('fails at once on a NonRetryableError', async () => {
    await processTaskBatch(
      deps(),
      compressImage,
      async () => {
        throw new NonRetryableError('image is corrupt');
      },
      event(timer),
    );
    expect(updates().at(-1)).toMatchObject({
      ':status': 'FAILED',
      ':lastError': 'NonRetryableError: image is corrupt',
    });
  });

  it('waits the delay a RetryAfterError asks for', async () => {
    await processTaskBatch(
      deps(),
      compressImage,
      async () => {
        throw new RetryAfterError('rate limited', 45_000);
      },
      event(timer),
    );
    expect(updates().at(-1)).toMatchObject({ ':status': 'SCHEDULED', ':runAt': T0 + 45_000 });
  });

  it('aborts an attempt at the task type timeout and retries it', async () => {
    const quick = defineTaskType({
      name: 'compress-image',
      timeout: '1s',
      retry: { maxAttempts: 2 },
    });
    let aborted = false;
    await processTaskBatch(
      deps(),
      quick,
      async (_task, ctx) => {
        await new Promise<void>((resolve) =>
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            resolve();
          }),
        );
        await new Promise((r) => setTimeout(r, 50));
      },
      event(timer),
    );
    expect(aborted).toBe(true);
    expect(updates().at(-1)).toMatchObject({
      ':status': 'SCHEDULED',
      ':lastError': expect.stringContaining('TaskTimeoutError'),
    });
  });

  it('fails a task whose attempts all ended without a result', async () => {
    dynamo
      .on(GetCommand)
      .resolves({ Item: item({ status: 'RUNNING', attempt: 5, leaseUntil: T0 - 1 }) });
    await processTaskBatch(deps(), compressImage, async () => {}, event(timer));
    expect(updates()[0]).toMatchObject({
      ':status': 'FAILED',
      ':lastError': 'every attempt ended without a result (worker crash or timeout)',
    });
  });
});

describe('decisionWrites: the store writes what the one command interpreter says', () => {
  it('turns each command effect into a conditional write of the same fields and timeline', () => {
    const task = {
      taskId: 'welcome-discount#u1#send-discount-code#1',
      workflow: 'welcome-discount',
      key: 'u1',
      taskType: 'send-discount-code',
      dueAt: T0 + 1_800_000,
      deadlineAt: null,
      input: {},
      createdBy: 'e1',
      cancelledBy: null,
    };
    const existing = taskItem({ taskId: 't-old', workflow: 'welcome-discount', key: 'u1' });
    const running = taskItem({
      taskId: 't-run',
      workflow: 'welcome-discount',
      key: 'u1',
      status: 'RUNNING',
    });
    const commands: Command[] = [
      { type: 'schedule-task', task },
      { type: 'cancel-task', taskId: 't-old', cancelledBy: 'e2', reason: 'cancelled' },
      { type: 'record-late-cancel', taskId: 't-run', cancelledBy: 'e2' },
      { type: 'reject-event', eventId: 'e9', reason: 'too late' },
    ];
    const instance = { ...newInstance(welcomeDiscount, 'u1'), state: 'waiting' };
    const writes = decisionWrites(
      't',
      { instance, version: 1, tasks: [existing, running] },
      { instance, commands, accepted: [], duplicates: [] },
      [],
      T0,
      { retentionMs: days(30), finished: false },
    );
    const effects = commands.map((c) =>
      taskRowEffect(c, 'welcome-discount', T0, (id) => (id === 't-run' ? 'RUNNING' : 'SCHEDULED')),
    );

    const created = writes[1]!.Put!.Item as TaskItem;
    expect(created).toMatchObject((effects[0] as { row: object }).row);
    const cancel = writes.find((w) => w.Update?.Key?.SK === 'T#t-old')!.Update!;
    expect(cancel.ConditionExpression).toBe(
      '#status = :expectedStatus AND #gen = :expectedGeneration',
    );
    expect(cancel.ExpressionAttributeValues).toMatchObject({
      ':status': 'CANCELLED',
      ':timeline': (effects[1] as { change: { timeline: unknown } }).change.timeline,
    });
    const late = writes.find((w) => w.Update?.Key?.SK === 'T#t-run')!.Update!;
    expect(late.ConditionExpression).toBe('attribute_exists(PK)');
    expect(late.ExpressionAttributeValues).toMatchObject({
      ':lateCancels': ['e2'],
      ':timeline': [{ status: 'RUNNING', cause: 'cancel too late (e2)' }],
    });
    expect(writes.filter((w) => w.Put?.Item?.type === 'rejected')).toHaveLength(1);
  });
});

describe('which lifecycle events are published', () => {
  it('publishes the outcomes a workflow has a transition for, or every scheduled type when all are asked for', () => {
    // J1: the code's outcome chains the reminder, and the reminder's ends the journey.
    expect(publishedTaskTypes(welcomeDiscount, 'consumed')).toEqual(
      new Set(['send-discount-code', 'discount-reminder']),
    );
    expect(publishedTaskTypes(imageCompression, 'all')).toEqual(new Set(['compress-image']));
    // A rule never reads its task's outcome: nothing is published unless all are asked for.
    expect(publishedTaskTypes(productPublish, 'consumed')).toEqual(new Set());
    expect(publishedTaskTypes(productPublish, 'all')).toEqual(new Set(['publish-product']));
    // A workflow that only fires and forgets: nothing listens for the outcome.
    const ping = defineTaskType({ name: 'ping' });
    const Tick = defineEvent({
      source: 'test',
      detailType: 'Tick',
      schema: z.object({ id: z.string() }),
    });
    const fireAndForget = defineWorkflow({
      name: 'fire-and-forget',
      key: 'detail.id',
      events: [Tick],
      initial: 'on',
      states: {
        on: { on: { Tick: { schedule: { task: ping, after: '1h', collapse: 'per-trigger' } } } },
      },
    });
    expect(publishedTaskTypes(fireAndForget, 'consumed')).toEqual(new Set());
    expect(publishedTaskTypes(fireAndForget, 'all')).toEqual(new Set(['ping']));
  });

  it('marks a finished task unpublished only when its lifecycle event is published', async () => {
    dynamo.on(UpdateCommand).resolves({});
    const store = dynamoTaskStore({ dynamo: documentClient, tableName: 't', clock: () => T0 });
    const running = { status: 'RUNNING' as const, attempt: 1, leaseUntil: T0 + 60_000 };
    await store.complete(taskItem({ ...running, taskId: 'quiet' }), 1, T0);
    await store.complete(taskItem({ ...running, taskId: 'heard', publish: true }), 1, T0);
    const [quiet, heard] = dynamo.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(quiet?.ExpressionAttributeValues).not.toHaveProperty(':GSI2PK');
    expect(quiet?.UpdateExpression).toContain('REMOVE');
    expect(heard?.ExpressionAttributeValues).toHaveProperty(':GSI2PK');
  });
});

describe('listing tasks from the status index', () => {
  const deps = () => ({ dynamo: documentClient, tableName: 't', clock: () => T0 });

  it('reads SCHEDULED and RUNNING from the shared open partitions, told apart by their rows', async () => {
    const listed = (taskId: string, runAt: number) => ({
      PK: `I#w#${taskId}`,
      SK: `T#${taskId}`,
      taskId,
      runAt,
    });
    dynamo.on(QueryCommand).callsFake((input) => ({
      Items:
        input.ExpressionAttributeValues[':pk'] === 'OPEN#0'
          ? [listed('waiting', T0 - 2), listed('claimed', T0 - 1)]
          : [],
    }));
    // The index holds no status (a claim would have to write it): the rows say it.
    dynamo.on(BatchGetCommand).resolves({
      Responses: {
        t: [
          { PK: 'I#w#waiting', SK: 'T#waiting', status: 'SCHEDULED', attempt: 0 },
          { PK: 'I#w#claimed', SK: 'T#claimed', status: 'RUNNING', attempt: 1, leaseUntil: T0 },
        ],
      },
    });

    const running = await tasksDueBefore(deps(), 'RUNNING', { before: T0 });

    const queries = dynamo.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(queries).toHaveLength(16);
    expect(queries[0]).toMatchObject({
      IndexName: 'GSI1',
      KeyConditionExpression: 'GSI1PK = :pk AND GSI1SK < :before',
    });
    expect(dynamo.commandCalls(BatchGetCommand)).toHaveLength(1);
    expect(running).toEqual([
      expect.objectContaining({ taskId: 'claimed', status: 'RUNNING', attempt: 1, leaseUntil: T0 }),
    ]);
  });

  it('lists both open statuses in one read of the open partitions', async () => {
    dynamo.on(QueryCommand).callsFake((input) => ({
      Items:
        input.ExpressionAttributeValues[':pk'] === 'OPEN#3'
          ? [
              { PK: 'I#w#a', SK: 'T#a', taskId: 'a', runAt: T0 - 2 },
              { PK: 'I#w#b', SK: 'T#b', taskId: 'b', runAt: T0 - 1 },
            ]
          : [],
    }));
    dynamo.on(BatchGetCommand).resolves({
      Responses: {
        t: [
          { PK: 'I#w#a', SK: 'T#a', status: 'SCHEDULED', attempt: 0 },
          { PK: 'I#w#b', SK: 'T#b', status: 'RUNNING', attempt: 1 },
        ],
      },
    });
    const open = await tasksDueBefore(deps(), ['SCHEDULED', 'RUNNING'], { before: T0 });
    expect(dynamo.commandCalls(QueryCommand)).toHaveLength(16);
    expect(open.map((t) => [t.taskId, t.status])).toEqual([
      ['a', 'SCHEDULED'],
      ['b', 'RUNNING'],
    ]);
    await expect(tasksDueBefore(deps(), ['FAILED', 'EXPIRED'])).rejects.toThrow(
      'list FAILED and EXPIRED tasks one status at a time',
    );
  });

  it('refuses to list COMPLETED or CANCELLED tasks, which leave the sparse index', async () => {
    await expect(tasksDueBefore(deps(), 'COMPLETED')).rejects.toThrow(
      /the status index does not list COMPLETED tasks \(it is sparse\); read them by instance instead/,
    );
  });
});
