import { join, resolve } from 'node:path';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import {
  EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT_FACTOR } from '../infra/hourglass';
import { ingestPatterns } from '../infra/patterns';
import { ENV } from '../shared/aws/config';
import { type EffectFault, injectEffectFault } from '../shared/aws/effects';
import type { StreamRecord } from '../shared/aws/relay';
import { getTask } from '../shared/aws/store';
import { SWEEP_GRACE_MS, sweepStuckTasks } from '../shared/aws/sweeper';
import {
  Indexes,
  Keys,
  type RejectedItem,
  STATUS_SHARDS,
  type TaskItem,
} from '../shared/aws/table';
import { claimTask, type TaskContext } from '../shared/aws/worker';
import type { HourglassDefinitions, TaskType } from '../shared/core/definitions';
import { installVirtualClock, type VirtualClock } from './clock';
import { type BusEvent, startEventBridge } from './emulators/eventbridge';
import { startScheduler } from './emulators/scheduler';
import { type Handler, type Poller, pollQueue, pollStream } from './runner';
import { pumpSchedules } from './schedule-pump';
import {
  createHourglassTable,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type LocalService,
  localClients,
  startDynamoDbLocal,
  startSqsLocal,
} from './services';

const ROOT = resolve(import.meta.dirname, '..');
const TABLE = 'hourglass-local';
const BUS = 'hourglass-local';
const GROUP = 'hourglass-local';
/** Real ms between the local cloud's polls; at scale S, one poll interval is S× that in virtual time. */
export const POLL_INTERVAL_MS = 15;
/**
 * Real ms every poller must stay quiet before time may jump. DynamoDB Local surfaces stream
 * records a little after the write, so a shorter window could skip past a pending record.
 */
export const QUIET_WINDOW_MS = 250;
/** The relay's and ingest's function timeouts in the stack (seconds); their queues' visibility follows. */
const INGEST_TIMEOUT_S = 30;
const RELAY_TIMEOUT_S = 60;

/** Faults the local cloud can inject, for the end-to-end fault tests. All default to none. */
export interface Faults {
  /** Probability that an attempt of an example worker throws. */
  readonly workerErrorRate?: number;
  /** Probability that an attempt hangs past its timeout (aborted by the middleware). */
  readonly workerTimeoutRate?: number;
  /** Probability that a worker "crashes" right after claiming (the row stays RUNNING with a lease). */
  readonly crashAfterClaimRate?: number;
  /** Probability that a timer message is delivered twice. */
  readonly duplicateMessageRate?: number;
  /** Probability that a stream batch is delivered twice. */
  readonly duplicateStreamBatchRate?: number;
  /** Probability that a relay batch fails at its first record (and is retried). */
  readonly relayFailureRate?: number;
  /** Schedules fire this much late (virtual ms). */
  readonly schedulerLateByMs?: number;
  /** Task types whose workers are down in a window of virtual time. */
  readonly outages?: readonly {
    readonly taskType: string;
    readonly from: number;
    readonly to: number;
  }[];
  /** Fails chosen attempts: `(taskId, attempt) => true` makes that attempt throw. */
  readonly failAttempt?: (taskId: string, attempt: number) => boolean;
  /** Random source, for repeatable runs. @default Math.random */
  readonly random?: () => number;
}

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
  /** Tasks whose lost timer the sweeper re-sent. */
  readonly swept: readonly string[];
  /** Every instance row: workflow, key, state, context. */
  instances(): Promise<
    { workflow: string; key: string; state: string; context: unknown; events: { id: string }[] }[]
  >;
  /** Every task row (a scan: for reports and tests, never a hot path). */
  tasks(): Promise<TaskItem[]>;
  /** Every example-worker effect row. */
  effects(): Promise<{ taskId: string; taskType: string; attempt: number; duplicates: number }[]>;
  rejected(): Promise<RejectedItem[]>;
  stop(): Promise<void>;
}

