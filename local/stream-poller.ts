import {
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { StreamRecord } from '../shared/aws/messages';
import {
  type Handler,
  lambdaContext,
  newUsage,
  type Poller,
  sleep,
  withFunctionTimeout,
} from './runner';
import { asLambdaRecords } from './stream-records';

/**
 * The local DynamoDB stream event source mapping: reads the table's stream like Lambda's
 * pollers, in batches, with the mapping's filter, window, retries and on-failure queue.
 */

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
  /**
   * Real ms the mapping gathers records before it invokes with fewer than `batchSize` (the
   * mapping's `MaximumBatchingWindowInSeconds`, scaled to the local clock). @default 0
   */
  readonly batchingWindowMs?: number;
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
          // A new batch: gather for the window ("Lambda reads records from the stream and
          // invokes your function ... when the batching window reaches its maximum value,
          // the batch size is met, or the payload reaches 6 MB", AWS Lambda, "Polling and
          // batching streams"). A retried batch goes at once.
          const windowMs = options.batchingWindowMs ?? 0;
          const gathering = performance.now();
          while (
            running &&
            pending.length < (options.batchSize ?? 100) &&
            performance.now() - gathering < windowMs
          ) {
            await sleep(Math.min(options.intervalMs ?? 20, windowMs));
            await shards.read(pending);
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
