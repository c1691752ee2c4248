import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { App, Aspects, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Hourglass, ingestPatterns, Outbox, WORKERS_PER_STACK } from '../../infra';
import { suppressAcceptedFindings } from '../../infra/nag';
import { ingestEntryFor } from '../../infra/parts';
import { defineEvent, defineHourglass, defineRule, defineTaskType } from '../../shared/core';
import definitions, { sendDiscountCode, UserRegistered } from '../../workflows';

const root = resolve(import.meta.dirname, '../..');
const workerEntry = (taskType: string) => join(root, `functions/workers/${taskType}.ts`);

/** A fresh stack; bundling is skipped unless asked for (the full-stack test bundles for real). */
function newStack(bundle = false) {
  const app = new App({ context: bundle ? {} : { 'aws:cdk:bundling-stacks': [] } });
  return {
    app,
    stack: new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } }),
  };
}

/** The nested stacks that hold the workers. */
function workerStacks(hourglass: Hourglass): Stack[] {
  return [...new Set([...hourglass.workers.values()].map((w) => Stack.of(w.function)))];
}

/** Template JSON is untyped: the tests read it as plain data. */
// biome-ignore lint/suspicious/noExplicitAny: CloudFormation template properties are arbitrary JSON.
type Json = any;
type Resources = Record<
  string,
  { Type: string; Properties: Record<string, Json>; Metadata?: Json }
>;

