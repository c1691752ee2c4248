import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  GetScheduleCommand,
  ListSchedulesCommand,
  ResourceNotFoundException,
  SchedulerClient,
} from '@aws-sdk/client-scheduler';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main';
import { type BusEvent, startEventBridge } from '../../local/emulators/eventbridge';
import { startScheduler } from '../../local/emulators/scheduler';
import { fireTime, invocationTime, pumpSchedules } from '../../local/schedule-pump';
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type LocalService,
  startSqsLocal,
} from '../../local/services';

const base = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
const delivered: BusEvent[] = [];
let bus: Awaited<ReturnType<typeof startEventBridge>>;
let scheduler: Awaited<ReturnType<typeof startScheduler>>;
let sqsService: LocalService;

beforeAll(async () => {
  bus = await startEventBridge({
    busName: 'local-bus',
    region: LOCAL_REGION,
    rules: () => [
      {
        name: 'r',
        pattern: { source: ['shop'], 'detail-type': ['OrderPlaced'], detail: { kind: ['big'] } },
        deliver: async (e) => void delivered.push(e),
      },
    ],
  });
  scheduler = await startScheduler({ region: LOCAL_REGION });
  sqsService = await startSqsLocal();
});
afterAll(async () => {
  await Promise.all([bus?.stop(), scheduler?.stop(), sqsService?.stop()]);
});

describe('the EventBridge emulator, through the real SDK client', () => {
  const client = () => new EventBridgeClient({ ...base, endpoint: bus.endpoint });

  it('accepts events, delivers those matching a rule, and reports bad entries as AWS does', async () => {
    const result = await client().send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: 'local-bus',
            Source: 'shop',
            DetailType: 'OrderPlaced',
            Detail: '{"kind":"big"}',
            Time: new Date('2026-11-02T09:00:00Z'),
          },
          {
            EventBusName: 'local-bus',
            Source: 'shop',
            DetailType: 'OrderPlaced',
            Detail: '{"kind":"small"}',
          },
          {
            EventBusName: 'local-bus',
            Source: 'shop',
            DetailType: 'OrderPlaced',
            Detail: '{not json',
          },
          { EventBusName: 'other-bus', Source: 'shop', DetailType: 'OrderPlaced', Detail: '{}' },
        ],
      }),
    );

    expect(result.FailedEntryCount).toBe(2);
    expect(result.Entries?.map((e) => e.ErrorCode ?? 'ok')).toEqual([
      'ok',
      'ok',
      'MalformedDetail',
      'ResourceNotFoundException',
    ]);
    expect(delivered).toEqual([
      expect.objectContaining({
        source: 'shop',
        'detail-type': 'OrderPlaced',
        time: '2026-11-02T09:00:00Z',
        detail: { kind: 'big' },
      }),
    ]);
  });
});

