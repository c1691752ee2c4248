import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, Lazy, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import {
  DEFAULT_SCHEDULE_LEAD_SECONDS,
  ENV,
  MAX_SCHEDULE_LEAD_SECONDS,
  MIN_SCHEDULE_LEAD_SECONDS,
  SCHEDULE_LEAD_RULE,
} from '../shared/aws/config';
import { TABLE_SCHEMA } from '../shared/aws/table';
import { Metric } from '../shared/aws/telemetry';
import type { HourglassDefinitions, TaskType } from '../shared/core/definitions';
import { bundled } from './function';
import { suppressDeadLetterQueueFindings } from './nag';
import { ingestPatterns } from './patterns';
import { addStreamSource } from './stream-source';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Visibility timeout of a task queue, as a multiple of its worker's timeout (AWS's advice for SQS event sources). */
export const VISIBILITY_TIMEOUT_FACTOR = 6;
/** Receives before a message moves to its DLQ. */
export const MAX_RECEIVE_COUNT = 5;

/** Props of {@link Hourglass}. */
export interface HourglassProps {
  /** The definitions to deploy: `defineHourglass({ taskTypes, workflows })`. */
  readonly workflows: HourglassDefinitions;
  /** The bus domain events arrive on and lifecycle events go to. @default a new bus */
  readonly bus?: events.IEventBus;
  /**
   * The ingest function's entry. It must bundle the same definitions as `workflows`.
   * @default functions/ingest.ts (which imports workflows/)
   */
  readonly ingestEntry?: string;
  /** @default functions/relay.ts */
  readonly relayEntry?: string;
  /** @default functions/sweeper.ts */
  readonly sweeperEntry?: string;
  /** What happens to the table when the stack is deleted. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * How early one-shot schedules fire before the due time, in seconds (60–840: Scheduler
   * fires anywhere in a schedule's minute). @default 120
   */
  readonly scheduleLeadSeconds?: number;
}

/** Options of {@link Hourglass.addWorker}. */
export interface WorkerOptions {
  /** The worker's entry file, e.g. `functions/workers/send-discount-code.ts`. */
  readonly entry: string;
  /** @default 256 */
  readonly memorySize?: number;
  /** The function timeout. @default the task type's timeout plus 30 seconds */
  readonly timeout?: Duration;
  /** Most concurrent invocations (SQS maximum concurrency, 2–1000). @default the task type's concurrency, else no limit */
  readonly concurrency?: number;
  /** Messages per invocation (1–10). @default 5 */
  readonly batchSize?: number;
}

/** A task type's queue, DLQ and worker. */
export interface Worker {
  readonly taskType: TaskType;
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly function: NodejsFunction;
}

function encryptedQueue(scope: Construct, id: string, props: sqs.QueueProps = {}) {
  return new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    ...props,
  });
}

/**
 * Deploys Hourglass: the table (stream, indexes, point-in-time recovery), the ingest
 * queue fed by a bus rule generated from the workflows, the ingest and relay functions,
 * the Scheduler group, role and DLQ, alarms and a dashboard. Add one worker per task type
 * with {@link Hourglass.addWorker}; synthesis fails naming any task type without one.
 *
 * @example
 * const hourglass = new Hourglass(this, 'Hourglass', { workflows: definitions });
 * hourglass.addWorker('send-discount-code', { entry: 'functions/workers/send-discount-code.ts' });
 */
export class Hourglass extends Construct {
  readonly table: dynamodb.Table;
  readonly bus: events.IEventBus;
  readonly ingestQueue: sqs.Queue;
  readonly ingestDeadLetterQueue: sqs.Queue;
  readonly ingestFunction: NodejsFunction;
  readonly relayFunction: NodejsFunction;
  readonly relayDeadLetterQueue: sqs.Queue;
  /** Re-sends the timers of tasks whose timer was lost (every 5 minutes). */
  readonly sweeperFunction: NodejsFunction;
  readonly scheduleGroup: scheduler.CfnScheduleGroup;
  readonly schedulerRole: iam.Role;
  readonly schedulerDeadLetterQueue: sqs.Queue;
  readonly rules: events.Rule[];
  readonly dashboard: cloudwatch.Dashboard;
  /** Workers by task type name. */
  readonly workers = new Map<string, Worker>();
  private readonly definitions: HourglassDefinitions;

