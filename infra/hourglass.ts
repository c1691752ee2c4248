import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, NestedStack, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import {
  DEFAULT_SCHEDULE_LEAD_SECONDS,
  ENV,
  MAX_QUEUE_NAME_LENGTH,
  MAX_SCHEDULE_LEAD_SECONDS,
  MIN_SCHEDULE_LEAD_SECONDS,
  SCHEDULE_LEAD_RULE,
  taskQueueName,
} from '../shared/aws/config';
import {
  defaultWorkerBatchSize,
  INGEST,
  MAX_RECEIVE_COUNT,
  RELAY,
  RELAY_STREAM_ITEM_TYPE,
  SWEEPER,
  visibilityTimeoutFor,
  workerTimeoutRange,
} from '../shared/aws/settings';
import { DEFAULT_RETENTION_DAYS, TABLE_SCHEMA } from '../shared/aws/table';
import { Metric } from '../shared/aws/telemetry';
import { LEASE_MARGIN_MS } from '../shared/aws/worker';
import {
  CONCURRENCY_RANGE,
  type HourglassDefinitions,
  type TaskType,
} from '../shared/core/definitions';
import { minimumRetentionMs } from '../shared/core/history';
import { ingestPatterns } from '../shared/core/patterns';
import { bundled } from './function';
import { suppressDeadLetterQueueFindings } from './nag';
import { addStreamSource } from './stream-source';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Workers per nested stack. A worker costs 9 CloudFormation resources (queue, queue policy,
 * log group, role, policy, function, event source mapping, two alarms), and a stack holds at
 * most 500; workers live in nested stacks of this many, so the main stack holds one
 * resource per group however many task types there are.
 */
export const WORKERS_PER_STACK = 40;
/** The longest task type name (see definitions), which every queue name must leave room for. */
const MAX_TASK_TYPE_NAME_LENGTH = 40;

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
  /**
   * How long finished tasks, finished instances and rejected events stay in the table before
   * DynamoDB's TTL may delete them (whole days, 1–3650). @default 30 days
   */
  readonly retention?: Duration;
  /** Where every alarm notifies (alarm and OK). @default no notification: see `alarms` */
  readonly alarmTopic?: sns.ITopic;
}

/** Options of {@link Hourglass.addWorker}. */
export interface WorkerOptions {
  /** The worker's entry file, e.g. `functions/workers/send-discount-code.ts`. */
  readonly entry: string;
  /** @default 256 */
  readonly memorySize?: number;
  /**
   * The function timeout: from the task type's timeout to 30 s more (an attempt's lease is
   * its timeout plus 30 s, and must outlast the function, so that a handler which ignores
   * its abort signal is ended by Lambda before a retry can start). @default the task type's
   * timeout plus 30 seconds
   */
  readonly timeout?: Duration;
  /** Most concurrent invocations (SQS maximum concurrency, 2–1000). @default the task type's concurrency, else no limit */
  readonly concurrency?: number;
  /**
   * Messages per invocation (1–10). The worker runs a batch's records concurrently, or one
   * after another for a task type with a `concurrency` cap. @default 5, or 1 with a cap
   */
  readonly batchSize?: number;
}