describe('the Scheduler emulator and the schedule pump', () => {
  const client = () => new SchedulerClient({ ...base, endpoint: scheduler.endpoint });
  const target = (arn: string) => ({
    Arn: arn,
    RoleArn: 'arn:aws:iam::000000000000:role/r',
    Input: '{"hello":1}',
    RetryPolicy: { MaximumRetryAttempts: 2 },
  });

  it('creates, conflicts, gets, lists and deletes schedules with AWS error types', async () => {
    const create = (name: string) =>
      client().send(
        new CreateScheduleCommand({
          Name: name,
          GroupName: 'g',
          ScheduleExpression: 'at(2026-11-05T08:58:00)',
          FlexibleTimeWindow: { Mode: 'OFF' },
          Target: target('arn:aws:sqs:us-east-1:000000000000:q'),
        }),
      );
    await create('one');
    await expect(create('one')).rejects.toBeInstanceOf(ConflictException);
    expect(
      (await client().send(new GetScheduleCommand({ Name: 'one', GroupName: 'g' })))
        .ScheduleExpression,
    ).toBe('at(2026-11-05T08:58:00)');
    expect(
      (await client().send(new ListSchedulesCommand({ GroupName: 'g' }))).Schedules?.map(
        (s) => s.Name,
      ),
    ).toEqual(['one']);
    await client().send(new DeleteScheduleCommand({ Name: 'one', GroupName: 'g' }));
    await expect(
      client().send(new GetScheduleCommand({ Name: 'one', GroupName: 'g' })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
  });

  it('fires a due one-shot schedule into its SQS target and deletes it; leaves later ones and reports when they fall due', async () => {
    const sqs = new SQSClient({ ...base, endpoint: sqsService.endpoint });
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'pump-target' }));
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
    );
    const now = Date.parse('2026-11-05T09:00:00Z');
    for (const [name, at] of [
      ['due', '2026-11-05T08:59:00'],
      ['later', '2026-11-06T08:00:00'],
    ]) {
      await client().send(
        new CreateScheduleCommand({
          Name: name,
          GroupName: 'p',
          ScheduleExpression: `at(${at})`,
          ScheduleExpressionTimezone: 'UTC',
          FlexibleTimeWindow: { Mode: 'OFF' },
          ActionAfterCompletion: 'DELETE',
          Target: target(Attributes!.QueueArn!),
        }),
      );
    }

    const pass = await pumpSchedules({ scheduler: client(), sqs, group: 'p', clock: () => now });

    expect(pass).toEqual({
      delivered: 1,
      deadLettered: 0,
      nextAt: invocationTime('later', Date.parse('2026-11-06T08:00:00Z')),
    });
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10 }),
    );
    expect(Messages?.map((m) => m.Body)).toEqual(['{"hello":1}']);
    expect(
      (await client().send(new ListSchedulesCommand({ GroupName: 'p' }))).Schedules?.map(
        (s) => s.Name,
      ),
    ).toEqual(['later']);
  });

  it('invokes a schedule somewhere in the minute it names, as Scheduler does, at a moment fixed per name', () => {
    const at = Date.parse('2026-11-06T08:00:30Z');
    const moments = ['a', 'b', 'c', 'd'].map((name) => invocationTime(name, at));

    for (const m of moments) {
      expect(m).toBeGreaterThanOrEqual(Date.parse('2026-11-06T08:00:00Z'));
      expect(m).toBeLessThan(Date.parse('2026-11-06T08:01:00Z'));
    }
    expect(new Set(moments).size).toBeGreaterThan(1);
    expect(invocationTime('a', at)).toBe(moments[0]);
  });

  it('reads only one-shot UTC at() expressions', () => {
    expect(fireTime('at(2026-11-05T08:58:00)', 'UTC')).toBe(Date.parse('2026-11-05T08:58:00Z'));
    expect(fireTime('rate(5 minutes)', undefined)).toBeNull();
    expect(fireTime('at(2026-11-05T08:58:00)', 'Europe/Paris')).toBeNull();
  });
});

describe('hourglass emit', () => {
  const run = async (...argv: string[]) => {
    let err = '';
    const code = await main(argv, { cwd: process.cwd(), out: () => {}, err: (t) => (err += t) });
    return { code, err };
  };

  it('explains how to start the local cloud when none is running', async () => {
    process.env.HOURGLASS_DEV_STATE_FILE = '/nonexistent/hourglass-dev.json';
    expect(await run('emit', 'UserRegistered', '{"userId":"u1","email":"u1@example.com"}')).toEqual(
      {
        code: 2,
        err: 'hourglass: no local cloud is running: start it with "npm run dev" in another terminal\n',
      },
    );
  });

  it('refuses, before sending, an event no workflow would accept, saying what to change', async () => {
    expect((await run('emit', 'UserRegistred', '{"userId":"u1"}')).err).toMatch(
      /^hourglass: no workflow consumes 'UserRegistred'; did you mean 'UserRegistered'\? The events the workflows consume are: UserRegistered \(from shop\)/,
    );
    expect(
      (await run('emit', 'UserRegistered', '{"userId":"u1"}', '--source', 'billing')).err,
    ).toBe(
      "hourglass: 'UserRegistered' is consumed from source 'shop', not 'billing'; leave out --source, or pass --source shop\n",
    );
    expect((await run('emit', 'UserRegistered', '{"userId":"u1"}')).err).toMatch(
      /^hourglass: the detail does not fit 'UserRegistered', so ingest would reject it: detail.email: Invalid input: expected string, received undefined \(pass --force to send it anyway/,
    );
  });

  it('sends what --force says without checking, from the source given', async () => {
    process.env.HOURGLASS_DEV_STATE_FILE = '/nonexistent/hourglass-dev.json';
    expect((await run('emit', 'Anything', '{}', '--force')).err).toMatch(
      /--force: no workflow consumes 'Anything', so there is no source to send it from; add --source SOURCE/,
    );
    // A consumed detail-type goes from its workflows' source, checked or not.
    expect((await run('emit', 'UserRegistered', '{}', '--force')).err).toMatch(
      /no local cloud is running/,
    );
    expect((await run('emit', 'Anything', '{}', '--force', '--source', 'x')).err).toMatch(
      /no local cloud is running/,
    );
  });

  it('refuses a detail that is not JSON, and missing arguments', async () => {
    expect((await run('emit', 'UserRegistered', '{nope')).err).toMatch(
      /^hourglass: DETAIL_JSON is not valid JSON/,
    );
    expect((await run('emit', 'UserRegistered')).err).toMatch(
      /^hourglass: emit needs DETAIL_TYPE and DETAIL_JSON/,
    );
  });
});
