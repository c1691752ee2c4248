import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  ConflictException,
  CreateScheduleCommand,
  SchedulerClient,
} from '@aws-sdk/client-scheduler';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { DeleteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { effectKey, recordEffect } from '../../functions/workers/example-effect';
import { FunctionTimeoutError, pollQueue } from '../../local/runner';
import {
  dynamoTaskStore,
  getTask,
  ingestBatch,
  leaseEnd,
  memoryTelemetry,
  processTaskMessage,
  type RelayDeps,
  relayBatch,
  SWEEP_GRACE_MS,
  type SweepDeps,
  sweep,
  type TaskMessage,
  type WorkerDeps,
} from '../../shared/aws';
import type { TaskHandler } from '../../shared/aws/worker';
import { defineEvent, defineHourglass, defineRule, defineTaskType } from '../../shared/core';
import definitions, { compressImage, sendDiscountCode } from '../../workflows';
import { activity, click } from '../fixtures/busy-key';
import { days, minutes, shopEvent, T0 } from '../support/events';
import { freshWorld, type LocalAws, startLocalAws } from '../support/local-aws';

let aws: LocalAws;
beforeAll(async () => {
  aws = await startLocalAws();
}, 60_000);
afterAll(async () => {
  await aws?.stop();
});

const TASK_TYPES = definitions.taskTypes.map((t) => t.name);

async function world() {
  const w = await freshWorld(aws, TASK_TYPES);
  const clock = { now: T0 };
  const { telemetry } = memoryTelemetry();
  const store = { dynamo: w.dynamo, tableName: w.tableName, clock: () => clock.now };
  const ingest = (...events: object[]) =>
    ingestBatch(
      { ...store, definitions, telemetry },
      events.map((e, i) => ({ messageId: `m${i}-${Math.random()}`, body: JSON.stringify(e) })),
    );
  const scheduler = mockClient(SchedulerClient);
  const eventBridge = mockClient(EventBridgeClient);
  eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] });
  const relayDeps: RelayDeps = {
    ...store,
    sqs: w.sqs,
    scheduler: new SchedulerClient({ region: 'us-east-1' }),
    eventBridge: new EventBridgeClient({ region: 'us-east-1' }),
    config: {
      taskQueue: (t: string) => w.queues[t]!,
      scheduleGroup: 'hourglass',
      schedulerRoleArn: 'arn:aws:iam::000000000000:role/scheduler',
      schedulerDlqArn: 'arn:aws:sqs:us-east-1:000000000000:scheduler-dlq',
      scheduleLeadSeconds: 120,
      busName: 'hourglass',
    },
    clock: () => clock.now,
    telemetry,
  };
  const relay = async () => relayBatch(relayDeps, await w.readStream());
  const workerDeps = (taskType: string): WorkerDeps => ({
    tasks: dynamoTaskStore(store),
    clock: store.clock,
    sqs: w.sqs,
    queueUrl: w.queues[taskType]!.url,
    telemetry,
  });
  const sweepDeps: SweepDeps = {
    ...store,
    sqs: w.sqs,
    eventBridge: new EventBridgeClient({ region: 'us-east-1' }),
    busName: 'hourglass',
    taskQueue: (t: string) => w.queues[t]!,
    telemetry,
  };
  const runs: string[] = [];
  /** J1's first half for a user: registered at T0, the code sent 30 minutes later. */
  const sendDiscountCodeTo = async (userId: string) => {
    await ingest(registered(userId));
    clock.now = T0 + minutes(30);
    await relay();
    const [message] = (await w.receive('send-discount-code')).map(
      (m) => JSON.parse(m.Body!) as TaskMessage,
    );
    await processTaskMessage(workerDeps('send-discount-code'), sendDiscountCode, handler, message!);
    return message!;
  };
  const handler: TaskHandler<never> = async (_task, ctx) => {
    runs.push(`${ctx.idempotencyKey}:${ctx.attempt}`);
  };
  const messages = async (taskType: string) =>
    (await w.receive(taskType)).map((m) => JSON.parse(m.Body!) as TaskMessage);
  const effect = async (taskId: string) =>
    (await w.dynamo.send(new GetCommand({ TableName: w.tableName, Key: effectKey(taskId) }))).Item;
  return {
    ...w,
    clock,
    store,
    ingest,
    relay,
    relayDeps,
    scheduler,
    eventBridge,
    workerDeps,
    sendDiscountCode: sendDiscountCodeTo,
    sweepDeps,
    runs,
    handler,
    messages,
    effect,
  };
}

