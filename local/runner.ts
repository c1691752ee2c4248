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
  /**
   * True when, since real time `since` (performance.now), the poller has run no handler
   * and has completed a poll that started after `since` and found nothing: so nothing that
   * was waiting at `since` is still waiting.
   */
  quietSince(since: number): boolean;
  stop(): Promise<void>;
}

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
      try {
        await handle(Messages);
      } finally {
        lastWorkEnded = performance.now();
      }
    } finally {
      working -= 1;
    }
  }

  async function handle(Messages: Message[]): Promise<void> {
    const event: SQSEvent = { Records: Messages.map((m) => toRecord(m, options.queueArn)) };
    let failed = new Set<string>();
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
    }
    const done = Messages.filter((m) => !failed.has(m.MessageId!));
    if (done.length > 0) {
      await options.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: options.queueUrl,
          Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
    }
  }
  return {
    name: options.name,
    quietSince: (since) => working === 0 && lastWorkEnded <= since && lastEmptyPollStarted > since,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
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
  const iterators = new Map<string, string | null>();
  let shards: string[] = [];
  let describedAt = Number.NEGATIVE_INFINITY;
  const pending: StreamRecord[] = [];
  let attempts = 0;

  async function fetch(): Promise<number> {
    // The shard list changes rarely (DynamoDB Local rolls shards over after hours): describe
    // the stream once a second rather than on every poll.
    if (performance.now() - describedAt > DESCRIBE_INTERVAL_MS) {
      const { StreamDescription } = await options.streams.send(
        new DescribeStreamCommand({ StreamArn: options.streamArn }),
      );
      shards = (StreamDescription?.Shards ?? []).map((shard) => shard.ShardId!);
      describedAt = performance.now();
    }
    let fetched = 0;
    for (const id of shards) {
      if (!iterators.has(id)) {
        const { ShardIterator } = await options.streams.send(
          new GetShardIteratorCommand({
            StreamArn: options.streamArn,
            ShardId: id,
            ShardIteratorType: 'TRIM_HORIZON',
          }),
        );
        iterators.set(id, ShardIterator ?? null);
      }
      const iterator = iterators.get(id);
      if (!iterator) continue;
      const page = await options.streams.send(
        new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }),
      );
      iterators.set(id, page.NextShardIterator ?? null);
      const records = asLambdaRecords((page.Records ?? []) as StreamRecord[]);
      fetched += records.length;
      pending.push(...records.filter(options.filter));
    }
    return fetched;
  }

  const loop = (async () => {
    while (running) {
      try {
        if (pending.length === 0) {
          const pollStarted = performance.now();
          const fetched = await fetch();
          if (fetched === 0 && pending.length === 0) {
            lastEmptyPollStarted = pollStarted;
            await sleep(options.intervalMs ?? 20);
            continue;
          }
        }
        busy = true;
        const batch = pending.slice(0, options.batchSize ?? 100);
        if (batch.length === 0) continue;
        let failedAt = batch.length;
        if (options.failBatch?.()) {
          failedAt = 0;
        } else {
          try {
            const response = await withFunctionTimeout(
              options.name,
              options.timeoutMs,
              options.handler(
                { Records: batch } as never,
                lambdaContext(options.name, options.timeoutMs),
              ),
            );
            const failure = response?.batchItemFailures?.[0]?.itemIdentifier;
            if (failure !== undefined)
              failedAt = Math.max(
                0,
                batch.findIndex((r) => r.dynamodb?.SequenceNumber === failure),
              );
          } catch (error) {
            options.onError?.(error);
            failedAt = 0;
          }
        }
        if (failedAt >= batch.length) {
          pending.splice(0, batch.length);
          attempts = 0;
        } else {
          pending.splice(0, failedAt);
          attempts += 1;
          if (attempts > (options.retryAttempts ?? 10)) {
            const dropped = pending.splice(0, batch.length - failedAt);
            await options.onFailure.sqs.send(
              new SendMessageCommand({
                QueueUrl: options.onFailure.queueUrl,
                MessageBody: JSON.stringify({
                  requestContext: { condition: 'RetryAttemptsExhausted' },
                  records: dropped,
                }),
              }),
            );
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
    quietSince: (since) =>
      !busy && pending.length === 0 && lastWorkEnded <= since && lastEmptyPollStarted > since,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}
