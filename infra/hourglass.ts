import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, NestedStack, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { ENV, MAX_QUEUE_NAME_LENGTH, taskQueueName } from '../shared/aws/config';
import {
  defaultWorkerBatchSize,
  FUNCTION_MEMORY_MB,
  INGEST,
  LEASE_MARGIN_MS,
  MAX_RECEIVE_COUNT,
  RELAY,
  RELAY_STREAM_ITEM_TYPE,
  SWEEPER,
  visibilityTimeoutFor,
  workerTimeoutRange,
} from '../shared/aws/settings';
import { TABLE_SCHEMA } from '../shared/aws/table';
import {
  CONCURRENCY_RANGE,
  type HourglassDefinitions,
  isConcurrencyCap,
} from '../shared/core/definitions';
import { bundled, type Observability } from './function';
import { AlarmFactory, addDashboardWidgets, addRuntimeAlarms } from './monitoring';
import { suppressDeadLetterQueueFindings } from './nag';
import { addOperatorOutputs } from './outputs';
import {
  encryptedQueue,
  hourglassTable,
  ingestEntryFor,
  ingestRules,
  schedulerRole,
} from './parts';
import { checkProps, type HourglassProps, type Worker, type WorkerOptions } from './props';

export type { HourglassProps, Worker, WorkerOptions } from './props';

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
  private readonly alarmFactory: AlarmFactory;
  private readonly workerStacks: NestedStack[] = [];
  private readonly retentionDays: string;
  private readonly observability: Observability;

  // Long because it wires the deployment's parts together in the order they depend on each
  // other, and reads best as one list. Each part with logic of its
  // own is a named function (infra/parts.ts, infra/monitoring.ts, infra/props.ts).
  constructor(scope: Construct, id: string, props: HourglassProps) {
    super(scope, id);
    const { lead, retentionDays } = checkProps(id, props);
    this.retentionDays = String(retentionDays);
    this.observability = props.observability ?? {};
    this.definitions = props.workflows;
    this.alarmFactory = new AlarmFactory(props.alarmTopic, this.alarms);
    const stack = Stack.of(this);
    this.taskQueuePrefix = queuePrefix(stack, id);

    this.table = hourglassTable(this, props.removalPolicy ?? RemovalPolicy.RETAIN);

    this.bus = props.bus ?? new events.EventBus(this, 'Bus');

    this.ingestDeadLetterQueue = encryptedQueue(this, 'IngestDLQ', {
      retentionPeriod: Duration.days(14),
    });
    this.ingestQueue = encryptedQueue(this, 'IngestQueue', {
      visibilityTimeout: Duration.seconds(visibilityTimeoutFor(INGEST.timeoutSeconds)),
      deadLetterQueue: { queue: this.ingestDeadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
    });
    this.rules = ingestRules(
      this,
      this.definitions,
      this.bus,
      this.ingestQueue,
      this.ingestDeadLetterQueue,
    );

    this.ingestFunction = bundled(
      this,
      'Ingest',
      ingestEntryFor(id, this.definitions),
      {
        timeout: Duration.seconds(INGEST.timeoutSeconds),
        environment: {
          [ENV.tableName]: this.table.tableName,
          [ENV.retentionDays]: this.retentionDays,
          [ENV.lifecycleEvents]: props.lifecycleEvents ?? 'consumed',
          [ENV.ingestQueueUrl]: this.ingestQueue.queueUrl,
          [ENV.ingestQueueArn]: this.ingestQueue.queueArn,
        },
      },
      this.observability,
    );
    // Ingest sends a timer that arrived early back to its own queue, to wait there.
    this.ingestFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['sqs:SendMessage'],
        resources: [this.ingestQueue.queueArn],
      }),
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
    this.schedulerRole = schedulerRole(this, this.scheduleGroup);
    this.schedulerDeadLetterQueue.grantSendMessages(this.schedulerRole);

    // Timers that need no worker are delivered to the ingest queue.
    const taskQueues = {
      [ENV.taskQueueUrlPrefix]: `https://sqs.${stack.region}.${stack.urlSuffix}/${stack.account}/${this.taskQueuePrefix}`,
      [ENV.taskQueueArnPrefix]: this.taskQueueArn(''),
      [ENV.ingestQueueUrl]: this.ingestQueue.queueUrl,
      [ENV.ingestQueueArn]: this.ingestQueue.queueArn,
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
      this.observability,
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
      this.observability,
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
    // The relay, the sweeper and Scheduler send timers to every task queue, by naming rule,
    // and the timers that need no worker to the ingest queue.
    const sendToTaskQueues = new iam.PolicyStatement({
      actions: ['sqs:SendMessage'],
      resources: [this.taskQueueArn('*'), this.ingestQueue.queueArn],
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

    addOperatorOutputs(this, {
      table: this.table,
      bus: this.bus,
      ingestDlq: this.ingestDeadLetterQueue,
      taskDlq: this.taskDeadLetterQueue,
      ingestQueue: this.ingestQueue,
      taskQueueUrlPrefix: `https://sqs.${stack.region}.${stack.urlSuffix}/${stack.account}/${this.taskQueuePrefix}`,
    });
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${stack.stackName}-${id}`.slice(0, 255),
    });
    addRuntimeAlarms(this, this.alarmFactory);
    addDashboardWidgets(this.dashboard, this.relayFunction);
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
    if (concurrency !== undefined && !isConcurrencyCap(concurrency)) {
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
    const fn = bundled(
      scope,
      `${safeId}Worker`,
      options.entry,
      {
        memorySize: options.memorySize ?? FUNCTION_MEMORY_MB,
        timeout,
        environment: {
          [ENV.tableName]: this.table.tableName,
          [ENV.retentionDays]: this.retentionDays,
          [ENV.taskQueueUrlPrefix]: `https://sqs.${stack.region}.${stack.urlSuffix}/${stack.account}/${this.taskQueuePrefix}`,
          [ENV.taskQueueArnPrefix]: this.taskQueueArn(''),
          POWERTOOLS_SERVICE_NAME: `hourglass-${taskType}`,
        },
      },
      this.observability,
    );
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
    this.alarmFactory.onQueue(scope, safeId, queue, undefined, 900 + 300);
    this.alarmFactory.onFunction(scope, `${safeId}Worker`, fn);
    const worker: Worker = { taskType: type, queue, function: fn };
    this.workers.set(taskType, worker);
    return worker;
  }
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