const registered = (userId: string, offset = 0) =>
  shopEvent('UserRegistered', { userId, email: `${userId}@x.io` }, offset);
const ordered = (userId: string, offset = 0) =>
  shopEvent('OrderPlaced', { userId, orderId: `o-${userId}`, total: 1 }, offset);
const CODE_TASK = (userId: string) => `welcome-discount#${userId}#send-discount-code#1`;

describe('the runtime on DynamoDB Local and fauxqs', () => {
  let w: Awaited<ReturnType<typeof world>>;
  beforeEach(async () => {
    w = await world();
  });

  it('lets exactly one of two racing workers claim and run a task', async () => {
    await w.ingest(registered('u1'));
    w.clock.now = T0 + minutes(30);
    await w.relay();
    const [message] = await w.messages('send-discount-code');

    const outcomes = await Promise.all([
      processTaskMessage(w.workerDeps('send-discount-code'), sendDiscountCode, w.handler, message!),
      processTaskMessage(w.workerDeps('send-discount-code'), sendDiscountCode, w.handler, message!),
    ]);

    expect(outcomes.filter((o) => o === 'completed')).toHaveLength(1);
    expect(
      outcomes.filter((o) => o === 'completed').length +
        outcomes.filter(
          (o) => o === 'lost-race' || o === 'skipped-claimed' || o === 'skipped-finished',
        ).length,
    ).toBe(2);
    expect(w.runs).toEqual([`${CODE_TASK('u1')}:1`]);
    expect(
      (await getTask(w.store, { workflow: 'welcome-discount', key: 'u1', taskId: CODE_TASK('u1') }))
        ?.status,
    ).toBe('COMPLETED');
  });

  it('applies both events when two ingests race on one key', async () => {
    const first = shopEvent('CheckoutStarted', { userId: 'u5', cartId: 'c1' }, 0);
    const second = shopEvent('CheckoutStarted', { userId: 'u5', cartId: 'c2' }, minutes(1));

    const results = await Promise.all([w.ingest(first), w.ingest(second)]);

    expect(results.flatMap((r) => r.batchItemFailures)).toEqual([]);
    const task = await getTask(w.store, {
      workflow: 'abandoned-checkout',
      key: 'u5',
      taskId: 'abandoned-checkout#u5#send-cart-reminder#1',
    });
    expect(task?.input).toEqual({ cartIds: ['c1', 'c2'] });
    expect(task?.dueAt).toBe(T0 + minutes(21));
  });

  it('runs a task once under duplicate stream records and duplicate queue messages', async () => {
    await w.ingest(registered('u2'));
    w.clock.now = T0 + minutes(30);
    const records = await w.readStream();
    await relayBatch(w.relayDeps, records);
    await relayBatch(w.relayDeps, records); // the stream delivers the batch again
    const messages = await w.messages('send-discount-code');
    expect(messages).toHaveLength(2);

    const outcomes = [];
    for (const message of [...messages, messages[0]!]) {
      outcomes.push(
        await processTaskMessage(
          w.workerDeps('send-discount-code'),
          sendDiscountCode,
          w.handler,
          message,
        ),
      );
    }

    expect(outcomes).toEqual(['completed', 'skipped-finished', 'skipped-finished']);
    expect(w.runs).toHaveLength(1);
  });

  it('creates one schedule for a far task however often the stream record repeats', async () => {
    const created = new Set<string>();
    w.scheduler.on(CreateScheduleCommand).callsFake((input) => {
      if (created.has(input.Name))
        throw new ConflictException({ Message: 'exists', message: 'exists', $metadata: {} });
      created.add(input.Name);
      return {};
    });
    await w.ingest(
      shopEvent('GroupEmailScheduled', {
        campaignId: 'cmp',
        groupId: 'g',
        sendAt: new Date(T0 + days(3)).toISOString(),
      }),
    );
    const records = await w.readStream();

    const results = [
      await relayBatch(w.relayDeps, records),
      await relayBatch(w.relayDeps, records),
    ];

    expect(results).toEqual([{ batchItemFailures: [] }, { batchItemFailures: [] }]);
    expect(created.size).toBe(1);
    const call = w.scheduler.commandCalls(CreateScheduleCommand)[0]!.args[0].input;
    expect(call).toMatchObject({
      ScheduleExpression: `at(${new Date(T0 + days(3) - 120_000).toISOString().slice(0, 19)})`,
      ActionAfterCompletion: 'DELETE',
      ClientToken: call.Name,
      Target: {
        Arn: w.queues['send-group-email']!.arn,
        DeadLetterConfig: { Arn: 'arn:aws:sqs:us-east-1:000000000000:scheduler-dlq' },
      },
    });
    expect(call.Name!.length).toBeLessThanOrEqual(64);
    expect(await w.messages('send-group-email')).toEqual([]);
  });

  it('does not run a task whose cancel was written between the timer firing and the claim', async () => {
    await w.ingest(registered('u3'));
    w.clock.now = T0 + minutes(30);
    await w.relay();
    const [message] = await w.messages('send-discount-code');
    await w.ingest(shopEvent('OrderPlaced', { userId: 'u3', orderId: 'o', total: 1 }, minutes(10)));

    const outcome = await processTaskMessage(
      w.workerDeps('send-discount-code'),
      sendDiscountCode,
      w.handler,
      message!,
    );

    expect(outcome).toBe('skipped-stale'); // the cancel bumped the generation: the timer no longer counts
    expect(w.runs).toEqual([]);
    expect(
      (await getTask(w.store, { workflow: 'welcome-discount', key: 'u3', taskId: CODE_TASK('u3') }))
        ?.status,
    ).toBe('CANCELLED');
  });

  it('records a late cancel and runs on when the cancel arrives after the claim', async () => {
    await w.ingest(registered('u4'));
    w.clock.now = T0 + minutes(30);
    await w.relay();
    const [message] = await w.messages('send-discount-code');
    let resume: () => void = () => {};
    const started = new Promise<void>((r) => {
      resume = r;
    });
    let finish: () => void = () => {};
    const blocker = new Promise<void>((r) => {
      finish = r;
    });
    const running = processTaskMessage(
      w.workerDeps('send-discount-code'),
      sendDiscountCode,
      async () => {
        resume();
        await blocker;
      },
      message!,
    );
    await started;
    const result = await w.ingest(
      shopEvent('OrderPlaced', { userId: 'u4', orderId: 'o', total: 1 }, minutes(10)),
    );
    finish();

    expect(await running).toBe('completed');
    expect(result.batchItemFailures).toEqual([]);
    const task = await getTask(w.store, {
      workflow: 'welcome-discount',
      key: 'u4',
      taskId: CODE_TASK('u4'),
    });
    expect(task?.status).toBe('COMPLETED');
    expect(task?.lateCancels).toHaveLength(1);
  });

  it('re-claims a task whose worker crashed after claiming, once its lease has run out', async () => {
    await w.ingest(shopEvent('ImageUploaded', { imageId: 'i1', url: 's3://b/i1', bytes: 5 }));
    await w.relay();
    const [message] = await w.messages('compress-image');
    const task = (await getTask(w.store, {
      workflow: 'image-compression',
      key: 'i1',
      taskId: message!.taskId,
    }))!;
    // A worker claimed it (lease until T0 + 90 s) and died without a word.
    expect(
      await dynamoTaskStore(w.store).claim(task, {
        at: T0,
        leaseUntil: leaseEnd(compressImage, T0),
      }),
    ).toBe(true);

    expect(
      await processTaskMessage(w.workerDeps('compress-image'), compressImage, w.handler, message!),
    ).toBe('skipped-claimed');
    w.clock.now = T0 + 91_000;
    expect(
      await processTaskMessage(w.workerDeps('compress-image'), compressImage, w.handler, message!),
    ).toBe('completed');
    expect(w.runs).toEqual([`${message!.taskId}:2`]);
  });

  it('sweeps a task whose timer was lost: the message is sent again and the task re-claimed', async () => {
    await w.ingest(shopEvent('ImageUploaded', { imageId: 'i3', url: 's3://b/i3', bytes: 5 }));
    await w.relay();
    const [message] = await w.messages('compress-image'); // taken, and never to come back
    const task = (await getTask(w.store, {
      workflow: 'image-compression',
      key: 'i3',
      taskId: message!.taskId,
    }))!;
    // A worker claimed it (lease until T0 + 90 s) and died without a word.
    expect(
      await dynamoTaskStore(w.store).claim(task, {
        at: T0,
        leaseUntil: leaseEnd(compressImage, T0),
      }),
    ).toBe(true);
    expect((await sweep(w.sweepDeps)).resent).toEqual([]);
    w.clock.now = T0 + 90_000 + SWEEP_GRACE_MS + 1;
    expect((await sweep(w.sweepDeps)).resent.map((t) => t.taskId)).toEqual([message!.taskId]);
    const [again] = await w.messages('compress-image');
    expect(
      await processTaskMessage(w.workerDeps('compress-image'), compressImage, w.handler, again!),
    ).toBe('completed');
  });

  it('retries a failed attempt through the row: a new generation, a new timer, the old message stale', async () => {
    await w.ingest(shopEvent('ImageUploaded', { imageId: 'i2', url: 's3://b/i2', bytes: 5 }));
    await w.relay();
    const [first] = await w.messages('compress-image');
    const failing: TaskHandler<never> = async () => {
      throw new Error('codec crashed');
    };

    expect(
      await processTaskMessage(w.workerDeps('compress-image'), compressImage, failing, first!),
    ).toBe('retrying');
    const task = await getTask(w.store, {
      workflow: 'image-compression',
      key: 'i2',
      taskId: first!.taskId,
    });
    expect(task).toMatchObject({
      status: 'SCHEDULED',
      generation: 2,
      attempt: 1,
      runAt: T0 + 10_000,
      lastError: 'Error: codec crashed',
    });
    w.clock.now = T0 + 10_000;
    await w.relay();
    const [second] = await w.messages('compress-image');
    expect(second).toMatchObject({ generation: 2, runAt: T0 + 10_000 });
    expect(
      await processTaskMessage(w.workerDeps('compress-image'), compressImage, w.handler, first!),
    ).toBe('skipped-stale');
    expect(
      await processTaskMessage(w.workerDeps('compress-image'), compressImage, w.handler, second!),
    ).toBe('completed');
    expect(w.runs).toEqual([`${first!.taskId}:2`]);
  });

  it('publishes one lifecycle event when a task reaches a terminal status, and applies the outcome on ingest', async () => {
    await w.sendDiscountCode('u6');
    await w.relay();

    const published = w.eventBridge
      .commandCalls(PutEventsCommand)
      .flatMap((c) => c.args[0].input.Entries ?? []);
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ Source: 'hourglass', DetailType: 'TaskCompleted' });
    const detail = JSON.parse(published[0]!.Detail!);
    expect(detail).toMatchObject({
      workflow: 'welcome-discount',
      key: 'u6',
      taskType: 'send-discount-code',
      attempt: 1,
      status: 'COMPLETED',
    });

    await w.ingest({
      id: 'lc1',
      source: 'hourglass',
      'detail-type': 'TaskCompleted',
      time: new Date(w.clock.now).toISOString(),
      detail,
    });
    const reminder = await getTask(w.store, {
      workflow: 'welcome-discount',
      key: 'u6',
      taskId: 'welcome-discount#u6#discount-reminder#1',
    });
    expect(reminder).toMatchObject({ status: 'SCHEDULED', dueAt: T0 + minutes(30) + days(3) });
  });

  it('still moves a workflow on when the relay lost a lifecycle event: the sweeper publishes it again', async () => {
    const message = await w.sendDiscountCode('u9');
    // PutEvents fails on every retry; the stream record is then dropped (only its metadata
    // reaches the on-failure destination), so nothing will deliver this record again.
    w.eventBridge.on(PutEventsCommand).rejects(new Error('EventBridge unavailable'));
    const relayed = await w.relay();
    expect(relayed.batchItemFailures).toHaveLength(1);
    expect((await sweep(w.sweepDeps)).republished).toEqual([]); // within the grace period

    w.eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{}] });
    w.clock.now += SWEEP_GRACE_MS + 1;
    const swept = await sweep(w.sweepDeps);
    expect(swept.republished.map((t) => t.taskId)).toEqual([message!.taskId]);
    const [entry] = w.eventBridge.commandCalls(PutEventsCommand).at(-1)!.args[0].input.Entries!;
    expect(entry).toMatchObject({ Source: 'hourglass', DetailType: 'TaskCompleted' });
    await w.ingest({
      id: 'lc-recovered',
      source: 'hourglass',
      'detail-type': 'TaskCompleted',
      time: new Date(w.clock.now).toISOString(),
      detail: JSON.parse(entry!.Detail!),
    });
    expect(
      await getTask(w.store, {
        workflow: 'welcome-discount',
        key: 'u9',
        taskId: 'welcome-discount#u9#discount-reminder#1',
      }),
    ).toMatchObject({ status: 'SCHEDULED' });
    // Published once more, then unmarked: the next sweep has nothing to do.
    expect((await sweep(w.sweepDeps)).republished).toEqual([]);
  });

  it('sweeps a stuck task once per grace period, in batches, however often it runs', async () => {
    for (const id of ['s1', 's2', 's3']) {
      await w.ingest(shopEvent('ImageUploaded', { imageId: id, url: `s3://b/${id}`, bytes: 5 }));
    }
    await w.relay();
    await w.messages('compress-image'); // taken, and never to come back
    w.clock.now = T0 + SWEEP_GRACE_MS + 1;

    const first = await sweep(w.sweepDeps);
    const second = await sweep(w.sweepDeps);

    expect(first.resent).toHaveLength(3);
    expect(second.resent).toEqual([]);
    expect(await w.messages('compress-image')).toHaveLength(3);
    w.clock.now += SWEEP_GRACE_MS + 1;
    expect((await sweep(w.sweepDeps)).resent).toHaveLength(3);
  });

  it('sweeps again at the next pass a task whose re-sent timer could not be sent', async () => {
    await w.ingest(shopEvent('ImageUploaded', { imageId: 's9', url: 's3://b/s9', bytes: 5 }));
    await w.relay();
    await w.messages('compress-image'); // taken, and never to come back
    w.clock.now = T0 + SWEEP_GRACE_MS + 1;
    const down = {
      send: async () => {
        throw new Error('SQS unavailable');
      },
    } as unknown as SQSClient;

    expect((await sweep({ ...w.sweepDeps, sqs: down })).resent).toEqual([]);
    w.clock.now += 5 * 60_000; // the next sweep, well within the grace period
    expect((await sweep(w.sweepDeps)).resent).toHaveLength(1);
    expect(await w.messages('compress-image')).toHaveLength(1);
  });

  it('runs an effect exactly once across a crash between the effect and the completion write', async () => {
    await w.ingest(registered('u10'));
    w.clock.now = T0 + minutes(30);
    await w.relay();
    const [message] = await w.messages('send-discount-code');
    const effectful: TaskHandler<never> = (task, ctx) =>
      recordEffect(w.store, task, ctx, { sent: 'discount-code' });
    const real = dynamoTaskStore(w.store);
    // The worker dies after the effect, before its completion is written.
    const crashing: WorkerDeps = {
      ...w.workerDeps('send-discount-code'),
      tasks: {
        ...real,
        complete: async () => {
          throw new Error('the worker died');
        },
      },
    };
    await expect(
      processTaskMessage(crashing, sendDiscountCode, effectful, message!),
    ).rejects.toThrow('the worker died');

    // The message comes back after the lease; attempt 2 runs the handler again.
    w.clock.now = leaseEnd(sendDiscountCode, w.clock.now) + 1;
    expect(
      await processTaskMessage(
        w.workerDeps('send-discount-code'),
        sendDiscountCode,
        effectful,
        message!,
      ),
    ).toBe('completed');
    expect(await w.effect(message!.taskId)).toMatchObject({
      attempt: 1,
      idempotencyKey: message!.taskId,
      replays: 1,
      duplicates: 0,
    });
  });

  it('ignores the late result of an attempt whose task a newer attempt holds', async () => {
    await w.ingest(shopEvent('ImageUploaded', { imageId: 'i9', url: 's3://b/i9', bytes: 5 }));
    await w.relay();
    const [message] = await w.messages('compress-image');
    const store = dynamoTaskStore(w.store);
    const fresh = (await store.get(message!))!;
    expect(await store.claim(fresh, { at: T0, leaseUntil: leaseEnd(compressImage, T0) })).toBe(
      true,
    );
    // Attempt 1's lease runs out while its handler still runs; attempt 2 re-claims.
    const later = T0 + 100_000;
    const lost = (await store.get(message!))!;
    expect(await store.claim(lost, { at: later, leaseUntil: leaseEnd(compressImage, later) })).toBe(
      true,
    );

    expect(await store.complete(lost, 1, later + 1)).toBe(false);
    expect(await store.fail(lost, 1, later + 1, 'late')).toBe(false);
    expect(await store.retry(lost, 1, { at: later, runAt: later, reason: 'late' })).toBe(false);
    expect(await store.get(message!)).toMatchObject({ status: 'RUNNING', attempt: 2 });
  });

  it('lets finished tasks, finished instances and rejected events expire after the retention, and nothing still open', async () => {
    const thirtyDays = days(30);
    await w.ingest(
      registered('u11'),
      shopEvent('UserRegistered', { userId: 'u12', email: 'x' }, 0, 'bad-2'),
    );
    w.clock.now = T0 + minutes(5);
    await w.ingest(ordered('u11', minutes(5)));
    const instance = await w.dynamo.send(
      new GetCommand({ TableName: w.tableName, Key: { PK: 'I#welcome-discount#u11', SK: 'I' } }),
    );
    const cancelled = await getTask(w.store, {
      workflow: 'welcome-discount',
      key: 'u11',
      taskId: CODE_TASK('u11'),
    });
    const rejected = await w.dynamo.send(
      new GetCommand({ TableName: w.tableName, Key: { PK: 'R#bad-2', SK: 'W#-' } }),
    );
    expect(instance.Item).toMatchObject({
      state: 'converted',
      expiresAt: Math.ceil((T0 + minutes(5) + thirtyDays) / 1000),
    });
    expect(cancelled).toMatchObject({
      status: 'CANCELLED',
      expiresAt: Math.ceil((T0 + minutes(5) + thirtyDays) / 1000),
    });
    expect(rejected.Item?.expiresAt).toBe(Math.ceil((T0 + thirtyDays) / 1000));

    // A task that runs expires from its finish; an instance still waiting never expires.
    await w.ingest(registered('u13'));
    expect(
      (
        await w.dynamo.send(
          new GetCommand({
            TableName: w.tableName,
            Key: { PK: 'I#welcome-discount#u13', SK: 'I' },
          }),
        )
      ).Item?.expiresAt,
    ).toBeUndefined();
    w.clock.now = T0 + minutes(40);
    await w.relay();
    const [message] = (await w.messages('send-discount-code')).filter((m) => m.key === 'u13');
    await processTaskMessage(
      w.workerDeps('send-discount-code'),
      sendDiscountCode,
      w.handler,
      message!,
    );
    expect(
      await getTask(w.store, {
        workflow: 'welcome-discount',
        key: 'u13',
        taskId: CODE_TASK('u13'),
      }),
    ).toMatchObject({
      status: 'COMPLETED',
      expiresAt: Math.ceil((T0 + minutes(40) + thirtyDays) / 1000),
    });
  });

  it('goes on writing a key that received 5,000 events in a week, its item under the 400 KB limit', async () => {
    const deps = {
      ...w.store,
      definitions: defineHourglass({ taskTypes: [], workflows: [activity] }),
      telemetry: memoryTelemetry().telemetry,
    };
    for (let n = 0; n < 5_000; n += 10) {
      const messages = Array.from({ length: 10 }, (_, i) => {
        const { detailType, time, ...event } = click(n + i);
        return {
          messageId: event.id,
          body: JSON.stringify({
            ...event,
            'detail-type': detailType,
            time: new Date(time).toISOString(),
          }),
        };
      });
      w.clock.now = T0 + (n + 10) * minutes(2);
      const result = await ingestBatch(deps, messages);
      expect(result.batchItemFailures).toEqual([]);
      expect(result.accepted).toBe(10);
    }
    const { Item } = await w.dynamo.send(
      new GetCommand({ TableName: w.tableName, Key: { PK: 'I#activity#busy', SK: 'I' } }),
    );
    expect(Item?.context).toEqual({ clicks: 5_000 });
    expect(Buffer.byteLength(JSON.stringify(Item))).toBeLessThan(400 * 1024);
  }, 120_000);

  it('runs a minute-precision task from its schedule alone: at or after its due time, with no re-delay', async () => {
    const Booked = defineEvent({
      source: 'travel',
      detailType: 'Booked',
      schema: z.object({ bookingId: z.string() }),
    });
    const checkIn = defineTaskType({ name: 'open-check-in', precision: 'minute' });
    const booking = defineRule({
      name: 'booking',
      key: 'detail.bookingId',
      on: Booked,
      schedule: { task: checkIn, after: '2d' },
    });
    const deps = {
      ...w.store,
      definitions: defineHourglass({ taskTypes: [checkIn], workflows: [booking] }),
      telemetry: memoryTelemetry().telemetry,
    };
    const booked = {
      id: 'b1',
      source: 'travel',
      'detail-type': 'Booked',
      time: new Date(T0 + 25_000).toISOString(),
      detail: { bookingId: 'b1' },
    };
    await ingestBatch(deps, [{ messageId: 'm1', body: JSON.stringify(booked) }]);
    const taskId = 'booking#b1#open-check-in#1';
    const row = await getTask(w.store, { workflow: 'booking', key: 'b1', taskId });
    expect(row).toMatchObject({ precision: 'minute', runAt: T0 + 25_000 + days(2) });

    // Scheduler is mocked here: the schedule's target needs only the queue's ARN.
    w.queues['open-check-in'] = {
      url: 'https://sqs.invalid/open-check-in',
      arn: 'arn:aws:sqs:us-east-1:000000000000:open-check-in',
    };
    expect((await w.relay()).batchItemFailures).toEqual([]);
    const [schedule] = w.scheduler.commandCalls(CreateScheduleCommand).map((c) => c.args[0].input);
    const fireAt = Date.parse(`${/at\((.*)\)/.exec(schedule!.ScheduleExpression!)![1]}Z`);
    expect(fireAt).toBeGreaterThanOrEqual(row!.runAt);
    expect(fireAt - row!.runAt).toBeLessThan(60_000);

    // Scheduler fires anywhere in that minute; the worker runs it on arrival.
    w.clock.now = fireAt + 40_000;
    const runs: string[] = [];
    const outcome = await processTaskMessage(
      { ...w.workerDeps('compress-image'), queueUrl: 'unused' },
      checkIn,
      async (task) => {
        runs.push(task.taskId);
      },
      JSON.parse(schedule!.Target!.Input!),
    );
    expect(outcome).toBe('completed');
    expect(runs).toEqual([taskId]);
  });

  it('fails the whole batch of a local invocation that reaches its function timeout, as Lambda does', async () => {
    const queue = w.queues['compress-image']!;
    await w.sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: 'hangs' }));
    const invocations: string[] = [];
    const errors: unknown[] = [];
    const poller = pollQueue({
      name: 'hanging-worker',
      sqs: w.sqs,
      queueUrl: queue.url,
      queueArn: queue.arn,
      visibilityTimeoutSeconds: 1,
      timeoutMs: 200,
      handler: async (event: never) => {
        invocations.push((event as { Records: { body: string }[] }).Records[0]!.body);
        return new Promise(() => {}); // never returns
      },
      onError: (error) => errors.push(error),
    });
    // Wait (on the condition, not the clock) for the message to come back after its
    // visibility timeout: the timed-out invocation did not delete it.
    const deadline = Date.now() + 30_000;
    while (invocations.length < 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    await poller.stop();
    expect(invocations).toEqual(['hangs', 'hangs']);
    expect(errors[0]).toBeInstanceOf(FunctionTimeoutError);
    expect((errors[0] as Error).message).toBe('hanging-worker: Task timed out after 0.20 seconds');
  });

  it('starts a key afresh once its finished instance has expired, whatever order TTL deletes the rows in', async () => {
    await w.ingest(registered('u30'));
    w.clock.now = T0 + minutes(5);
    await w.ingest(ordered('u30', minutes(5)));
    // Past the retention, TTL deletes the instance row first; the cancelled task row lingers.
    w.clock.now = T0 + days(40);
    await w.dynamo.send(
      new DeleteCommand({ TableName: w.tableName, Key: { PK: 'I#welcome-discount#u30', SK: 'I' } }),
    );

    const again = shopEvent('UserRegistered', { userId: 'u30', email: 'u30@x.io' }, days(40));
    expect((await w.ingest(again)).batchItemFailures).toEqual([]);

    // The new instance's first task takes the expired row's id, and is due in 30 minutes.
    expect(
      await getTask(w.store, {
        workflow: 'welcome-discount',
        key: 'u30',
        taskId: CODE_TASK('u30'),
      }),
    ).toMatchObject({ status: 'SCHEDULED', dueAt: T0 + days(40) + minutes(30), attempt: 0 });
  });

  it('records rejected events with their reason and goes on with the batch', async () => {
    const bad = shopEvent('UserRegistered', { userId: 'u7', email: 'nope' }, 0, 'bad-1');
    const result = await w.ingest(bad, registered('u8'), 'not json' as unknown as object);

    expect(result.batchItemFailures).toEqual([]);
    expect(result.rejected).toBe(2);
    const row = await w.dynamo.send(
      new GetCommand({ TableName: w.tableName, Key: { PK: 'R#bad-1', SK: 'W#-' } }),
    );
    expect(row.Item?.reason).toContain('detail.email');
    expect(
      await getTask(w.store, { workflow: 'welcome-discount', key: 'u8', taskId: CODE_TASK('u8') }),
    ).toBeDefined();
  });

  it('re-delays a message that arrives early and expires one past its deadline', async () => {
    await w.ingest(registered('u9'));
    w.clock.now = T0 + minutes(20);
    await w.relay();
    const early = {
      taskId: CODE_TASK('u9'),
      workflow: 'welcome-discount',
      key: 'u9',
      taskType: 'send-discount-code',
      generation: 1,
      runAt: T0 + minutes(30),
    };
    expect(
      await processTaskMessage(
        w.workerDeps('send-discount-code'),
        sendDiscountCode,
        w.handler,
        early,
      ),
    ).toBe('redelayed');
    w.clock.now = T0 + minutes(30) + minutes(121);
    expect(
      await processTaskMessage(
        w.workerDeps('send-discount-code'),
        sendDiscountCode,
        w.handler,
        early,
      ),
    ).toBe('expired');
    expect(w.runs).toEqual([]);
    expect(await w.effect(CODE_TASK('u9'))).toBeUndefined();
  });
});