describe('the Hourglass construct, with every worker of J1–J6', () => {
  let template: Template;
  let resources: Resources;
  /** Every resource of the main stack and its nested worker stacks. */
  let everywhere: Resources;
  let stack: Stack;
  let hourglass: Hourglass;

  beforeAll(() => {
    const built = newStack(true);
    stack = built.stack;
    hourglass = new Hourglass(stack, 'Hourglass', { workflows: definitions });
    for (const t of definitions.taskTypes)
      hourglass.addWorker(t.name, { entry: workerEntry(t.name) });
    suppressAcceptedFindings([hourglass]);
    Aspects.of(stack).add(new AwsSolutionsChecks());
    Aspects.of(stack).add(new ServerlessChecks());
    built.app.synth();
    template = Template.fromStack(stack);
    resources = template.toJSON().Resources;
    everywhere = { ...resources };
    for (const nested of workerStacks(hourglass))
      Object.assign(everywhere, Template.fromStack(nested).toJSON().Resources);
  }, 120_000);

  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
  const anywhereOfType = (type: string) =>
    Object.entries(everywhere).filter(([, r]) => r.Type === type);

  it('creates the table with its stream, indexes, point-in-time recovery and encryption', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'PK', KeyType: 'HASH' },
        { AttributeName: 'SK', KeyType: 'RANGE' },
      ],
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: 'GSI1',
          KeySchema: [
            { AttributeName: 'GSI1PK', KeyType: 'HASH' },
            { AttributeName: 'GSI1SK', KeyType: 'RANGE' },
          ],
          // Only what a claim does not change: a claim writes no index item.
          Projection: {
            ProjectionType: 'INCLUDE',
            NonKeyAttributes: [
              'taskId',
              'workflow',
              'key',
              'taskType',
              'generation',
              'dueAt',
              'runAt',
              'deadlineAt',
              'sweptAt',
            ],
          },
        }),
        Match.objectLike({
          IndexName: 'GSI2',
          KeySchema: [
            { AttributeName: 'GSI2PK', KeyType: 'HASH' },
            { AttributeName: 'GSI2SK', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        }),
      ],
    });
  });

  it('routes exactly the events the workflows consume to the ingest queue', () => {
    const patterns = ofType('AWS::Events::Rule')
      .map(([, r]) => r.Properties.EventPattern)
      .filter((p) => p !== undefined);
    expect(patterns).toEqual(ingestPatterns(definitions));
    expect(patterns[0]).toEqual({
      source: ['shop'],
      'detail-type': [
        'CheckoutStarted',
        'DiscountApplied',
        'DiscountRemoved',
        'GroupEmailCancelled',
        'GroupEmailScheduled',
        'ImageDeleted',
        'ImageUploaded',
        'OrderPlaced',
        'PaymentSucceeded',
        'ProductPublishCancelled',
        'ProductPublishScheduled',
        'SubscriptionStarted',
        'TrialStarted',
        'UserRegistered',
      ],
    });
    expect(patterns[1]).toEqual({
      source: ['hourglass'],
      'detail-type': ['TaskCompleted'],
      detail: {
        // Rules never read their tasks' outcomes: only J1 follows one.
        workflow: ['welcome-discount'],
      },
    });
  });

  it('runs every function on nodejs22.x, arm64, bundled with source maps, untraced and logging at WARN', () => {
    const functions = anywhereOfType('AWS::Lambda::Function');
    expect(functions).toHaveLength(3 + definitions.taskTypes.length);
    for (const [, fn] of functions) {
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'] });
      expect(fn.Properties.TracingConfig?.Mode).not.toBe('Active');
      expect(fn.Properties.Environment.Variables).toMatchObject({
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_LOG_LEVEL: 'WARN',
      });
    }
  });

  it('maps the stream to the relay with a task filter, partial batches, bisect, a retry cap and an on-failure queue', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('HourglassTable'), 'StreamArn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 10,
      StartingPosition: 'TRIM_HORIZON',
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
      FilterCriteria: {
        Filters: [
          { Pattern: JSON.stringify({ dynamodb: { NewImage: { type: { S: ['task'] } } } }) },
        ],
      },
    });
  });

  it('gives every worker a named queue with the shared DLQ, a visibility timeout of at least 6× its timeout, and a partial-batch mapping', () => {
    for (const taskType of definitions.taskTypes) {
      const worker = hourglass.workers.get(taskType.name)!;
      const nested = Stack.of(worker.function);
      expect(nested).not.toBe(stack);
      const own = Template.fromStack(nested).toJSON().Resources as Resources;
      const fn = own[nested.getLogicalId(worker.function.node.defaultChild as never)]!.Properties;
      const queueId = nested.getLogicalId(worker.queue.node.defaultChild as never);
      const queue = own[queueId]!.Properties;
      expect(fn.Timeout * 1000).toBeGreaterThanOrEqual(taskType.timeoutMs);
      expect(fn.Timeout * 1000).toBeLessThanOrEqual(taskType.timeoutMs + 30_000);
      expect(queue.QueueName).toBe(`Test-Hourglass-${taskType.name}`);
      expect(queue.VisibilityTimeout).toBeGreaterThanOrEqual(6 * fn.Timeout);
      expect(queue.RedrivePolicy).toMatchObject({ maxReceiveCount: 5 });
      expect(queue.SqsManagedSseEnabled).toBe(true);
      const mapping = Object.values(own).find(
        (r) =>
          r.Type === 'AWS::Lambda::EventSourceMapping' &&
          r.Properties.EventSourceArn['Fn::GetAtt']?.[0] === queueId,
      )!.Properties;
      expect(mapping).toMatchObject({
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        BatchSize: taskType.concurrency === null ? 5 : 1,
      });
      if (taskType.concurrency !== null)
        expect(mapping.ScalingConfig).toEqual({ MaximumConcurrency: taskType.concurrency });
      else expect(mapping.ScalingConfig).toBeUndefined();
    }
  });

  it('lets the scheduler role, assumed only from its own schedule group, send only to the task queues, the ingest queue (timers that need no worker) and its DLQ', () => {
    template.hasResourceProperties('AWS::Scheduler::ScheduleGroup', { Name: 'Test-Hourglass' });
    const [roleId, role] = ofType('AWS::IAM::Role').find(([, r]) =>
      JSON.stringify(r.Properties.AssumeRolePolicyDocument).includes('scheduler.amazonaws.com'),
    )!;
    const trust = role.Properties.AssumeRolePolicyDocument.Statement[0].Condition;
    expect(trust.StringEquals).toEqual({ 'aws:SourceAccount': '123456789012' });
    expect(JSON.stringify(trust.ArnEquals['aws:SourceArn'])).toContain(':schedule-group/');
    const policies = ofType('AWS::IAM::Policy').filter(([, p]) =>
      p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId),
    );
    const statements = policies.flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    expect(statements).toHaveLength(2);
    for (const s of statements) {
      expect([s.Action].flat()).toEqual(expect.arrayContaining(['sqs:SendMessage']));
      expect([s.Action].flat().every((a: string) => a.startsWith('sqs:'))).toBe(true);
    }
    expect(JSON.stringify(statements.map((s) => s.Resource))).toContain(':Test-Hourglass-*');
    expect(JSON.stringify(statements.map((s) => s.Resource))).toContain('HourglassIngestQueue');
  });

  it('scopes every DynamoDB, SQS, Scheduler and PassRole permission to named resources', () => {
    const statements = anywhereOfType('AWS::IAM::Policy').flatMap(
      ([, p]) => p.Properties.PolicyDocument.Statement,
    );
    const scoped = statements.filter((s) =>
      [s.Action].flat().some((a: string) => /^(dynamodb|sqs|scheduler):|^iam:PassRole$/.test(a)),
    );
    expect(scoped.length).toBeGreaterThan(10);
    // dynamodb:ListStreams takes no resource type: IAM grants it only on "*".
    const resourceLevel = scoped.filter((s) => s.Action !== 'dynamodb:ListStreams');
    for (const s of resourceLevel) expect([s.Resource].flat()).not.toContain('*');
    const starred = statements.filter((s) => [s.Resource].flat().includes('*'));
    for (const s of starred)
      expect(
        [s.Action]
          .flat()
          .every((a: string) => a.startsWith('xray:') || a === 'dynamodb:ListStreams'),
      ).toBe(true);
    expect(starred.some((s) => s.Action === 'dynamodb:ListStreams')).toBe(true);
    // A worker may get and update items by key, nothing more of the table (the example
    // workers' effect rows are a PutItem limited to EFFECT# keys, granted by infra/app.ts).
    for (const worker of hourglass.workers.values()) {
      const nested = Stack.of(worker.function);
      const roleId = nested.getLogicalId(worker.function.role!.node.defaultChild as never);
      const tableActions = Object.values(Template.fromStack(nested).toJSON().Resources as Resources)
        .filter(
          (r) =>
            r.Type === 'AWS::IAM::Policy' &&
            r.Properties.Roles.some((ref: { Ref: string }) => ref.Ref === roleId),
        )
        .flatMap((p) => p.Properties.PolicyDocument.Statement)
        .flatMap((st: Json) => [st.Action].flat())
        .filter((a: string) => a.startsWith('dynamodb:'));
      expect(new Set(tableActions)).toEqual(new Set(['dynamodb:GetItem', 'dynamodb:UpdateItem']));
    }
    const passRole = statements.find((s) => s.Action === 'iam:PassRole')!;
    expect(passRole.Condition).toEqual({
      StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' },
    });
  });

  it('alarms on DLQ depth, queue age, iterator age, function errors, failed tasks and re-sent work, and has a dashboard', () => {
    const alarms = anywhereOfType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    const named = (m: string) => alarms.filter((a) => a.MetricName === m);
    // Ingest, task (shared), Scheduler and relay DLQs.
    expect(named('ApproximateNumberOfMessagesVisible')).toHaveLength(4);
    expect(named('ApproximateAgeOfOldestMessage')).toHaveLength(1 + definitions.taskTypes.length);
    expect(named('IteratorAge')).toHaveLength(1);
    const expressions = alarms.flatMap((a) => (a.Metrics ?? []).map((m: Json) => m.Expression));
    // Ingest, relay, sweeper and every worker.
    expect(expressions.filter((e) => e === 'errors + throttles')).toHaveLength(
      3 + definitions.taskTypes.length,
    );
    // Powertools adds a service dimension (and the runtime a taskType) to every metric, so
    // the alarms on runtime metrics query the namespace across dimensions.
    for (const metric of ['TasksFailed', 'TimersResent', 'LifecycleEventsRepublished'])
      expect(expressions).toContain(`SELECT SUM(${metric}) FROM "Hourglass"`);
    expect(hourglass.alarms).toHaveLength(alarms.length);
    const body = JSON.stringify(
      ofType('AWS::CloudWatch::Dashboard')[0]![1].Properties.DashboardBody,
    );
    for (const metric of [
      'TasksCompleted',
      'LateCancels',
      'TimerLatenessMs',
      'EventsRejected',
      'TimersResent',
    ])
      expect(body).toContain(metric);
  });

  it('runs the sweeper every 5 minutes, allowed to read the indexes, mark tasks, publish and send to the task queues only', () => {
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(5 minutes)' });
    const [sweeperId] = ofType('AWS::Lambda::Function').find(([id]) =>
      id.startsWith('HourglassSweeper'),
    )!;
    const roleRef = resources[sweeperId]!.Properties.Role['Fn::GetAtt'][0];
    const statements = ofType('AWS::IAM::Policy')
      .filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleRef))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    const actions = statements
      .flatMap((s) => [s.Action].flat())
      .filter((a: string) => !a.startsWith('xray:'));
    expect(new Set(actions)).toEqual(
      new Set(['dynamodb:Query', 'dynamodb:UpdateItem', 'sqs:SendMessage', 'events:PutEvents']),
    );
  });

  it('passes cdk-nag AwsSolutions and Serverless checks with no unsuppressed errors', () => {
    // Nested stacks (the workers) report their findings through the main stack's artifact.
    const errors = Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('.*'));
    expect(errors.map((e) => `${e.id}: ${String(e.entry.data).split('\n')[0]}`)).toEqual([]);
  });

  it('gives every suppression a reason', () => {
    const suppressions = Object.values(everywhere).flatMap(
      (r) => r.Metadata?.cdk_nag?.rules_to_suppress ?? [],
    );
    expect(suppressions.length).toBeGreaterThan(0);
    for (const s of suppressions) expect(s.reason.length).toBeGreaterThan(40);
  });
});

