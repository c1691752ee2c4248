import { randomUUID } from 'node:crypto';
import {
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import type { StreamRecord } from '../shared/aws/messages';
import { asLambdaRecords } from './stream-records';

/** A Lambda handler as the runner calls it. */
export type Handler = (
  event: never,
  context: Context,
) => Promise<{ batchItemFailures?: { itemIdentifier: string }[] } | undefined>;

/** A Lambda-like context: request id, function name, remaining time. */
export function lambdaContext(functionName: string, timeoutMs: number): Context {
  const deadline = performance.now() + timeoutMs;
  const requestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/${requestId}`,
    getRemainingTimeInMillis: () => Math.max(0, Math.round(deadline - performance.now())),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What Lambda reports when an invocation reaches its function timeout. */
export class FunctionTimeoutError extends Error {
  constructor(functionName: string, timeoutMs: number) {
    super(`${functionName}: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`);
    this.name = 'FunctionTimeoutError';
  }
}

/**
 * Ends an invocation at its function timeout, as Lambda does: the invocation fails as a
 * whole, whatever the handler would have returned. AWS: "If the invocation fails or times
 * out, every message in the batch will be returned to the queue, and each will be available
 * for processing once the Visibility Timeout period expires" (Lambda Developer Guide). The
 * handler's promise cannot be stopped in-process; Lambda would reset the environment.
 */
export async function withFunctionTimeout<T>(
  functionName: string,
  timeoutMs: number,
  invocation: Promise<T>,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FunctionTimeoutError(functionName, timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([invocation, killed]);
  } finally {
    clearTimeout(timer);
  }
}

/** Something the runner polls; the local cloud asks it whether it is idle. */
export interface Poller {
  readonly name: string;
  /** What this mapping and its function did: the figures AWS bills. */
  readonly usage: FunctionUsage;
  /**
   * True when, since real time `since` (performance.now), the poller has run no handler
   * and has completed a poll that started after `since` and found nothing: so nothing that
   * was waiting at `since` is still waiting.
   */
  quietSince(since: number): boolean;
  stop(): Promise<void>;
}

/**
 * What one event source mapping and its function did, counted as AWS bills them: function
 * invocations and handler time, and (for a queue) the non-empty receives and the deletes
 * the mapping made. Empty receives are left out: the mapping's long polling costs the same
 * whatever the traffic.
 */
export interface FunctionUsage {
  invocations: number;
  records: number;
  /** Real ms spent in the handler, summed over invocations. */
  handlerMs: number;
  receives: number;
  deletes: number;
}

const newUsage = (): FunctionUsage => ({
  invocations: 0,
  records: 0,
  handlerMs: 0,
  receives: 0,
  deletes: 0,
});

/** Options of {@link pollQueue}, mirroring an SQS event source mapping. */
export interface QueueSourceOptions {
  readonly name: string;
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly handler: Handler;
  /** @default 10 */
  readonly batchSize?: number;
  /** Seconds a received message stays invisible (the queue's visibility timeout). */
  readonly visibilityTimeoutSeconds: number;
  readonly timeoutMs: number;
  /** Real ms between empty polls. @default 20 */
  readonly intervalMs?: number;
  /** Most batches in flight at once (maximum concurrency). @default 1 */
  readonly concurrency?: number;
  /** While this returns true the source does not poll (workers "down"). */
  readonly paused?: () => boolean;
  /**
   * When given and false, a receive would come back empty, so the poll is skipped and
   * counts as an empty one. An in-process emulator can tell without a request; without
   * this, an idle local cloud spends a CPU core on empty polls.
   */
  readonly receivable?: () => boolean;
  readonly onError?: (error: unknown) => void;
}

function toRecord(
  message: {
    MessageId?: string;
    ReceiptHandle?: string;
    Body?: string;
    MD5OfBody?: string;
    Attributes?: Record<string, string>;
  },
  queueArn: string,
): SQSRecord {
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: message.Attributes?.ApproximateReceiveCount ?? '1',
      SentTimestamp: message.Attributes?.SentTimestamp ?? String(Date.now()),
      SenderId: message.Attributes?.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp:
        message.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: 'us-east-1',
  };
}

/**
 * Polls a queue like an SQS event source mapping: receives up to `batchSize` messages with
 * the visibility timeout, calls the handler with a real SQSEvent, deletes the messages it
 * did not report as failures, and leaves the rest to reappear (and to be redriven to the
 * DLQ by the queue's redrive policy after max receives). A handler that throws fails the
 * whole batch, as in Lambda.
 */
export function pollQueue(options: QueueSourceOptions): Poller {
  let running = true;
  let working = 0;
  let lastWorkEnded = 0;
  let lastEmptyPollStarted = -1;
  let lastEmpty = false;
  const usage = newUsage();
  const loops = Array.from({ length: options.concurrency ?? 1 }, async () => {
    while (running) {
      if (options.paused?.() || options.receivable?.() === false) {
        lastEmptyPollStarted = performance.now();
        await sleep(options.intervalMs ?? 20);
        continue;
      }
      try {
        await receiveAndHandle();
      } catch (error) {
        options.onError?.(error);
        await sleep(options.intervalMs ?? 20);
      }
      if (lastEmpty) await sleep(options.intervalMs ?? 20);
    }
  });

  async function receiveAndHandle(): Promise<void> {
    const pollStarted = performance.now();
    // Busy from the moment the receive is sent: the emulator may already have taken a
    // message in flight before the answer comes back.
    working += 1;
    try {
      const { Messages } = await options.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: options.queueUrl,
          MaxNumberOfMessages: options.batchSize ?? 10,
          VisibilityTimeout: options.visibilityTimeoutSeconds,
          WaitTimeSeconds: 0,
          MessageSystemAttributeNames: ['All'],
        }),
      );
      if (!Messages || Messages.length === 0) {
        lastEmpty = true;
        lastEmptyPollStarted = pollStarted;
        return;
      }
      lastEmpty = false;
      usage.receives += 1;
      try {
        await deliverBatch(options, Messages, usage);
      } finally {
        lastWorkEnded = performance.now();
      }
    } finally {
      working -= 1;
    }
  }

  return {
    name: options.name,
    usage,
    quietSince: (since) => working === 0 && lastWorkEnded <= since && lastEmptyPollStarted > since,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/**
 * Calls the handler with one batch and deletes the messages it did not report as failures;
 * a handler that throws or runs past its timeout fails the whole batch, as in Lambda.
 */
async function deliverBatch(
  options: QueueSourceOptions,
  Messages: Message[],
  usage: FunctionUsage,
): Promise<void> {
  const event: SQSEvent = { Records: Messages.map((m) => toRecord(m, options.queueArn)) };
  let failed = new Set<string>();
  const started = performance.now();
  usage.invocations += 1;
  usage.records += Messages.length;
  try {
    const response = await withFunctionTimeout(
      options.name,
      options.timeoutMs,
      options.handler(event as never, lambdaContext(options.name, options.timeoutMs)),
    );
    failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
  } catch (error) {
    options.onError?.(error);
    failed = new Set(event.Records.map((r) => r.messageId));
  } finally {
    usage.handlerMs += performance.now() - started;
  }
  const done = Messages.filter((m) => !failed.has(m.MessageId!));
  if (done.length > 0) {
    usage.deletes += 1;
    await options.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: options.queueUrl,
        Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }
}

/** Real ms between a stream poller's DescribeStream calls. */
const DESCRIBE_INTERVAL_MS = 1_000;

/** Options of {@link pollStream}, mirroring a DynamoDB stream event source mapping. */
export interface StreamSourceOptions {
  readonly name: string;
  readonly streams: DynamoDBStreamsClient;
  readonly streamArn: string;
  readonly handler: Handler;
  /** @default 100 */
  readonly batchSize?: number;
  /** The mapping's filter: only matching records reach the handler. */
  readonly filter: (record: StreamRecord) => boolean;
  /** Retries of a failing batch before it goes to the on-failure destination. @default 10 */
  readonly retryAttempts?: number;
  /** The on-failure destination (an SQS queue), as Lambda sends it. */
  readonly onFailure: { readonly sqs: SQSClient; readonly queueUrl: string };
  readonly timeoutMs: number;
  /** Real ms between empty polls. @default 20 */
  readonly intervalMs?: number;
  /** Fault injection: called before each batch; true fails the batch at its first record. */
  readonly failBatch?: () => boolean;
  readonly onError?: (error: unknown) => void;
}

/**
 * Polls a table's stream like a DynamoDB event source mapping: per shard, in order,
 * filtered, in batches; a batch that reports failures is retried from the first failed
 * sequence number, up to the retry cap, and then sent to the on-failure queue.
 */
export function pollStream(options: StreamSourceOptions): Poller {
  let running = true;
  let busy = false;
  let lastWorkEnded = 0;
  let lastEmptyPollStarted = -1;
  const shards = new ShardReader(options);
  const pending: StreamRecord[] = [];
  const usage = newUsage();
  let attempts = 0;

  const loop = (async () => {
    while (running) {
      try {
        if (pending.length === 0) {
          const pollStarted = performance.now();
          const fetched = await shards.read(pending);
          if (fetched === 0 && pending.length === 0) {
            lastEmptyPollStarted = pollStarted;
            await sleep(options.intervalMs ?? 20);
            continue;
          }
        }
        busy = true;
        const batch = pending.slice(0, options.batchSize ?? 100);
        if (batch.length === 0) continue;
        const started = performance.now();
        usage.invocations += 1;
        usage.records += batch.length;
        const failedAt = await runStreamBatch(options, batch);
        usage.handlerMs += performance.now() - started;
        if (failedAt >= batch.length) {
          pending.splice(0, batch.length);
          attempts = 0;
        } else {
          pending.splice(0, failedAt);
          attempts += 1;
          if (attempts > (options.retryAttempts ?? 10)) {
            await sendToOnFailure(options, pending.splice(0, batch.length - failedAt));
            attempts = 0;
          }
        }
      } catch (error) {
        options.onError?.(error);
        await sleep(options.intervalMs ?? 20);
      } finally {
        if (busy) lastWorkEnded = performance.now();
        busy = false;
      }
    }
  })();
  return {
    name: options.name,
    usage,
    quietSince: (since) =>
      !busy && pending.length === 0 && lastWorkEnded <= since && lastEmptyPollStarted > since,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/**
 * Calls the handler with one stream batch. Returns the index of the first failed record
 * (the batch's length when all succeeded): the record a failure report names, or 0 when the
 * handler throws, runs past its timeout, or a fault fails the batch.
 */
async function runStreamBatch(
  options: StreamSourceOptions,
  batch: StreamRecord[],
): Promise<number> {
  if (options.failBatch?.()) return 0;
  try {
    const response = await withFunctionTimeout(
      options.name,
      options.timeoutMs,
      options.handler({ Records: batch } as never, lambdaContext(options.name, options.timeoutMs)),
    );
    const failure = response?.batchItemFailures?.[0]?.itemIdentifier;
    if (failure === undefined) return batch.length;
    return Math.max(
      0,
      batch.findIndex((r) => r.dynamodb?.SequenceNumber === failure),
    );
  } catch (error) {
    options.onError?.(error);
    return 0;
  }
}

/** Sends records dropped after the retries to the on-failure queue, as Lambda does (the records themselves, here). */
async function sendToOnFailure(
  options: StreamSourceOptions,
  dropped: StreamRecord[],
): Promise<void> {
  await options.onFailure.sqs.send(
    new SendMessageCommand({
      QueueUrl: options.onFailure.queueUrl,
      MessageBody: JSON.stringify({
        requestContext: { condition: 'RetryAttemptsExhausted' },
        records: dropped,
      }),
    }),
  );
}

/** Reads a stream's shards from their start, like an event source mapping's shard iterators. */
class ShardReader {
  private readonly iterators = new Map<string, string | null>();
  private shards: string[] = [];
  private describedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: StreamSourceOptions) {}

  /** Appends the next records that pass the filter to `into`; returns how many were read before filtering. */
  async read(into: StreamRecord[]): Promise<number> {
    const { streams, streamArn } = this.options;
    // The shard list changes rarely (DynamoDB Local rolls shards over after hours): describe
    // the stream once a second rather than on every poll.
    if (performance.now() - this.describedAt > DESCRIBE_INTERVAL_MS) {
      const { StreamDescription } = await streams.send(
        new DescribeStreamCommand({ StreamArn: streamArn }),
      );
      this.shards = (StreamDescription?.Shards ?? []).map((shard) => shard.ShardId!);
      this.describedAt = performance.now();
    }
    let fetched = 0;
    for (const id of this.shards) {
      if (!this.iterators.has(id)) {
        const { ShardIterator } = await streams.send(
          new GetShardIteratorCommand({
            StreamArn: streamArn,
            ShardId: id,
            ShardIteratorType: 'TRIM_HORIZON',
          }),
        );
        this.iterators.set(id, ShardIterator ?? null);
      }
      const iterator = this.iterators.get(id);
      if (!iterator) continue;
      const page = await streams.send(
        new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }),
      );
      this.iterators.set(id, page.NextShardIterator ?? null);
      const records = asLambdaRecords((page.Records ?? []) as StreamRecord[]);
      fetched += records.length;
      into.push(...records.filter(this.options.filter));
    }
    return fetched;
  }
}