/** The environment the handlers read at cold start, pointing at the local services. */
function handlerEnvironment(
  endpoints: LocalCloud['endpoints'],
  queues: Record<string, { url: string; arn: string }>,
  schedulerDlqArn: string,
  timeScale: number,
) {
  return {
    [ENV.timeScale]: String(timeScale),
    [ENV.tableName]: TABLE,
    [ENV.busName]: BUS,
    [ENV.outboxBusName]: BUS,
    [ENV.taskQueues]: JSON.stringify(queues),
    [ENV.scheduleGroup]: GROUP,
    [ENV.schedulerRoleArn]: 'arn:aws:iam::000000000000:role/hourglass-local-scheduler',
    [ENV.schedulerDlqArn]: schedulerDlqArn,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ENDPOINT_URL_EVENTBRIDGE: endpoints.eventbridge,
    AWS_ENDPOINT_URL_SCHEDULER: endpoints.scheduler,
    AWS_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    POWERTOOLS_LOG_LEVEL: 'CRITICAL',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_DEV: 'false',
  };
}

function visibilityFor(timeoutMs: number): number {
  return VISIBILITY_TIMEOUT_FACTOR * Math.min(900, Math.ceil(timeoutMs / 1000) + 30);
}

/**
 * Starts the local cloud: DynamoDB Local and fauxqs, our EventBridge and Scheduler
 * emulators, the table, queues, rules and schedule group provisioned from the same
 * definitions and settings as the CDK stack, and pollers that run the real handlers from
 * `functions/` in-process like event source mappings. Everything listens on 127.0.0.1.
 */