describe('a deployment of 100 task types', () => {
  it('synthesizes: every stack under 500 resources, every function environment under 4 KB', () => {
    const { app, stack } = newStack();
    const taskTypes = Array.from({ length: 100 }, (_, i) =>
      defineTaskType({ name: `a-rather-long-task-type-name-number-${i}` }),
    );
    const workflows = taskTypes.map((task, i) =>
      defineRule({
        name: `rule-${i}`,
        key: 'detail.id',
        on: defineEvent({
          source: 'scale',
          detailType: `Happened${i}`,
          schema: z.object({ id: z.string() }),
        }),
        schedule: { task },
      }),
    );
    const hourglass = new Hourglass(stack, 'Hourglass', {
      workflows: defineHourglass({ taskTypes, workflows }),
    });
    for (const t of taskTypes) hourglass.addWorker(t.name, { entry: workerEntry('end-discount') });

    const assembly = app.synth();
    const stacks = [stack, ...workerStacks(hourglass)];
    expect(stacks).toHaveLength(1 + Math.ceil(100 / WORKERS_PER_STACK));
    for (const s of stacks) {
      const resources = Object.values(Template.fromStack(s).toJSON().Resources as Resources);
      expect(resources.length).toBeLessThan(500);
      for (const fn of resources.filter((r) => r.Type === 'AWS::Lambda::Function')) {
        // Unresolved references print longer than the values they resolve to, so this
        // over-counts: the deployed environment is smaller still.
        const bytes = Buffer.byteLength(JSON.stringify(fn.Properties.Environment.Variables));
        expect(bytes).toBeLessThan(4_096);
      }
    }
    expect(assembly.stacks).toHaveLength(1);
  });
});