/** A task type's queue and worker. Its dead letters go to the shared task DLQ. */
export interface Worker {
  readonly taskType: TaskType;
  readonly queue: sqs.Queue;
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
 * Deploys Hourglass: the table (stream, indexes, point-in-time recovery, TTL), the ingest
 * queue fed by a bus rule generated from the workflows, the ingest, relay and sweeper
 * functions, the Scheduler group, role and DLQ, alarms and a dashboard. Add one worker per
 * task type with {@link Hourglass.addWorker}; synthesis fails naming any task type without
 * one. Workers live in nested stacks of {@link WORKERS_PER_STACK}, so a deployment of
 * hundreds of task types stays within CloudFormation's 500 resources per stack.
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
  /** Re-sends lost timers and lost lifecycle events (every 5 minutes). */
  readonly sweeperFunction: NodejsFunction;
  readonly scheduleGroup: scheduler.CfnScheduleGroup;
  readonly schedulerRole: iam.Role;
  readonly schedulerDeadLetterQueue: sqs.Queue;
  /** Where every task queue's messages go after {@link MAX_RECEIVE_COUNT} receives. */
  readonly taskDeadLetterQueue: sqs.Queue;
  /** Task queue names are this prefix followed by the task type (`taskQueueName`). */
  readonly taskQueuePrefix: string;
  readonly rules: events.Rule[];
  readonly dashboard: cloudwatch.Dashboard;
  /** Every alarm the construct creates, for actions of your own. */
  readonly alarms: cloudwatch.Alarm[] = [];
  /** Workers by task type name. */
  readonly workers = new Map<string, Worker>();
  private readonly definitions: HourglassDefinitions;
  private readonly alarmTopic?: sns.ITopic;
  private readonly workerStacks: NestedStack[] = [];
  private readonly retentionDays: string;

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
    const retentionDays =
      props.retention === undefined
        ? DEFAULT_RETENTION_DAYS
        : props.retention.toHours({ integral: false }) / 24;
    if (!Number.isInteger(retentionDays) || retentionDays < 1 || retentionDays > 3650) {
      throw new Error(
        `Hourglass '${id}': props.retention must be whole days from 1 to 3650, got ${retentionDays}`,
      );
    }
    const needed = Math.ceil(minimumRetentionMs(props.workflows) / 86_400_000);
    if (retentionDays < needed) {
      throw new Error(
        `Hourglass '${id}': props.retention is ${retentionDays} days, but these workflows replay up to ${needed - 7} days of history (their longest retain, or 14 days), and a finished task's row must outlast that by a week, or a replayed event would run its task again; set retention to at least ${needed} days`,
      );
    }
    this.retentionDays = String(retentionDays);
    this.definitions = props.workflows;
    this.alarmTopic = props.alarmTopic;
    const stack = Stack.of(this);
    this.taskQueuePrefix = queuePrefix(stack, id);

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: TABLE_SCHEMA.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_SCHEMA.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      stream: dynamodb.StreamViewType[TABLE_SCHEMA.stream],
      timeToLiveAttribute: TABLE_SCHEMA.timeToLive,
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
      visibilityTimeout: Duration.seconds(visibilityTimeoutFor(INGEST.timeoutSeconds)),
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
        timeout: Duration.seconds(INGEST.timeoutSeconds),
        environment: {
          [ENV.tableName]: this.table.tableName,
          [ENV.retentionDays]: this.retentionDays,
        },
      },
    );
    this.ingestFunction.addEventSource(
      new SqsEventSource(this.ingestQueue, {
        batchSize: INGEST.batchSize,
        maxBatchingWindow: Duration.seconds(INGEST.batchingWindowSeconds),
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

    this.taskDeadLetterQueue = encryptedQueue(this, 'TaskDLQ', {
      retentionPeriod: Duration.days(14),
    });
    this.schedulerDeadLetterQueue = encryptedQueue(this, 'SchedulerDLQ', {
      retentionPeriod: Duration.days(14),
    });
    this.scheduleGroup = new scheduler.CfnScheduleGroup(this, 'ScheduleGroup', {
      name: `${stack.stackName}-${id}`.replace(/[^0-9A-Za-z_.-]/g, '-').slice(0, 64),
    });
    // Confused-deputy guard: only schedules of this account's own group may assume the role.
    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnEquals: {
            'aws:SourceArn': stack.formatArn({
              service: 'scheduler',
              resource: 'schedule-group',
              resourceName: this.scheduleGroup.ref,
            }),
          },
        },
      }),
      description: 'EventBridge Scheduler sends due Hourglass timers to the task queues',
    });
    this.schedulerDeadLetterQueue.grantSendMessages(this.schedulerRole);

    const taskQueues = {
      [ENV.taskQueueUrlPrefix]: `https://sqs.${stack.region}.${stack.urlSuffix}/${stack.account}/${this.taskQueuePrefix}`,
      [ENV.taskQueueArnPrefix]: this.taskQueueArn(''),
    };

    this.relayDeadLetterQueue = encryptedQueue(this, 'RelayDLQ', {
      retentionPeriod: Duration.days(14),
    });
    this.relayFunction = bundled(
      this,
      'Relay',
      props.relayEntry ?? join(ROOT, 'functions/relay.ts'),
      {
        timeout: Duration.seconds(RELAY.timeoutSeconds),
        environment: {
          [ENV.tableName]: this.table.tableName,
          [ENV.busName]: this.bus.eventBusName,
          [ENV.scheduleGroup]: this.scheduleGroup.ref,
          [ENV.schedulerRoleArn]: this.schedulerRole.roleArn,
          [ENV.schedulerDlqArn]: this.schedulerDeadLetterQueue.queueArn,
          [ENV.scheduleLeadSeconds]: String(lead),
          ...taskQueues,
        },
      },
    );
    addStreamSource(this.relayFunction, {
      tableArn: this.table.tableArn,
      streamArn: this.table.tableStreamArn!,
      onFailure: this.relayDeadLetterQueue,
      filters: [
        lambda.FilterCriteria.filter({
          dynamodb: {
            NewImage: { type: { S: lambda.FilterRule.isEqual(RELAY_STREAM_ITEM_TYPE) } },
          },
        }),
      ],
    });
    this.bus.grantPutEventsTo(this.relayFunction);
    // Marks published lifecycle events (removes the unpublished mark of the task row).
    this.table.grant(this.relayFunction, 'dynamodb:UpdateItem');
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
        timeout: Duration.seconds(SWEEPER.timeoutSeconds),
        environment: {
          [ENV.tableName]: this.table.tableName,
          [ENV.busName]: this.bus.eventBusName,
          ...taskQueues,
        },
      },
    );
    this.sweeperFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: TABLE_SCHEMA.indexes.map(
          (index) => `${this.table.tableArn}/index/${index.name}`,
        ),
      }),
    );
    // Marks swept tasks and published lifecycle events.
    this.table.grant(this.sweeperFunction, 'dynamodb:UpdateItem');
    this.bus.grantPutEventsTo(this.sweeperFunction);
    // The relay, the sweeper and Scheduler send timers to every task queue, by naming rule.
    const sendToTaskQueues = new iam.PolicyStatement({
      actions: ['sqs:SendMessage'],
      resources: [this.taskQueueArn('*')],
    });
    for (const grantee of [this.relayFunction, this.sweeperFunction])
      grantee.addToRolePolicy(sendToTaskQueues);
    this.schedulerRole.addToPrincipalPolicy(sendToTaskQueues);

    const sweeperSchedule = new events.Rule(this, 'SweeperSchedule', {
      description: 'Hourglass: re-send lost timers and lost lifecycle events',
      schedule: events.Schedule.rate(Duration.minutes(SWEEPER.intervalMinutes)),
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
    this.alarmOnQueue(this, 'Ingest', this.ingestQueue, this.ingestDeadLetterQueue);
    this.alarmOnDlq(this, 'Task', this.taskDeadLetterQueue);
    this.alarmOnDlq(this, 'Scheduler', this.schedulerDeadLetterQueue);
    this.alarmOnDlq(this, 'Relay', this.relayDeadLetterQueue);
    for (const [name, fn] of [
      ['Ingest', this.ingestFunction],
      ['Relay', this.relayFunction],
      ['Sweeper', this.sweeperFunction],
    ] as const)
      this.alarmOnFunction(this, name, fn);
    this.alarm(this, 'RelayIteratorAgeAlarm', {
      metric: this.relayFunction.metric('IteratorAge', {
        statistic: 'Maximum',
        period: Duration.minutes(1),
      }),
      threshold: 60_000,
      evaluationPeriods: 5,
      alarmDescription:
        'The relay is more than a minute behind the table stream: timers and lifecycle events are late',
    });
    this.alarm(this, 'TasksFailedAlarm', {
      metric: hourglassTotal(Metric.failed, Duration.minutes(5)),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription:
        'Tasks FAILED (retries exhausted or a NonRetryableError): see `lastError` on their rows',
    });
    for (const [id, metric, what] of [
      ['TimersResentAlarm', Metric.timersResent, 'lost timers'],
      ['LifecycleRepublishedAlarm', Metric.lifecycleRepublished, 'lost lifecycle events'],
    ] as const) {
      this.alarm(this, id, {
        metric: hourglassTotal(metric, Duration.minutes(5)),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `The sweeper re-sent ${what}: the pipeline is losing work (check the relay and Scheduler DLQs and the relay's errors)`,
      });
    }
    this.addDashboardWidgets();
    suppressDeadLetterQueueFindings(
      [this.ingestDeadLetterQueue],
      'events the ingest queue could not deliver',
    );
    suppressDeadLetterQueueFindings(
      [this.taskDeadLetterQueue],
      'timer messages of every task type that kept failing; a redrive moves each back to its own queue',
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

  /** The ARN of a task queue (or, with `*`, of them all) by the naming rule. */
  private taskQueueArn(taskType: string): string {
    return Stack.of(this).formatArn({
      service: 'sqs',
      resource: taskQueueName(this.taskQueuePrefix, taskType),
    });
  }

  /** Creates an alarm that notifies the alarm topic, if any, and lists it in `alarms`. */
  private alarm(scope: Construct, id: string, props: cloudwatch.AlarmProps): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(scope, id, props);
    if (this.alarmTopic) {
      const action = new cloudwatchActions.SnsAction(this.alarmTopic);
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
    this.alarms.push(alarm);
    return alarm;
  }

  private alarmOnDlq(scope: Construct, name: string, dlq: sqs.Queue) {
    this.alarm(scope, `${name}DLQDepthAlarm`, {
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

  private alarmOnQueue(
    scope: Construct,
    name: string,
    queue: sqs.Queue,
    dlq?: sqs.Queue,
    maxAgeSeconds = 300,
  ) {
    if (dlq) this.alarmOnDlq(scope, name, dlq);
    this.alarm(scope, `${name}OldestMessageAlarm`, {
      metric: queue.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      threshold: maxAgeSeconds,
      evaluationPeriods: 3,
      alarmDescription: `${name} queue messages wait more than ${maxAgeSeconds}s: its consumer is failing or too slow`,
    });
  }

  /** One alarm on a function's errors (crashes, timeouts) and throttles together. */
  private alarmOnFunction(scope: Construct, name: string, fn: lambda.Function) {
    this.alarm(scope, `${name}ErrorsAlarm`, {
      metric: new cloudwatch.MathExpression({
        expression: 'errors + throttles',
        usingMetrics: {
          errors: fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
          throttles: fn.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' }),
        },
        period: Duration.minutes(5),
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `The ${name} function crashed, timed out or was throttled: see its logs`,
    });
  }

  private addDashboardWidgets() {
    const total = (name: Metric) => hourglassTotal(name, Duration.minutes(1));
    // Lateness is per task type; SEARCH keeps one line per type, with percentiles.
    const lateness = (statistic: string) =>
      new cloudwatch.MathExpression({
        expression: `SEARCH('{Hourglass,service,taskType} MetricName="${Metric.lateness}"', '${statistic}', 60)`,
        label: `lateness ${statistic}`,
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
        ].map(total),
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
        ].map(total),
      }),
      new cloudwatch.GraphWidget({
        title: 'Timer lateness (ms)',
        left: [lateness('p50'), lateness('p99')],
      }),
      new cloudwatch.GraphWidget({
        title: 'Relay and sweeper',
        left: [
          Metric.timersArmed,
          Metric.lifecycleEvents,
          Metric.timersResent,
          Metric.lifecycleRepublished,
          Metric.handedBack,
        ].map(total),
        right: [this.relayFunction.metric('IteratorAge', { statistic: 'Maximum' })],
      }),
    );
  }

  /** The nested stack the next worker goes in: a new one every {@link WORKERS_PER_STACK}. */
  private workerStack(): NestedStack {
    const index = Math.floor(this.workers.size / WORKERS_PER_STACK);
    this.workerStacks[index] ??= new NestedStack(this, `Workers${index + 1}`, {
      description: `Hourglass workers ${index * WORKERS_PER_STACK + 1}–${(index + 1) * WORKERS_PER_STACK}`,
    });
    return this.workerStacks[index]!;
  }

  /**
   * Adds the queue and worker function of a task type, in a nested stack. The queue is named
   * by the naming rule, its visibility timeout is 6× the function timeout, and its dead
   * letters go to the shared task DLQ; the event source reports partial batch failures and
   * caps concurrency at the task type's `concurrency`. The worker may read and update task
   * rows and send to its own queue; grant anything else its handler needs on
   * `worker.function`.
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
    const concurrency = options.concurrency ?? type.concurrency ?? undefined;
    if (
      concurrency !== undefined &&
      (!Number.isInteger(concurrency) ||
        concurrency < CONCURRENCY_RANGE.min ||
        concurrency > CONCURRENCY_RANGE.max)
    ) {
      throw new Error(
        `addWorker('${taskType}'): options.concurrency must be a whole number from ${CONCURRENCY_RANGE.min} to ${CONCURRENCY_RANGE.max}, got ${concurrency}`,
      );
    }
    const batchSize = options.batchSize ?? defaultWorkerBatchSize(type);
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10) {
      throw new Error(
        `addWorker('${taskType}'): options.batchSize must be a whole number from 1 to 10, got ${batchSize}`,
      );
    }
    const range = workerTimeoutRange(type);
    const timeout = options.timeout ?? Duration.seconds(range.max);
    if (timeout.toSeconds() < range.min || timeout.toSeconds() > range.max) {
      throw new Error(
        `addWorker('${taskType}'): options.timeout must be from ${range.min}s (the task type's timeout) to ${range.max}s (its timeout plus the ${LEASE_MARGIN_MS / 1000}s lease margin, so the function ends before the attempt's lease), got ${timeout.toSeconds()}s`,
      );
    }
    const scope = this.workerStack();
    const safeId = taskType.replace(/(^|-)(\w)/g, (_, __, c: string) => c.toUpperCase());
    const queue = encryptedQueue(scope, `${safeId}Queue`, {
      queueName: taskQueueName(this.taskQueuePrefix, taskType),
      visibilityTimeout: Duration.seconds(visibilityTimeoutFor(timeout.toSeconds())),
      deadLetterQueue: { queue: this.taskDeadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
    });
    const stack = Stack.of(this);
    const fn = bundled(scope, `${safeId}Worker`, options.entry, {
      memorySize: options.memorySize ?? 256,
      timeout,
      environment: {
        [ENV.tableName]: this.table.tableName,
        [ENV.retentionDays]: this.retentionDays,
        [ENV.taskQueueUrlPrefix]: `https://sqs.${stack.region}.${stack.urlSuffix}/${stack.account}/${this.taskQueuePrefix}`,
        [ENV.taskQueueArnPrefix]: this.taskQueueArn(''),
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
    // By key only, never through an index. (IAM cannot tell task rows from instance rows:
    // dynamodb:LeadingKeys sees the partition key, which they share.)
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        resources: [this.table.tableArn],
      }),
    );
    queue.grantSendMessages(fn);
    this.alarmOnQueue(scope, safeId, queue, undefined, 900 + 300);
    this.alarmOnFunction(scope, `${safeId}Worker`, fn);
    const worker: Worker = { taskType: type, queue, function: fn };
    this.workers.set(taskType, worker);
    return worker;
  }
}

/**
 * The sum of a Hourglass metric over every dimension set it is emitted with. Powertools
 * adds a `service` dimension to every metric, and the runtime adds `taskType` to some, so a
 * metric read with no dimensions would match nothing; a Metrics Insights query over the
 * namespace matches them all.
 */
function hourglassTotal(metric: Metric, period: Duration): cloudwatch.MathExpression {
  return new cloudwatch.MathExpression({
    expression: `SELECT SUM(${metric}) FROM "Hourglass"`,
    label: metric,
    period,
  });
}

/**
 * The task queues' name prefix: `<stack>-<id>-`, shortened with a hash when longer than a
 * queue name can afford (80 characters, of which a task type may take 40).
 */
function queuePrefix(stack: Stack, id: string): string {
  const room = MAX_QUEUE_NAME_LENGTH - MAX_TASK_TYPE_NAME_LENGTH - 1;
  const readable = Token.isUnresolved(stack.stackName) ? id : `${stack.stackName}-${id}`;
  const clean = readable.replace(/[^0-9A-Za-z_-]/g, '-');
  if (clean.length <= room) return `${clean}-`;
  const hash = createHash('sha256').update(clean).digest('hex').slice(0, 8);
  return `${clean.slice(0, room - 9)}-${hash}-`;
}

/**
 * What the example workers need beyond a worker's own grants: writing their effect rows
 * (partition keys `EFFECT#…`) and nothing else of the table.
 */
export function exampleEffectsPolicy(hourglass: Hourglass): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions: ['dynamodb:PutItem'],
    resources: [hourglass.table.tableArn],
    conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['EFFECT#*'] } },
  });
}
