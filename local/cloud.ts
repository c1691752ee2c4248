import { join, resolve } from 'node:path';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import {
  EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { ENV, taskQueueName } from '../shared/aws/config';
import type { NamedQueue } from '../shared/aws/overview';
import type { RedriveRoutes } from '../shared/aws/redrive';
import { ingestHandler } from '../shared/aws/runtime';
import {
  type ListedTaskRow,
  openTaskEntries,
  tasksDueBefore,
  withRowState,
} from '../shared/aws/status-index';
import type { StoreDeps } from '../shared/aws/store';
import type { RejectedItem, TaskItem } from '../shared/aws/table';
import { type HourglassDefinitions, TaskStatus } from '../shared/core/definitions';
import { ingestPatterns } from '../shared/core/patterns';
import { startBackground } from './background';
import { installVirtualClock, type VirtualClock } from './clock';
import { startDriver } from './driver';
import { type BusEvent, startEventBridge } from './emulators/eventbridge';
import { startScheduler } from './emulators/scheduler';
import { type Faults, faultInjector } from './faults';
import { queueMoments, scheduleMoments, type TaskMomentSource, taskMoments } from './moments';
import { POLL_INTERVAL_MS, startPollers } from './pollers';
import {
  BUS,
  handlerEnvironment,
  INGEST_QUEUE,
  provisionQueues,
  TABLE,
  TASK_QUEUE_PREFIX,
} from './provision';
import type { FunctionUsage, Handler } from './runner';
import {
  createHourglassTable,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  localClients,
  startDynamoDbLocal,
  startSqsLocal,
} from './services';
import { QUIET_WINDOW_MS, settle } from './settle';

const ROOT = resolve(import.meta.dirname, '..');

export { POLL_INTERVAL_MS } from './pollers';
export { QUIET_WINDOW_MS } from './settle';

const safeParse = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

export type { Faults } from './faults';

/** Options of {@link startLocalCloud}. */
export interface LocalCloudOptions {
  readonly definitions: HourglassDefinitions;
  /** Virtual ms per real ms; idle gaps are skipped besides. @default 1 */
  readonly timeScale?: number;
  /** Skip idle gaps to the next due time. @default true when timeScale > 1 */
  readonly skipIdle?: boolean;
  /** Where the virtual clock starts (epoch ms). @default now */
  readonly origin?: number;
  /** Keep DynamoDB data on disk here instead of in memory. */
  readonly dataDir?: string;
  /** Fixed ports (0 or absent: free ports). */
  readonly ports?: {
    readonly dynamodb?: number;
    readonly sqs?: number;
    readonly eventbridge?: number;
    readonly scheduler?: number;
  };
  /** Worker entry per task type. @default functions/workers/<task-type>.ts */
  readonly workerEntry?: (taskType: string) => string;
  readonly faults?: Faults;
  /** Where errors inside handlers and pollers are reported. @default silently counted */
  readonly onError?: (where: string, error: unknown) => void;
  /**
   * Environment variables for the handlers, over the local ones (for example the deployed
   * log level, so a benchmark sees the logs AWS would ingest).
   */
  readonly handlerEnvironment?: Readonly<Record<string, string>>;
  /**
   * Whose lifecycle events reach the bus, as the construct's `lifecycleEvents` prop: those a
   * workflow consumes (the deployed default), or all (what `npm run dev` shows).
   * @default 'consumed'
   */
  readonly lifecycleEvents?: 'consumed' | 'all';
}

/** What the local cloud's managed parts did, as AWS would bill them (see `bench/cost.bench.ts`). */
export interface CloudUsage {
  /** Per function (`ingest`, `relay`, `worker-<task type>`): invocations, handler time, receives and deletes. */
  readonly functions: Readonly<Record<string, FunctionUsage>>;
  /** Events the bus rules delivered to the ingest queue: one SQS SendMessage each, made by EventBridge. */
  readonly ruleDeliveries: number;
  /** Schedules EventBridge Scheduler fired into a task queue: one invocation and one SQS SendMessage each. */
  readonly scheduleInvocations: number;
}

/** A running local cloud. */
export interface LocalCloud {
  readonly endpoints: {
    readonly dynamodb: string;
    readonly sqs: string;
    readonly eventbridge: string;
    readonly scheduler: string;
  };
  readonly tableName: string;
  readonly busName: string;
  /** Every dead-letter queue, as the construct deploys them: ingest's, the relay's, Scheduler's, the task queues'. */
  readonly deadLetterQueues: readonly NamedQueue[];
  /** The queues `hourglass redrive` moves messages between: each DLQ and where its messages go back. */
  readonly redrive: RedriveRoutes;
  readonly clock: VirtualClock;
  /** Every event the bus accepted, in order (domain and lifecycle events). */
  readonly busEvents: BusEvent[];
  /** Errors reported by handlers and pollers, by place. */
  readonly errors: Record<string, number>;
  /** Puts events on the bus through the real EventBridge wire protocol. */
  emit(
    entries: readonly {
      readonly source: string;
      readonly detailType: string;
      readonly detail: unknown;
      readonly time?: Date;
    }[],
  ): Promise<void>;
  /** Every event sent with {@link LocalCloud.deliverRaw}, in order (a body that is not JSON as its text). */
  readonly delivered: readonly unknown[];
  /** Sends raw events (with their own ids, possibly malformed) straight to the ingest queue, as the bus rule would. */
  deliverRaw(events: readonly unknown[]): Promise<void>;
  /** Runs `action` when the virtual clock reaches `time`. */
  at(time: number, action: () => Promise<void> | void): void;
  /** Resolves once nothing is in flight, nothing is due before `until`, and no `at` action is pending before it. */
  settle(options?: { readonly until?: number; readonly timeoutMs?: number }): Promise<void>;
  /** Takes a task type's workers away for a window of virtual time. */
  down(taskType: string, from: number, to: number): void;
  /** Schedules the pump has fired into their targets (or dead-lettered). */
  readonly schedules: { readonly delivered: number; readonly deadLettered: number };
  /** Tasks whose timer the schedule pump fired (EventBridge Scheduler's path); the rest went by SQS delay. */
  readonly firedBySchedule: ReadonlySet<string>;
  /** The faults injected into each task's attempts (worker errors, hangs, crashes), by task id. */
  readonly injectedFaults: ReadonlyMap<string, readonly string[]>;
  /** Tasks whose lost timer the sweeper re-sent. */
  readonly swept: readonly string[];
  /** Finished tasks whose lost lifecycle event the sweeper published again. */
  readonly republished: readonly string[];
  /** Every instance row: workflow, key, state, context. */
  instances(): Promise<
    { workflow: string; key: string; state: string; context: unknown; events: { id: string }[] }[]
  >;
  /** Every task row (a scan: for reports and tests, never a hot path). */
  tasks(): Promise<TaskItem[]>;
  /** The SCHEDULED tasks, from the status index (not a scan): what `npm run dev` watches. */
  scheduledTasks(): Promise<ListedTaskRow[]>;
  /** What the managed parts did so far; counts only grow. */
  usage(): CloudUsage;
  /** Every example-worker effect row. */
  effects(): Promise<{ taskId: string; taskType: string; attempt: number; duplicates: number }[]>;
  rejected(): Promise<RejectedItem[]>;
  stop(): Promise<void>;
}

/**
 * Starts the local cloud: DynamoDB Local and fauxqs, our EventBridge and Scheduler
 * emulators, the table, queues, rules and schedule group provisioned from the same
 * definitions and settings as the CDK stack, and pollers that run the real handlers from
 * `functions/` in-process like event source mappings. Everything listens on 127.0.0.1.
 *
 * Long because it starts the services and wires the parts together in the order they depend on
 * each other, then returns the `LocalCloud` API over them. Each part with logic of its own
 * is a named module: provision.ts, pollers.ts, background.ts, driver.ts, settle.ts,
 * faults.ts.
 */
export async function startLocalCloud(options: LocalCloudOptions): Promise<LocalCloud> {
  const { definitions } = options;
  const faults = options.faults ?? {};
  const injector = faultInjector(faults);
  const scale = options.timeScale ?? 1;
  const skipIdle = options.skipIdle ?? scale > 1;
  const errors: Record<string, number> = {};
  const report = (where: string) => (error: unknown) => {
    errors[where] = (errors[where] ?? 0) + 1;
    options.onError?.(where, error);
  };
  const stoppers: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stoppers.splice(0).reverse()) await stop().catch(() => {});
  };

  try {
    const dynamoService = await startDynamoDbLocal({
      port: options.ports?.dynamodb,
      dbPath: options.dataDir,
    });
    stoppers.push(() => dynamoService.stop());
    const sqsService = await startSqsLocal({ port: options.ports?.sqs });
    stoppers.push(() => sqsService.stop());
    const base = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
    const { dynamoBase, dynamo, sqs, streams } = localClients({
      dynamodb: dynamoService.endpoint,
      sqs: sqsService.endpoint,
    });

    const existing = await dynamoBase
      .send(new DescribeTableCommand({ TableName: TABLE }))
      .catch(() => undefined);
    if (existing === undefined) await createHourglassTable(dynamoService.endpoint, TABLE);
    const { Table } = await dynamoBase.send(new DescribeTableCommand({ TableName: TABLE }));

    const { ingest, relayDlq, schedulerDlq, taskDlq, taskQueues, queuePrefixes } =
      await provisionQueues(sqs, definitions);

    const busEvents: BusEvent[] = [];
    let ruleDeliveries = 0;
    const delivered: unknown[] = [];
    const rules = ingestPatterns(definitions).map((pattern, i) => ({
      name: `ingest-${i}`,
      pattern,
      deliver: async (event: BusEvent) => {
        ruleDeliveries += 1;
        await sqs.send(
          new SendMessageCommand({
            QueueUrl: ingest.queue.url,
            MessageBody: JSON.stringify(event),
          }),
        );
      },
    }));
    const eventBridge = await startEventBridge({
      rules: () => rules,
      busName: BUS,
      region: LOCAL_REGION,
      onEvent: (e) => busEvents.push(e),
      port: options.ports?.eventbridge,
    });
    stoppers.push(() => eventBridge.stop());
    const schedulerEmulator = await startScheduler({
      region: LOCAL_REGION,
      port: options.ports?.scheduler,
    });
    stoppers.push(() => schedulerEmulator.stop());
    const endpoints = {
      dynamodb: dynamoService.endpoint,
      sqs: sqsService.endpoint,
      eventbridge: eventBridge.endpoint,
      scheduler: schedulerEmulator.endpoint,
    };

    const savedEnv = { ...process.env };
    Object.assign(
      process.env,
      handlerEnvironment(endpoints, queuePrefixes, schedulerDlq.arn, scale, ingest.queue),
      { [ENV.lifecycleEvents]: options.lifecycleEvents ?? 'consumed' },
      options.handlerEnvironment,
    );
    stoppers.push(async () => {
      for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
      Object.assign(process.env, savedEnv);
    });

    // Ingest runs the definitions this cloud was started with, the ones its rules route.
    const ingestFunction = ingestHandler(definitions) as Handler;
    const relayHandler = (await import(join(ROOT, 'functions/relay.ts'))).handler as Handler;
    const workerEntry =
      options.workerEntry ?? ((t: string) => join(ROOT, `functions/workers/${t}.ts`));

    // The clock starts once everything is up, so start-up costs no virtual time.
    const virtual = installVirtualClock({ scale, origin: options.origin });
    stoppers.push(async () => virtual.restore());
    const storeDeps = { dynamo, tableName: TABLE, clock: () => Date.now() };
    const outages = [...(faults.outages ?? [])];
    const down = (taskType: string) =>
      outages.some((o) => o.taskType === taskType && Date.now() >= o.from && Date.now() < o.to);
    const pollers = await startPollers({
      definitions,
      sqs,
      streams,
      streamArn: Table!.LatestStreamArn!,
      receivable: (queue) => sqsService.receivable(queue, Date.now()),
      queues: { ingest: ingest.queue, relayDlq, taskQueues },
      handlers: { ingest: ingestFunction, relay: relayHandler, workerEntry },
      storeDeps,
      timeScale: scale,
      injector,
      down,
      report,
    });
    stoppers.push(async () => void (await Promise.all(pollers.map((p) => p.stop()))));

    const polledQueues = [
      { name: INGEST_QUEUE, paused: () => false },
      ...definitions.taskTypes.map((t) => ({
        name: taskQueueName(TASK_QUEUE_PREFIX, t.name),
        paused: () => down(t.name),
      })),
    ];

    const driver = startDriver({
      clock: virtual,
      skipIdle,
      pollersQuietSince: (since) => pollers.every((p) => p.quietSince(since)),
      knownMoments: (now) => [
        ...scheduleMoments(schedulerEmulator.schedules, faults.schedulerLateByMs ?? 0),
        ...polledQueues.flatMap((q) =>
          q.paused() ? [] : queueMoments(q.name, sqsService.inspect(q.name), now),
        ),
        ...outages
          .filter((o) => o.to > now)
          .map((o) => ({ at: o.to, what: `the ${o.taskType} workers come back` })),
      ],
      readMoments: async () => taskMoments(await openTasks(storeDeps)),
      paused: down,
      onError: (where, error) => report(where)(error),
      quietWindowMs: QUIET_WINDOW_MS,
      intervalMs: POLL_INTERVAL_MS,
    });
    stoppers.push(() => driver.stop());

    const background = startBackground({
      scheduler: new SchedulerClient({ ...base, endpoint: schedulerEmulator.endpoint }),
      schedules: schedulerEmulator.schedules,
      eventBridge: new EventBridgeClient({ ...base, endpoint: eventBridge.endpoint }),
      sqs,
      storeDeps,
      taskQueues,
      scale,
      schedulerLateByMs: faults.schedulerLateByMs,
      touch: () => driver.touch(),
      report,
    });
    stoppers.push(() => background.stop());

    /**
     * Work that is due and should be happening: a task due to run (its workers up), or
     * running. The index alone answers for a due task whose workers are up (SCHEDULED or
     * RUNNING, either is work); only due tasks of types that are down need their rows.
     */
    const workPending = async (until: number) => {
      const now = Date.now();
      const open = await openTaskEntries(storeDeps, { before: now + 1 });
      const due = (t: { runAt: number; taskType: string }) =>
        t.runAt <= Math.min(until, now) && !down(t.taskType);
      if (open.some(due)) return true;
      // The others are work only if they run: due after `until`, or of a type that is down.
      const rest = open.filter((t) => !due(t));
      return (await withRowState(storeDeps, rest)).some((t) => t.status === 'RUNNING');
    };

    const eventBridgeClient = new EventBridgeClient({ ...base, endpoint: eventBridge.endpoint });
    const cloud: LocalCloud = {
      endpoints,
      tableName: TABLE,
      busName: BUS,
      deadLetterQueues: [
        { name: 'ingest DLQ', url: ingest.dlq.url },
        { name: 'relay DLQ (stream records)', url: relayDlq.url },
        { name: 'Scheduler DLQ', url: schedulerDlq.url },
        { name: 'task DLQ', url: taskDlq.url },
      ],
      redrive: {
        ingest: { dlqUrl: ingest.dlq.url, queueUrl: ingest.queue.url },
        tasks: { dlqUrl: taskDlq.url, queueUrlPrefix: queuePrefixes.url },
      },
      clock: virtual,
      busEvents,
      errors,
      async emit(entries) {
        for (let i = 0; i < entries.length; i += 10) {
          const chunk: PutEventsRequestEntry[] = entries.slice(i, i + 10).map((e) => ({
            EventBusName: BUS,
            Source: e.source,
            DetailType: e.detailType,
            Detail: JSON.stringify(e.detail),
            Time: e.time ?? new Date(Date.now()),
          }));
          const result = await eventBridgeClient.send(new PutEventsCommand({ Entries: chunk }));
          if ((result.FailedEntryCount ?? 0) > 0)
            throw new Error(
              `PutEvents refused ${result.FailedEntryCount} entries: ${JSON.stringify(result.Entries)}`,
            );
        }
        driver.touch();
      },
      delivered,
      async deliverRaw(events) {
        for (const event of events) {
          delivered.push(typeof event === 'string' ? safeParse(event) : event);
          await sqs.send(
            new SendMessageCommand({
              QueueUrl: ingest.queue.url,
              MessageBody: typeof event === 'string' ? event : JSON.stringify(event),
            }),
          );
        }
        driver.touch();
      },
      at: (time, action) => driver.at(time, action),
      settle: (settleOptions = {}) => settle(driver, { skipIdle, workPending }, settleOptions),
      tasks: () => scanTasks(dynamo),
      scheduledTasks: () => tasksDueBefore(storeDeps, TaskStatus.SCHEDULED),
      usage: () => ({
        functions: Object.fromEntries(pollers.map((p) => [p.name, { ...p.usage }])),
        ruleDeliveries,
        scheduleInvocations: background.fired.delivered,
      }),
      down(taskType, from, to) {
        outages.push({ taskType, from, to });
      },
      schedules: background.fired,
      swept: background.swept,
      republished: background.republished,
      firedBySchedule: background.firedBySchedule,
      injectedFaults: injector.injected,
      instances: async () => (await scanAll(dynamo, 'instance')) as never,
      async effects() {
        const items = await scanAll(dynamo, 'effect');
        return items.map((i) => ({
          taskId: i.taskId as string,
          taskType: i.taskType as string,
          attempt: i.attempt as number,
          duplicates: (i.duplicates as number) ?? 0,
        }));
      },
      rejected: async () => (await scanAll(dynamo, 'rejected')) as unknown as RejectedItem[],
      stop: stopAll,
    };
    return cloud;
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function scanAll(
  dynamo: DynamoDBDocumentClient,
  type: string,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(
      new ScanCommand({
        TableName: TABLE,
        FilterExpression: '#type = :type',
        ExpressionAttributeNames: { '#type': 'type' },
        ExpressionAttributeValues: { ':type': type },
        ExclusiveStartKey,
      }),
    );
    items.push(...(page.Items ?? []));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return items;
}

/**
 * The tasks that matter for what happens next, from the status index (never a scan): all
 * RUNNING tasks, every SCHEDULED task already due, and the next few SCHEDULED per shard.
 */
async function openTasks(deps: StoreDeps): Promise<TaskMomentSource[]> {
  const now = deps.clock();
  const [due, next] = await Promise.all([
    openTaskEntries(deps, { before: now + 1 }),
    openTaskEntries(deps, { after: now, firstPerShard: 3 }),
  ]);
  // Due later means SCHEDULED (a claim comes at or after the run time); the rows of the due
  // ones say whether they run, and until when.
  return [
    ...(await withRowState(deps, due)),
    ...next.map((t) => ({ ...t, status: TaskStatus.SCHEDULED })),
  ];
}

const scanTasks = async (dynamo: DynamoDBDocumentClient) =>
  (await scanAll(dynamo, 'task')) as unknown as TaskItem[];