describe('Hourglass observability', () => {
  it('traces with X-Ray and logs at the level asked for, on every function', () => {
    const { stack } = newStack();
    const hourglass = new Hourglass(stack, 'Hourglass', {
      workflows: definitions,
      observability: { tracing: true, logLevel: 'INFO' },
    });
    for (const t of definitions.taskTypes)
      hourglass.addWorker(t.name, { entry: workerEntry(t.name) });
    const functions = [stack, ...workerStacks(hourglass)].flatMap((s) =>
      Object.values(Template.fromStack(s).toJSON().Resources as Resources).filter(
        (r) => r.Type === 'AWS::Lambda::Function',
      ),
    );
    expect(functions).toHaveLength(3 + definitions.taskTypes.length);
    for (const fn of functions) {
      expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
      expect(fn.Properties.Environment.Variables.POWERTOOLS_LOG_LEVEL).toBe('INFO');
    }
  });
});

describe('the ingest function of your own workflows', () => {
  it('is bundled from the module the definitions were made in, so it runs what the rules route', () => {
    expect(definitions.module).toBe(resolve(import.meta.dirname, '../../workflows/index.ts'));
    const entry = ingestEntryFor('H', definitions);
    const source = readFileSync(entry, 'utf8');
    expect(source).toContain(`import * as workflows from ${JSON.stringify(definitions.module)};`);
    expect(source).toContain('export const handler = ingestHandler(');
  });

  it('fails synthesis saying how to fix it when the definitions do not know their module', () => {
    const anonymous = { ...definitions, module: null };
    expect(() => new Hourglass(newStack().stack, 'H', { workflows: anonymous })).toThrow(
      /cannot tell which module defines the workflows, so ingest cannot be bundled from it; pass module: import.meta.url to defineHourglass/,
    );
  });
});