export async function startLocalCloud(options: LocalCloudOptions): Promise<LocalCloud> {
  const { definitions } = options;
  const faults = options.faults ?? {};
  const random = faults.random ?? Math.random;
  const chance = (p: number | undefined) => (p ?? 0) > 0 && random() < p!;
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
    const services: LocalService[] = [
      await startDynamoDbLocal({ port: options.ports?.dynamodb, dbPath: options.dataDir }),
      await startSqsLocal({ port: options.ports?.sqs }),
    ];
    for (const s of services) stoppers.push(() => s.stop());
    const [dynamoService, sqsService] = services as [LocalService, LocalService];
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

    const createQueue = async (name: string, attributes: Record<string, string> = {}) => {
      const { QueueUrl } = await sqs.send(
        new CreateQueueCommand({ QueueName: name, Attributes: attributes }),
      );
      const { Attributes } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
      );
      return { url: QueueUrl!, arn: Attributes!.QueueArn! };
    };
    const withDlq = async (name: string, visibility: number) => {
      const dlq = await createQueue(`${name}-dlq`);
      const queue = await createQueue(name, {
        VisibilityTimeout: String(visibility),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlq.arn,
          maxReceiveCount: MAX_RECEIVE_COUNT,
        }),
      });
      return { queue, dlq };
    };
    const ingest = await withDlq('hourglass-ingest', VISIBILITY_TIMEOUT_FACTOR * INGEST_TIMEOUT_S);
    const relayDlq = await createQueue('hourglass-relay-dlq');
    const schedulerDlq = await createQueue('hourglass-scheduler-dlq');
    const taskQueues: Record<string, { url: string; arn: string }> = {};
    for (const type of definitions.taskTypes) {
      taskQueues[type.name] = (
        await withDlq(`hourglass-${type.name}`, visibilityFor(type.timeoutMs))
      ).queue;
    }

    const busEvents: BusEvent[] = [];
    const rules = ingestPatterns(definitions).map((pattern, i) => ({
      name: `ingest-${i}`,
      pattern,
      deliver: async (event: BusEvent) => {
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
    Object.assign(process.env, handlerEnvironment(endpoints, taskQueues, schedulerDlq.arn, scale));
    stoppers.push(async () => {
      for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
      Object.assign(process.env, savedEnv);
    });

    const ingestHandler = (await import(join(ROOT, 'functions/ingest.ts'))).handler as Handler;
    const relayHandler = (await import(join(ROOT, 'functions/relay.ts'))).handler as Handler;
    const workerEntry =
      options.workerEntry ?? ((t: string) => join(ROOT, `functions/workers/${t}.ts`));

    const effectFault: EffectFault = async (task, ctx: TaskContext) => {
      if (faults.failAttempt?.(task.taskId, ctx.attempt))
        throw new Error(`injected failure of attempt ${ctx.attempt}`);
      if (chance(faults.workerErrorRate)) throw new Error('injected worker error');
      if (chance(faults.workerTimeoutRate)) {
        await new Promise<void>((resolve) =>
          ctx.signal.addEventListener('abort', () => resolve(), { once: true }),
        );
        throw new Error('injected hang, aborted');
      }
    };
    const anyWorkerFault =
      (faults.workerErrorRate ?? 0) > 0 ||
      (faults.workerTimeoutRate ?? 0) > 0 ||
      faults.failAttempt !== undefined;
    injectEffectFault(anyWorkerFault ? effectFault : null);
    stoppers.push(async () => injectEffectFault(null));

    // The clock starts once everything is up, so start-up costs no virtual time.
    const virtual = installVirtualClock({ scale, origin: options.origin });
    stoppers.push(async () => virtual.restore());
    const storeDeps = { dynamo, tableName: TABLE, clock: () => Date.now() };
    const pollers: Poller[] = [];
    pollers.push(
      pollQueue({
        name: 'ingest',
        sqs,
        queueUrl: ingest.queue.url,
        queueArn: ingest.queue.arn,
        handler: ingestHandler,
        batchSize: 10,
        visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_FACTOR * INGEST_TIMEOUT_S,
        timeoutMs: INGEST_TIMEOUT_S * 1000,
        intervalMs: POLL_INTERVAL_MS,
        concurrency: 2,
        onError: report('ingest'),
      }),
    );
    const streamArn = Table!.LatestStreamArn!;
    pollers.push(
      pollStream({
        name: 'relay',
        streams,
        streamArn,
        handler: async (event: never, context) => {
          const result = await relayHandler(event, context);
          if (chance(faults.duplicateStreamBatchRate)) await relayHandler(event, context);
          return result;
        },
        batchSize: 100,
        filter: (record: StreamRecord) =>
          (record.dynamodb?.NewImage?.type as { S?: string } | undefined)?.S === 'task',
        retryAttempts: 10,
        onFailure: { sqs, queueUrl: relayDlq.url },
        timeoutMs: RELAY_TIMEOUT_S * 1000,
        intervalMs: POLL_INTERVAL_MS,
        failBatch: () => chance(faults.relayFailureRate),
        onError: report('relay'),
      }),
    );
    const outages = [...(faults.outages ?? [])];
    const down = (taskType: string) =>
      outages.some((o) => o.taskType === taskType && Date.now() >= o.from && Date.now() < o.to);
    for (const type of definitions.taskTypes) {
      const real = (await import(workerEntry(type.name))).handler as Handler;
      const handler = workerWithFaults(type, real, {
        sqs,
        queueUrl: taskQueues[type.name]!.url,
        storeDeps,
        chance,
        faults,
      });
      pollers.push(
        pollQueue({
          name: `worker-${type.name}`,
          sqs,
          queueUrl: taskQueues[type.name]!.url,
          queueArn: taskQueues[type.name]!.arn,
          handler,
          batchSize: 5,
          visibilityTimeoutSeconds: visibilityFor(type.timeoutMs),
          timeoutMs: type.timeoutMs + 30_000,
          intervalMs: POLL_INTERVAL_MS,
          concurrency: type.concurrency ?? 2,
          paused: () => down(type.name),
          onError: report(`worker-${type.name}`),
        }),
      );
    }
    stoppers.push(async () => void (await Promise.all(pollers.map((p) => p.stop()))));

    const schedulerClient = new SchedulerClient({ ...base, endpoint: schedulerEmulator.endpoint });
    const queueUrls = new Map<string, string>();
    let pumpNext: number | null = null;
    const fired = { delivered: 0, deadLettered: 0 };
    const sweptTasks: string[] = [];
    let pumping = true;
    const pump = (async () => {
      while (pumping) {
        try {
          const pass = await pumpSchedules(
            {
              scheduler: schedulerClient,
              sqs,
              group: GROUP,
              clock: () => Date.now(),
              lateByMs: faults.schedulerLateByMs,
            },
            queueUrls,
          );
          pumpNext = pass.nextAt;
          fired.delivered += pass.delivered;
          fired.deadLettered += pass.deadLettered;
        } catch (error) {
          report('scheduler-pump')(error);
        }
        await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
      }
    })();
    stoppers.push(async () => {
      pumping = false;
      await pump;
    });

    // The driver: runs `at` actions when their time comes, and skips idle gaps.
    const actions: { time: number; action: () => Promise<void> | void }[] = [];
    let lastActivity = performance.now();
    let marker: number | null = null;
    /** Idle-skipping never jumps past this (settle sets it to its `until`). */
    let skipLimit = Number.POSITIVE_INFINITY;
    /** Two-phase quiet check: every poller polled empty, and did nothing, since the marker. */
    const quietSince = (since: number) =>
      since >= lastActivity && pollers.every((p) => p.quietSince(since));
    const nextDue = async (): Promise<number | null> => {
      const candidates: number[] = [];
      if (actions.length > 0) candidates.push(Math.min(...actions.map((a) => a.time)));
      if (pumpNext !== null) candidates.push(pumpNext);
      for (const p of pollers) {
        const v = p.nextVisibleAt();
        if (v !== null) candidates.push(v);
      }
      for (const o of outages) if (o.to > Date.now()) candidates.push(o.to);
      for (const t of await openTasks(dynamo, Date.now())) {
        // The sweeper's moments too: a task whose timer was lost is re-sent after the grace.
        if (t.status === 'SCHEDULED') candidates.push(t.runAt, t.runAt + SWEEP_GRACE_MS + 1);
        if (t.status === 'RUNNING' && t.leaseUntil !== undefined)
          candidates.push(t.leaseUntil, t.leaseUntil + SWEEP_GRACE_MS + 1);
      }
      // Only what is still to come: a task already due waits on a paused worker or is in flight.
      const future = candidates.filter((t) => t > Date.now());
      return future.length === 0 ? null : Math.min(...future);
    };
    /** Work that is due and should be happening: a task due to run (its workers up), or running. */
    const workPending = async (until: number) =>
      (await openTasks(dynamo, Date.now())).some(
        (t) =>
          (t.status === 'SCHEDULED' &&
            t.runAt <= Math.min(until, Date.now()) &&
            !down(t.taskType)) ||
          t.status === 'RUNNING',
      );
    let driving = true;
    let lastSweep = performance.now();
    const driver = (async () => {
      while (driving) {
        if (performance.now() - lastSweep > 1_000) {
          // As a deployed sweeper would: re-send timers of tasks whose timer was lost.
          lastSweep = performance.now();
          const swept = await sweepStuckTasks({
            ...storeDeps,
            sqs,
            taskQueue: (t) => taskQueues[t]!,
          }).catch(() => []);
          if (swept.length > 0) {
            sweptTasks.push(...swept.map((t) => t.taskId));
            lastActivity = performance.now();
          }
        }
        const now = Date.now();
        const ready = actions.filter((a) => a.time <= now).sort((a, b) => a.time - b.time);
        if (ready.length > 0) {
          for (const a of ready) actions.splice(actions.indexOf(a), 1);
          for (const a of ready) await Promise.resolve(a.action()).catch(report('driver'));
          lastActivity = performance.now();
          marker = null;
        } else if (skipIdle) {
          if (marker !== null && performance.now() - marker >= QUIET_WINDOW_MS) {
            if (quietSince(marker)) {
              // Nothing is in flight anywhere: jump to the next thing that falls due.
              const due = await nextDue().catch(() => null);
              const target = Math.min(due ?? Number.POSITIVE_INFINITY, skipLimit);
              if (Number.isFinite(target) && target > Date.now() && quietSince(marker)) {
                virtual.skipTo(target);
                lastActivity = performance.now();
              }
            }
            marker = null;
          }
          marker ??= performance.now();
        }
        await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
      }
    })();
    stoppers.push(async () => {
      driving = false;
      await driver;
    });

    const eventBridgeClient = new EventBridgeClient({ ...base, endpoint: eventBridge.endpoint });
    const cloud: LocalCloud = {
      endpoints,
      tableName: TABLE,
      busName: BUS,
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
        lastActivity = performance.now();
      },
      async deliverRaw(events) {
        for (const event of events) {
          await sqs.send(
            new SendMessageCommand({
              QueueUrl: ingest.queue.url,
              MessageBody: typeof event === 'string' ? event : JSON.stringify(event),
            }),
          );
        }
        lastActivity = performance.now();
      },
      at(time, action) {
        actions.push({ time, action });
      },
      async settle(settleOptions = {}) {
        const until = settleOptions.until ?? Number.POSITIVE_INFINITY;
        skipLimit = until;
        const limit = settleOptions.timeoutMs ?? 120_000;
        const deadline = performance.now() + limit;
        while (performance.now() < deadline) {
          const since = performance.now();
          await new Promise((r) => setTimeout(r, QUIET_WINDOW_MS));
          if (!quietSince(since)) continue;
          if (await workPending(until)) continue;
          const pendingAction = actions.some((a) => a.time <= until);
          const due = await nextDue().catch(() => 0);
          const dueBeforeUntil = due !== null && due <= until;
          if (pendingAction || (dueBeforeUntil && (skipIdle || due <= Date.now()))) continue;
          if (until !== Number.POSITIVE_INFINITY && Date.now() < until) continue;
          if (quietSince(since)) return;
        }
        throw new Error(`the local cloud did not settle within ${limit} ms`);
      },
      tasks: () => scanTasks(dynamo),
      down(taskType, from, to) {
        outages.push({ taskType, from, to });
      },
      schedules: fired,
      swept: sweptTasks,
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
 * RUNNING tasks, SCHEDULED tasks already due, and the next few SCHEDULED per shard.
 */
async function openTasks(dynamo: DynamoDBDocumentClient, now: number): Promise<TaskItem[]> {
  const query = (status: 'SCHEDULED' | 'RUNNING', shard: number, before?: number, limit?: number) =>
    dynamo
      .send(
        new QueryCommand({
          TableName: TABLE,
          IndexName: Indexes.byStatus,
          KeyConditionExpression:
            before === undefined ? 'GSI1PK = :pk' : 'GSI1PK = :pk AND GSI1SK < :before',
          ExpressionAttributeValues: {
            ':pk': Keys.statusPk(status, shard),
            ...(before === undefined ? {} : { ':before': new Date(before).toISOString() }),
          },
          ...(limit ? { Limit: limit } : {}),
        }),
      )
      .then((page) => (page.Items ?? []) as TaskItem[]);
  const shards = Array.from({ length: STATUS_SHARDS }, (_, i) => i);
  const pages = await Promise.all([
    ...shards.map((shard) => query('RUNNING', shard)),
    ...shards.map((shard) => query('SCHEDULED', shard, now + 1)),
    ...shards.map((shard) => query('SCHEDULED', shard, undefined, 3)),
  ]);
  return pages.flat();
}

const scanTasks = async (dynamo: DynamoDBDocumentClient) =>
  (await scanAll(dynamo, 'task')) as unknown as TaskItem[];

/**
 * Wraps a real worker handler with the queue-side faults: duplicated timer messages, and
 * crashes right after claiming (the task is claimed exactly as the middleware would, then
 * the "process dies": the message is not deleted and the lease must run out).
 */
function workerWithFaults(
  taskType: TaskType,
  real: Handler,
  ctx: {
    sqs: SQSClient;
    queueUrl: string;
    storeDeps: { dynamo: DynamoDBDocumentClient; tableName: string; clock: () => number };
    chance: (p: number | undefined) => boolean;
    faults: Faults;
  },
): Handler {
  return async (event, context) => {
    const records = (event as { Records: { messageId: string; body: string }[] }).Records;
    const crashed: string[] = [];
    const kept = [];
    for (const record of records) {
      if (ctx.chance(ctx.faults.duplicateMessageRate)) {
        await ctx.sqs.send(
          new SendMessageCommand({ QueueUrl: ctx.queueUrl, MessageBody: record.body }),
        );
      }
      if (ctx.chance(ctx.faults.crashAfterClaimRate)) {
        try {
          const message = JSON.parse(record.body);
          const task = await getTask(ctx.storeDeps, message);
          const now = Date.now();
          if (
            task &&
            task.status === 'SCHEDULED' &&
            task.generation === message.generation &&
            task.runAt <= now + 1000
          ) {
            if (await claimTask(ctx.storeDeps, taskType, task, now, false)) {
              crashed.push(record.messageId);
              continue;
            }
          }
        } catch {
          // not a timer message: let the real handler report it
        }
      }
      kept.push(record);
    }
    const response =
      kept.length > 0
        ? await real({ ...(event as object), Records: kept } as never, context)
        : { batchItemFailures: [] };
    return {
      batchItemFailures: [
        ...(response?.batchItemFailures ?? []),
        ...crashed.map((itemIdentifier) => ({ itemIdentifier })),
      ],
    };
  };
}