  constructor(scope: Construct, id: string, props: HourglassProps) {
    super(scope, id);
    if (props?.workflows?.kind !== 'hourglass') {
      throw new Error(
        `Hourglass '${id}': props.workflows must be the result of defineHourglass({ taskTypes, workflows })`,
      );
    }
    const lead = props.scheduleLeadSeconds ?? DEFAULT_SCHEDULE_LEAD_SECONDS;
    if (
      !Number.isInteger(lead) ||
      lead < MIN_SCHEDULE_LEAD_SECONDS ||
      lead > MAX_SCHEDULE_LEAD_SECONDS
    ) {
      throw new Error(
        `Hourglass '${id}': props.scheduleLeadSeconds must be ${SCHEDULE_LEAD_RULE}, got ${lead}`,
      );
    }
    this.definitions = props.workflows;
    const stack = Stack.of(this);

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: TABLE_SCHEMA.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_SCHEMA.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      stream: dynamodb.StreamViewType[TABLE_SCHEMA.stream],
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    for (const index of TABLE_SCHEMA.indexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
      });
    }

    this.bus = props.bus ?? new events.EventBus(this, 'Bus');

    this.ingestDeadLetterQueue = encryptedQueue(this, 'IngestDLQ', {
      retentionPeriod: Duration.days(14),
    });
    this.ingestQueue = encryptedQueue(this, 'IngestQueue', {
      visibilityTimeout: Duration.seconds(VISIBILITY_TIMEOUT_FACTOR * 30),
      deadLetterQueue: { queue: this.ingestDeadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
    });
    this.rules = ingestPatterns(this.definitions).map((pattern, i) => {
      const rule = new events.Rule(this, `IngestRule${i}`, {
        eventBus: this.bus,
        description:
          `Hourglass ingest: ${pattern.source[0]} ${pattern['detail-type'].join(', ')}`.slice(
            0,
            512,
          ),
        eventPattern: {
          source: pattern.source,
          detailType: pattern['detail-type'],
          ...(pattern.detail ? { detail: pattern.detail } : {}),
        },
      });
      rule.addTarget(
        new targets.SqsQueue(this.ingestQueue, {
          deadLetterQueue: this.ingestDeadLetterQueue,
          retryAttempts: 185,
        }),
      );
      return rule;
    });

    this.ingestFunction = bundled(
      this,
      'Ingest',
      props.ingestEntry ?? join(ROOT, 'functions/ingest.ts'),
      {
        timeout: Duration.seconds(30),
        environment: { [ENV.tableName]: this.table.tableName },
      },
    );
    this.ingestFunction.addEventSource(
      new SqsEventSource(this.ingestQueue, {
        batchSize: 10,
        maxBatchingWindow: Duration.seconds(1),
        reportBatchItemFailures: true,
      }),
    );
    this.table.grant(
      this.ingestFunction,
      'dynamodb:Query',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:ConditionCheckItem',
    );

    this.schedulerDeadLetterQueue = encryptedQueue(this, 'SchedulerDLQ', {
      retentionPeriod: Duration.days(14),
    });
    this.scheduleGroup = new scheduler.CfnScheduleGroup(this, 'ScheduleGroup', {
      name: `${stack.stackName}-${id}`.replace(/[^0-9A-Za-z_.-]/g, '-').slice(0, 64),
    });
    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: 'EventBridge Scheduler sends due Hourglass timers to the task queues',
    });
    this.schedulerDeadLetterQueue.grantSendMessages(this.schedulerRole);

    this.relayDeadLetterQueue = encryptedQueue(this, 'RelayDLQ', {
      retentionPeriod: Duration.days(14),
    });
    this.relayFunction = bundled(
      this,
      'Relay',
      props.relayEntry ?? join(ROOT, 'functions/relay.ts'),
      {
        timeout: Duration.seconds(60),
        environment: {
          [ENV.busName]: this.bus.eventBusName,
          [ENV.scheduleGroup]: this.scheduleGroup.ref,
          [ENV.schedulerRoleArn]: this.schedulerRole.roleArn,
          [ENV.schedulerDlqArn]: this.schedulerDeadLetterQueue.queueArn,
          [ENV.scheduleLeadSeconds]: String(lead),
          [ENV.taskQueues]: Lazy.string({
            produce: () => this.queuesJson([...this.workers.keys()]),
          }),
        },
      },
    );
    addStreamSource(this.relayFunction, {
      tableArn: this.table.tableArn,
      streamArn: this.table.tableStreamArn!,
      onFailure: this.relayDeadLetterQueue,
      filters: [
        lambda.FilterCriteria.filter({
          dynamodb: { NewImage: { type: { S: lambda.FilterRule.isEqual('task') } } },
        }),
      ],
    });
    this.bus.grantPutEventsTo(this.relayFunction);
    this.relayFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['scheduler:CreateSchedule', 'scheduler:DeleteSchedule'],
        resources: [
          stack.formatArn({
            service: 'scheduler',
            resource: 'schedule',
            resourceName: `${this.scheduleGroup.ref}/*`,
          }),
        ],
      }),
    );
    this.relayFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.schedulerRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      }),
    );

    this.sweeperFunction = bundled(
      this,
      'Sweeper',
      props.sweeperEntry ?? join(ROOT, 'functions/sweeper.ts'),
      {
        timeout: Duration.seconds(60),
        environment: {
          [ENV.tableName]: this.table.tableName,
          [ENV.taskQueues]: Lazy.string({
            produce: () => this.queuesJson([...this.workers.keys()]),
          }),
        },
      },
    );
    this.sweeperFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${this.table.tableArn}/index/${TABLE_SCHEMA.indexes[0].name}`],
      }),
    );
    const sweeperSchedule = new events.Rule(this, 'SweeperSchedule', {
      description: 'Hourglass: re-send the timers of tasks whose timer was lost',
      schedule: events.Schedule.rate(Duration.minutes(5)),
      targets: [new targets.LambdaFunction(this.sweeperFunction, { retryAttempts: 2 })],
    });
    NagSuppressions.addResourceSuppressions(sweeperSchedule, [
      {
        id: 'Serverless-EventBusDLQ',
        reason:
          'The sweep is periodic and idempotent: a missed invocation is covered by the next one five minutes later, so there is nothing worth keeping in a DLQ.',
      },
    ]);

    this.node.addValidation({
      validate: () =>
        this.definitions.taskTypes
          .filter((t) => !this.workers.has(t.name))
          .map(
            (t) =>
              `Hourglass '${id}': task type '${t.name}' has no worker; add hourglass.addWorker('${t.name}', { entry: 'functions/workers/${t.name}.ts' })`,
          ),
    });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${stack.stackName}-${id}`.slice(0, 255),
    });
    this.alarmOnQueue('Ingest', this.ingestQueue, this.ingestDeadLetterQueue);
    this.alarmOnDlq('Scheduler', this.schedulerDeadLetterQueue);
    this.alarmOnDlq('Relay', this.relayDeadLetterQueue);
    new cloudwatch.Alarm(this, 'RelayIteratorAgeAlarm', {
      metric: this.relayFunction.metric('IteratorAge', {
        statistic: 'Maximum',
        period: Duration.minutes(1),
      }),
      threshold: 60_000,
      evaluationPeriods: 5,
      alarmDescription:
        'The relay is more than a minute behind the table stream: timers and lifecycle events are late',
    });
    this.addDashboardWidgets();
    suppressDeadLetterQueueFindings(
      [this.ingestDeadLetterQueue],
      'events the ingest queue could not deliver',
    );
    suppressDeadLetterQueueFindings(
      [this.schedulerDeadLetterQueue],
      'schedules EventBridge Scheduler could not deliver',
    );
    suppressDeadLetterQueueFindings(
      [this.relayDeadLetterQueue],
      "the relay's on-failure destination for stream records",
    );
  }

  private queuesJson(taskTypes: readonly string[]): string {
    return Stack.of(this).toJsonString(
      Object.fromEntries(
        taskTypes.map((t) => [
          t,
          { url: this.workers.get(t)!.queue.queueUrl, arn: this.workers.get(t)!.queue.queueArn },
        ]),
      ),
    );
  }

  private alarmOnDlq(name: string, dlq: sqs.Queue) {
    new cloudwatch.Alarm(this, `${name}DLQDepthAlarm`, {
      metric: dlq.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      alarmDescription: `${name} messages reached the dead-letter queue: inspect and redrive them`,
    });
  }

  private alarmOnQueue(name: string, queue: sqs.Queue, dlq: sqs.Queue, maxAgeSeconds = 300) {
    this.alarmOnDlq(name, dlq);
    new cloudwatch.Alarm(this, `${name}OldestMessageAlarm`, {
      metric: queue.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      threshold: maxAgeSeconds,
      evaluationPeriods: 3,
      alarmDescription: `${name} queue messages wait more than ${maxAgeSeconds}s: its consumer is failing or too slow`,
    });
  }

  private addDashboardWidgets() {
    const metric = (name: string, statistic = 'Sum') =>
      new cloudwatch.Metric({
        namespace: 'Hourglass',
        metricName: name,
        statistic,
        period: Duration.minutes(1),
      });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Events',
        left: [
          Metric.eventsAccepted,
          Metric.eventsRejected,
          Metric.duplicates,
          Metric.conflicts,
        ].map((m) => metric(m)),
      }),
      new cloudwatch.GraphWidget({
        title: 'Tasks',
        left: [
          Metric.scheduled,
          Metric.cancelled,
          Metric.lateCancels,
          Metric.completed,
          Metric.failed,
          Metric.expired,
          Metric.retried,
        ].map((m) => metric(m)),
      }),
      new cloudwatch.GraphWidget({
        title: 'Timer lateness (ms)',
        left: [metric(Metric.lateness, 'p50'), metric(Metric.lateness, 'p99')],
      }),
      new cloudwatch.GraphWidget({
        title: 'Relay',
        left: [metric(Metric.timersArmed), metric(Metric.lifecycleEvents)],
        right: [this.relayFunction.metric('IteratorAge', { statistic: 'Maximum' })],
      }),
    );
  }

  /**
   * Adds the queue, DLQ and worker function of a task type. The queue's visibility timeout
   * is 6× the function timeout; the event source reports partial batch failures and caps
   * concurrency at the task type's `concurrency`.
   */
  addWorker(taskType: string, options: WorkerOptions): Worker {
    const type = this.definitions.taskTypes.find((t) => t.name === taskType);
    if (type === undefined) {
      throw new Error(
        `addWorker: '${taskType}' is not a task type of these workflows; the task types are: ${this.definitions.taskTypes.map((t) => t.name).join(', ')}`,
      );
    }
    if (this.workers.has(taskType))
      throw new Error(`addWorker: task type '${taskType}' already has a worker`);
    if (typeof options?.entry !== 'string' || options.entry === '') {
      throw new Error(
        `addWorker('${taskType}'): options.entry must be the path of the worker's handler file`,
      );
    }
    const batchSize = options.batchSize ?? 5;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10) {
      throw new Error(
        `addWorker('${taskType}'): options.batchSize must be a whole number from 1 to 10, got ${batchSize}`,
      );
    }
    const concurrency = options.concurrency ?? type.concurrency ?? undefined;
    if (
      concurrency !== undefined &&
      (!Number.isInteger(concurrency) || concurrency < 2 || concurrency > 1000)
    ) {
      throw new Error(
        `addWorker('${taskType}'): options.concurrency must be a whole number from 2 to 1000, got ${concurrency}`,
      );
    }
    const timeout =
      options.timeout ?? Duration.seconds(Math.min(900, Math.ceil(type.timeoutMs / 1000) + 30));
    if (timeout.toSeconds() * 1000 < type.timeoutMs) {
      throw new Error(
        `addWorker('${taskType}'): options.timeout (${timeout.toSeconds()}s) is shorter than the task type's timeout (${type.timeoutMs / 1000}s)`,
      );
    }
    const safeId = taskType.replace(/(^|-)(\w)/g, (_, __, c: string) => c.toUpperCase());
    const deadLetterQueue = encryptedQueue(this, `${safeId}DLQ`, {
      retentionPeriod: Duration.days(14),
    });
    const queue = encryptedQueue(this, `${safeId}Queue`, {
      visibilityTimeout: Duration.seconds(
        Math.min(43_200, VISIBILITY_TIMEOUT_FACTOR * timeout.toSeconds()),
      ),
      deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
    });
    const fn = bundled(this, `${safeId}Worker`, options.entry, {
      memorySize: options.memorySize ?? 256,
      timeout,
      environment: {
        [ENV.tableName]: this.table.tableName,
        [ENV.taskQueues]: Stack.of(this).toJsonString({
          [taskType]: { url: queue.queueUrl, arn: queue.queueArn },
        }),
        POWERTOOLS_SERVICE_NAME: `hourglass-${taskType}`,
      },
    });
    fn.addEventSource(
      new SqsEventSource(queue, {
        batchSize,
        reportBatchItemFailures: true,
        ...(concurrency ? { maxConcurrency: concurrency } : {}),
      }),
    );
    this.table.grant(fn, 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:PutItem');
    queue.grantSendMessages(fn);
    queue.grantSendMessages(this.relayFunction);
    queue.grantSendMessages(this.sweeperFunction);
    queue.grantSendMessages(this.schedulerRole);
    this.alarmOnQueue(safeId, queue, deadLetterQueue, 900 + 300);
    suppressDeadLetterQueueFindings(
      [deadLetterQueue],
      `timer messages of ${taskType} that kept failing`,
    );
    const worker: Worker = { taskType: type, queue, deadLetterQueue, function: fn };
    this.workers.set(taskType, worker);
    return worker;
  }
}