describe('Hourglass validation', () => {
  it('fails synthesis naming a task type that has no worker', () => {
    const { app, stack } = newStack();
    const hourglass = new Hourglass(stack, 'Hourglass', { workflows: definitions });
    hourglass.addWorker('send-discount-code', { entry: workerEntry('send-discount-code') });
    expect(() => app.synth()).toThrow(
      /task type 'discount-reminder' has no worker; add hourglass.addWorker\('discount-reminder'/,
    );
  });

  it.each([
    [
      'definitions that are not from defineHourglass',
      () => new Hourglass(newStack().stack, 'H', { workflows: {} as never }),
      'props.workflows must be the result of defineHourglass',
    ],
    [
      'a lead time out of range',
      () =>
        new Hourglass(newStack().stack, 'H', { workflows: definitions, scheduleLeadSeconds: 900 }),
      'props.scheduleLeadSeconds must be a whole number of seconds from 60 to 840',
    ],
    [
      "a lead time under Scheduler's one-minute window",
      () =>
        new Hourglass(newStack().stack, 'H', { workflows: definitions, scheduleLeadSeconds: 30 }),
      'so a shorter lead could fire after the due time), got 30',
    ],
    [
      'a retention in part days',
      () =>
        new Hourglass(newStack().stack, 'H', {
          workflows: definitions,
          retention: Duration.hours(36),
        }),
      'props.retention must be whole days from 1 to 3650, got 1.5',
    ],
    [
      'a retention shorter than the workflows replay, plus a week',
      () =>
        new Hourglass(newStack().stack, 'H', {
          workflows: defineHourglass({
            taskTypes: [sendDiscountCode],
            workflows: [
              defineRule({
                name: 'long-memory',
                key: 'detail.userId',
                on: UserRegistered,
                schedule: { task: sendDiscountCode, after: '1h' },
                retain: '30d',
              }),
            ],
          }),
        }),
      "props.retention is 30 days, but these workflows replay up to 30 days of history (their longest retain, or 14 days), and a finished task's row must outlast that by a week, or a replayed event would run its task again; set retention to at least 37 days",
    ],
    [
      'an unknown task type',
      () =>
        new Hourglass(newStack().stack, 'H', { workflows: definitions }).addWorker('nope', {
          entry: 'x.ts',
        }),
      "addWorker: 'nope' is not a task type of these workflows",
    ],
    [
      'a batch size over 10',
      () =>
        new Hourglass(newStack().stack, 'H', { workflows: definitions }).addWorker('end-discount', {
          entry: workerEntry('end-discount'),
          batchSize: 11,
        }),
      "addWorker('end-discount'): options.batchSize must be a whole number from 1 to 10, got 11",
    ],
    [
      'a concurrency of 1',
      () =>
        new Hourglass(newStack().stack, 'H', { workflows: definitions }).addWorker('end-discount', {
          entry: workerEntry('end-discount'),
          concurrency: 1,
        }),
      'options.concurrency must be a whole number from 2 to 1000, got 1',
    ],
    [
      'a timeout shorter than the task type',
      () =>
        new Hourglass(newStack().stack, 'H', { workflows: definitions }).addWorker(
          'send-group-email',
          { entry: workerEntry('send-group-email'), timeout: Duration.seconds(60) },
        ),
      "addWorker('send-group-email'): options.timeout must be from 300s (the task type's timeout) to 330s",
    ],
    [
      'a timeout that would outlive the lease',
      () =>
        new Hourglass(newStack().stack, 'H', { workflows: definitions }).addWorker(
          'send-group-email',
          { entry: workerEntry('send-group-email'), timeout: Duration.seconds(600) },
        ),
      "so the function ends before the attempt's lease), got 600s",
    ],
    [
      'a missing entry',
      () =>
        new Hourglass(newStack().stack, 'H', { workflows: definitions }).addWorker('end-discount', {
          entry: '',
        }),
      "options.entry must be the path of the worker's handler file",
    ],
  ])('refuses %s, naming the prop', (_, build, message) => {
    expect(build).toThrow(message);
  });

  it('refuses a second worker for a task type', () => {
    const hourglass = new Hourglass(newStack().stack, 'H', { workflows: definitions });
    hourglass.addWorker('end-discount', { entry: workerEntry('end-discount') });
    expect(() =>
      hourglass.addWorker('end-discount', { entry: workerEntry('end-discount') }),
    ).toThrow("task type 'end-discount' already has a worker");
  });

  it('uses a bus it is given instead of creating one', () => {
    const { stack } = newStack();
    const bus = new events.EventBus(stack, 'Shop');
    const hourglass = new Hourglass(stack, 'H', { workflows: definitions, bus });
    for (const t of definitions.taskTypes)
      hourglass.addWorker(t.name, { entry: workerEntry(t.name) });
    expect(hourglass.bus).toBe(bus);
    Template.fromStack(stack).resourceCountIs('AWS::Events::EventBus', 1);
  });
});

describe('Outbox', () => {
  it("publishes a producer table's outbox items to the bus, reading only that table's stream", () => {
    const { stack } = newStack();
    const table = new dynamodb.Table(stack, 'Orders', {
      partitionKey: { name: 'PK', type: dynamodb.AttributeType.STRING },
      stream: dynamodb.StreamViewType.NEW_IMAGE,
    });
    const bus = new events.EventBus(stack, 'Bus');
    new Outbox(stack, 'Outbox', { table, bus });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      FilterCriteria: {
        Filters: [
          {
            Pattern: JSON.stringify({
              eventName: ['INSERT'],
              dynamodb: { NewImage: { outboxEvent: { M: [{ exists: true }] } } },
            }),
          },
        ],
      },
    });
    const statements = Object.values(template.toJSON().Resources as Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .flatMap((p) => p.Properties.PolicyDocument.Statement);
    expect(statements.some((s) => s.Action === 'events:PutEvents')).toBe(true);
    const dynamo = statements.filter((s) => JSON.stringify(s.Action).includes('dynamodb:'));
    for (const s of dynamo.filter((s) => s.Action !== 'dynamodb:ListStreams'))
      expect([s.Resource].flat()).not.toContain('*');
    // ListStreams has no resource type: only "*" grants it.
    expect(dynamo.find((s) => s.Action === 'dynamodb:ListStreams')?.Resource).toBe('*');
  });

  it('refuses a table without a stream', () => {
    const { stack } = newStack();
    const table = new dynamodb.Table(stack, 'Orders', {
      partitionKey: { name: 'PK', type: dynamodb.AttributeType.STRING },
    });
    expect(
      () => new Outbox(stack, 'Outbox', { table, bus: new events.EventBus(stack, 'Bus') }),
    ).toThrow('props.table must have a stream');
  });
});
